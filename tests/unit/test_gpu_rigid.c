/* The rigid device pipeline (gpu/gpu_rigid.h) against the CPU kernels, batch by batch: shifts
 * within 0.01 px and warped frames within 1e-3 of the frame's range (issue 16 point 2), for
 * 1 and 3 channels, cubic and linear, batches of 1 and of 7 frames (the second plan size) and
 * a frame without contrast. Exits 77 (skipped) where no CUDA device is usable. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_device.h"
#include "gpu/gpu_rigid.h"
#include "kernels/warp_shift.h"
#include "kernels/xcorr_rigid.h"
#include "kernels/xcorr_rigid_hd.h"
#include "sf_cunit.h"

/* A textured (h, w, ch) image moved by (dx, dy): Gaussian blobs, channel c scaled by c + 1. */
static void blobs(float *img, size_t h, size_t w, size_t ch, double dx, double dy) {
  static const double b[][4] = {{0.2, 0.3, 3, 200},  {0.7, 0.2, 5, 150}, {0.5, 0.5, 2, 250},
                                {0.3, 0.8, 4, 120},  {0.8, 0.7, 3, 180}, {0.1, 0.6, 6, 90},
                                {0.6, 0.9, 2.5, 220}, {0.45, 0.15, 3.5, 170}};
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) {
      double v = 10.0;
      for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
        double ex = (double)x - dx - b[k][0] * (double)w, ey = (double)y - dy - b[k][1] * (double)h;
        v += b[k][3] * exp(-(ex * ex + ey * ey) / (2.0 * b[k][2] * b[k][2]));
      }
      for (size_t c = 0; c < ch; c++) img[(y * w + x) * ch + c] = (float)(v * (double)(c + 1));
    }
}

static void check(size_t h, size_t w, size_t ch, size_t count, int linear) {
  size_t ue = h * w * ch, hw = h * w;
  float wch[3] = {0.5f, 0.3f, 0.2f};
  if (ch == 1) wch[0] = 1.0f;
  float *ref = malloc(ue * sizeof(float)), *in = malloc(count * ue * sizeof(float));
  float *gray = malloc(hw * sizeof(float)), *tmp = malloc(ue * sizeof(float)), *cpu = malloc(ue * sizeof(float));
  CU_ASSERT_FATAL(ref && in && gray && tmp && cpu);
  blobs(ref, h, w, ch, 0, 0);
  for (size_t k = 0; k < count; k++) {
    if (k == 3)
      for (size_t i = 0; i < ue; i++) in[k * ue + i] = 5.0f; /* no contrast */
    else
      blobs(in + k * ue, h, w, ch, 0.37 * (double)k - 1.1, 4.2 - 0.91 * (double)k);
  }
  sf_xcorr_plan *p = NULL;
  sf_xcorr_ws *ws = NULL;
  sf_gpu_rigid *g = NULL;
  CU_ASSERT_FATAL(sf_xcorr_plan_create(h, w, 20, 1.5f, &p) == 0 && sf_xcorr_ws_create(p, &ws) == 0);
  for (size_t i = 0; i < hw; i++) gray[i] = sf_hd_combine(ref, i, ch, wch);
  sf_xcorr_set_reference(p, ws, gray);
  CU_ASSERT_FATAL(sf_gpu_rigid_create(h, w, ch, 8, 20, 1.5f, wch, linear, &g) == 0);
  CU_ASSERT_FATAL(sf_gpu_rigid_set_reference(g, ref) == 0);
  const float *out = NULL, *sh = NULL;
  CU_ASSERT_FATAL(sf_gpu_rigid_execute(g, in, count, &out, &sh) == 0);
  for (size_t k = 0; k < count; k++) {
    float s[2];
    for (size_t i = 0; i < hw; i++) gray[i] = sf_hd_combine(in + k * ue, i, ch, wch);
    sf_xcorr_execute(p, ws, gray, s);
    sf_warp_shift(in + k * ue, ref, h, w, ch, s[0], s[1], linear ? SF_INTERP_LINEAR : SF_INTERP_CUBIC, tmp, cpu);
    double es = fmax(fabs((double)s[0] - sh[2 * k]), fabs((double)s[1] - sh[2 * k + 1])), range = 0, ef = 0;
    for (size_t i = 0; i < ue; i++) {
      range = fmax(range, fabs((double)cpu[i]));
      ef = fmax(ef, fabs((double)cpu[i] - out[k * ue + i]));
    }
    printf("  %zux%zux%zu %s frame %zu: cpu (%.4f, %.4f) gpu (%.4f, %.4f); frame max diff %.3g of %.3g\n", h, w, ch,
           linear ? "linear" : "cubic", k, (double)s[0], (double)s[1], (double)sh[2 * k], (double)sh[2 * k + 1], ef,
           range);
    CU_ASSERT(es <= 0.01);
    CU_ASSERT(ef <= 1e-3 * range);
  }
  sf_gpu_rigid_destroy(&g);
  CU_ASSERT(g == NULL);
  sf_xcorr_ws_destroy(&ws);
  sf_xcorr_plan_destroy(&p);
  free(ref);
  free(in);
  free(gray);
  free(tmp);
  free(cpu);
}

static void test_batches(void) {
  check(96, 112, 1, 7, 0);
  check(96, 112, 1, 8, 1);
  check(64, 81, 3, 7, 0);
  check(64, 81, 3, 1, 1);
}

int main(void) {
  if (!sf_gpu_built() || sf_gpu_device_count() <= 0) {
    printf("no CUDA device (built with CUDA: %s): skipped\n", sf_gpu_built() ? "yes" : "no");
    return 77;
  }
  if (sf_gpu_set_device(0) != 0) return 1;
  static const sf_test tests[] = {{"device rigid pipeline = CPU kernels (0.01 px, 1e-3)", test_batches},
                                  {NULL, NULL}};
  return sf_cunit_run("gpu rigid", tests);
}
