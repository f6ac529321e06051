/* CPU-only build: no devices. */
#include "gpu/gpu_device.h"

int sf_gpu_device_count(void) { return 0; }
int sf_gpu_built(void) { return 0; }
int sf_gpu_selftest(int dev) { (void)dev; return -1; }
int sf_gpu_device_name(int dev, char *buf, size_t n) {
  (void)dev;
  if (buf && n) buf[0] = '\0';
  return -1;
}
int sf_gpu_set_device(int dev) { (void)dev; return -1; }
