/* SF_CUDA: checks a CUDA runtime call (STYLE.md "Errors"). For .cu files (C++); the rank
 * prefix of the message comes from sf_error. */
#ifndef SF_CUDA_CHECK_H
#define SF_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <string.h>

extern "C" {
#include "sf_error.h"
}

/* Reports a failed CUDA call as "<call> failed at <file>:<line>: <cudaGetErrorString>", the
 * call's name without its arguments as SF_MPI does, and clears CUDA's last error so that a
 * non-sticky error does not show up again at the next check. Returns code. Local. */
static inline int sf_cuda_report(int code, cudaError_t rc, const char *call, const char *file,
                                 int line, const char *func) {
  (void)cudaGetLastError();
  size_t n = strcspn(call, "(");
  const char *base = strrchr(file, '/');
  return sf_error_report(code, file, line, func, "%.*s failed at %s:%d: %s", (int)n, call,
                         base ? base + 1 : file, line, cudaGetErrorString(rc));
}

/* Calls a CUDA runtime function; on a cudaError_t other than cudaSuccess, reports it with
 * CUDA's own message and jumps to cleanup with SF_ERR_IO. Requires `int status` and
 * `cleanup:`. Local. */
#define SF_CUDA(call) SF_CUDA_AS(SF_ERR_IO, call)

/* SF_CUDA with another code, e.g. SF_ERR_NOMEM for cudaMalloc. */
#define SF_CUDA_AS(code, call)                                                                     \
  do {                                                                                             \
    cudaError_t sf_cuda_rc_ = (call);                                                              \
    if (sf_cuda_rc_ != cudaSuccess) {                                                              \
      status = sf_cuda_report((code), sf_cuda_rc_, #call, __FILE__, __LINE__, __func__);           \
      goto cleanup;                                                                                \
    }                                                                                              \
  } while (0)

#endif
