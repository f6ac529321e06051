/* GPU discovery. Built from CUDA sources when nvcc is found, from gpu_none.c otherwise. */
#ifndef SF_GPU_DEVICE_H
#define SF_GPU_DEVICE_H

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

#ifdef __cplusplus
}
#endif

#endif
