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

/* No CUDA: the rigid device pipeline (gpu_rigid.h) is never reached; a call is a bug. */
#include "gpu/gpu_rigid.h"
#include "sf_error.h"

int sf_gpu_rigid_create(size_t h, size_t w, size_t ch, size_t max_batch, int up, float sigma,
                        const float *wch, int linear, sf_gpu_rigid **out) {
  (void)h, (void)w, (void)ch, (void)max_batch, (void)up, (void)sigma, (void)wch, (void)linear;
  *out = NULL;
  return sf_error_report(SF_ERR_INTERNAL, __FILE__, __LINE__, __func__, "this build has no CUDA");
}
int sf_gpu_rigid_set_reference(sf_gpu_rigid *g, const float *ref) {
  (void)g, (void)ref;
  return SF_ERR_INTERNAL;
}
int sf_gpu_rigid_execute(sf_gpu_rigid *g, const float *in, size_t count, const float **out,
                         const float **shifts) {
  (void)g, (void)in, (void)count, (void)out, (void)shifts;
  return SF_ERR_INTERNAL;
}
void sf_gpu_rigid_destroy(sf_gpu_rigid **g) {
  if (g) *g = NULL;
}

/* No CUDA: the flow device pipeline (gpu_flow.h) is never reached either. */
#include "gpu/gpu_flow.h"

int sf_gpu_flow_create(const sf_gpu_flow_config *cfg, sf_gpu_flow **out) {
  (void)cfg;
  *out = NULL;
  return sf_error_report(SF_ERR_INTERNAL, __FILE__, __LINE__, __func__, "this build has no CUDA");
}
int sf_gpu_flow_execute(sf_gpu_flow *g, const sf_gpu_flow_batch *b, sf_gpu_flow_out *out) {
  (void)g, (void)b, (void)out;
  return SF_ERR_INTERNAL;
}
void sf_gpu_flow_destroy(sf_gpu_flow **g) {
  if (g) *g = NULL;
}
