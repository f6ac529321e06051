// CUDA device discovery and a known-answer self test.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu/cuda_check.h"
#include "gpu/gpu_device.h"

extern "C" int sf_gpu_device_count(void) {
  int n = 0;
  // Any error (no driver, insufficient driver, no device) means "no device".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

extern "C" int sf_gpu_built(void) { return 1; }

extern "C" int sf_gpu_device_name(int dev, char *buf, size_t n) {
  cudaDeviceProp p;
  if (buf && n) buf[0] = '\0';
  if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  if (buf && n) snprintf(buf, n, "%s", p.name);
  return 0;
}

extern "C" int sf_gpu_set_device(int dev) {
  if (cudaSetDevice(dev) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return 0;
}

__global__ static void axpy(int n, float a, const float *x, float *y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

extern "C" int sf_gpu_selftest(int dev) {
  const int n = 1 << 16;
  const size_t bytes = n * sizeof(float);
  int status = 0;
  float *x = nullptr, *y = nullptr, *hx = nullptr, *hy = nullptr;
  hx = (float *)malloc(bytes); /* SF_ALLOC is C: calloc's void * needs a cast here */
  hy = (float *)malloc(bytes);
  SF_CHECK(hx && hy, SF_ERR_NOMEM, "out of memory for the GPU self test");
  for (int i = 0; i < n; i++) {
    hx[i] = (float)i;
    hy[i] = 1.0f;
  }
  SF_CUDA(cudaSetDevice(dev));
  SF_CUDA_AS(SF_ERR_NOMEM, cudaMalloc(&x, bytes));
  SF_CUDA_AS(SF_ERR_NOMEM, cudaMalloc(&y, bytes));
  SF_CUDA(cudaMemcpy(x, hx, bytes, cudaMemcpyHostToDevice));
  SF_CUDA(cudaMemcpy(y, hy, bytes, cudaMemcpyHostToDevice));
  axpy<<<(n + 255) / 256, 256>>>(n, 2.0f, x, y);
  SF_CUDA(cudaGetLastError()); /* the launch itself; errors while it runs come with the copy */
  SF_CUDA(cudaMemcpy(hy, y, bytes, cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; i++)
    if (hy[i] != 2.0f * (float)i + 1.0f) {
      sf_error_report(-2, __FILE__, __LINE__, __func__,
                      "GPU %d: self test: element %d is %g, expected %g", dev, i, (double)hy[i],
                      2.0 * i + 1.0);
      status = -2; /* a wrong answer, as the header promises */
      break;
    }
cleanup:
  if (x) cudaFree(x);
  if (y) cudaFree(y);
  free(hx);
  free(hy);
  return status;
}
