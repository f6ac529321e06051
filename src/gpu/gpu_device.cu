// CUDA device discovery and a known-answer self test.
#include <cuda_runtime.h>
#include <stdio.h>

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
  float *x = nullptr, *y = nullptr;
  static float hx[1 << 16], hy[1 << 16];
  int rc = -1;
  for (int i = 0; i < n; i++) { hx[i] = (float)i; hy[i] = 1.0f; }
  if (cudaSetDevice(dev) != cudaSuccess) return -1;
  if (cudaMalloc(&x, n * sizeof(float)) != cudaSuccess) goto done;
  if (cudaMalloc(&y, n * sizeof(float)) != cudaSuccess) goto done;
  if (cudaMemcpy(x, hx, n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess) goto done;
  if (cudaMemcpy(y, hy, n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess) goto done;
  axpy<<<(n + 255) / 256, 256>>>(n, 2.0f, x, y);
  if (cudaMemcpy(hy, y, n * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) goto done;
  rc = 0;
  for (int i = 0; i < n; i++)
    if (hy[i] != 2.0f * (float)i + 1.0f) { rc = -2; break; }
done:
  cudaFree(x);
  cudaFree(y);
  return rc;
}
