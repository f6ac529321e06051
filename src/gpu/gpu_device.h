/* GPU discovery. Built from CUDA sources when nvcc is found, from gpu_none.c otherwise. */
#ifndef SF_GPU_DEVICE_H
#define SF_GPU_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 when there is no device, no driver, or no CUDA build. */
int sf_gpu_device_count(void);

/* Whether this binary was built with CUDA. */
int sf_gpu_built(void);

/* Runs a small known-answer check on device `dev` (a saxpy-like kernel); 0 on success,
 * negative on failure. Only meaningful when sf_gpu_device_count() > 0. */
int sf_gpu_selftest(int dev);

/* Writes device dev's name (cudaGetDeviceProperties) into buf (n bytes, always terminated
 * when n > 0); 0 on success, -1 without that device or without a CUDA build. Local. */
int sf_gpu_device_name(int dev, char *buf, size_t n);

/* Makes device dev current for the calling host thread (cudaSetDevice); 0 on success, -1
 * on failure or without a CUDA build. Local. */
int sf_gpu_set_device(int dev);

#ifdef __cplusplus
}
#endif

#endif
