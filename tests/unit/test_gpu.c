/* GPU known-answer self test; exits 77 (skipped) where no CUDA device is usable. */
#include <stdio.h>

#include "gpu/gpu_device.h"

int main(void) {
  int n = sf_gpu_device_count();
  if (!sf_gpu_built() || n <= 0) {
    printf("no CUDA device (built with CUDA: %s): skipped\n", sf_gpu_built() ? "yes" : "no");
    return 77;
  }
  for (int d = 0; d < n; d++) {
    int rc = sf_gpu_selftest(d);
    printf("device %d: self test %s\n", d, rc == 0 ? "passed" : "FAILED");
    if (rc) return 1;
  }
  return 0;
}
