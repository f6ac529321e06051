/* The flow path's per-element bodies (kernels/flow_hd.h), which the CUDA kernels run one
 * thread per pixel, run here on the host over the same grids as the CPU kernels (issue 16
 * point 3): the 5x5 median equal to sf_median5 (exact), the dense warp equal to sf_warp_flow
 * within float rounding (the CPU kernels are built with FMA contraction, this test without),
 * with the same valid mask and fill. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/flow_hd.h"
#include "kernels/flow_median.h"
#include "kernels/flow_warp.h"
#include "sf_cunit.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) * 0x1p-53;
}

static void check_median(size_t h, size_t w, size_t pad, int ties) {
  size_t is = w + pad, os = w + 2 * pad;
  float *in = malloc(h * is * sizeof(float)), *out = malloc(h * os * sizeof(float));
  float *scratch = malloc(sf_median5_scratch(h, w) * sizeof(float));
  CU_ASSERT_FATAL(in && out && scratch);
  for (size_t i = 0; i < h * is; i++) in[i] = ties ? (float)(int)(5.0 * urand()) - 2.0f : (float)(urand() * 10.0 - 5.0);
  sf_median5(in, is, h, w, out, os, scratch);
  size_t bad = 0;
  for (long y = 0; y < (long)h; y++)
    for (long x = 0; x < (long)w; x++)
      if (sf_hd_median5_px(in, is, (long)h, (long)w, y, x) != out[(size_t)y * os + (size_t)x]) bad++;
  if (bad) fprintf(stderr, "median %zux%zu (pad %zu, ties %d): %zu values differ\n", h, w, pad, ties, bad);
  CU_ASSERT_EQUAL(bad, 0);
  free(in);
  free(out);
  free(scratch);
}

static void test_median_grid(void) {
  const size_t sizes[][2] = {{3, 3}, {3, 7}, {5, 4}, {17, 23}, {64, 61}, {9, 130}};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int ties = 0; ties <= 1; ties++) {
      check_median(sizes[s][0], sizes[s][1], 0, ties);
      check_median(sizes[s][0], sizes[s][1], 5, ties);
    }
}

static void check_warp(size_t h, size_t w, size_t c, sf_interp interp, float amp, int nan) {
  size_t n = h * w * c;
  float *img = malloc(n * sizeof(float)), *fill = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
  float *u = malloc(h * w * sizeof(float)), *v = malloc(h * w * sizeof(float));
  unsigned char *valid = malloc(h * w);
  CU_ASSERT_FATAL(img && fill && out && u && v && valid);
  for (size_t i = 0; i < n; i++) {
    img[i] = (float)(100.0 * urand());
    fill[i] = -1.0f - (float)i;
  }
  for (size_t i = 0; i < h * w; i++) { /* smooth-ish flow plus jitter, some far out of bounds */
    u[i] = amp * (float)(sin(0.1 * (double)i) + 0.3 * (urand() - 0.5));
    v[i] = amp * (float)(cos(0.07 * (double)i) + 0.3 * (urand() - 0.5));
  }
  if (nan) u[h * w / 2] = NAN;
  const float sx = 1.0f, sy = 1.0f;
  sf_warp_flow(img, fill, h, w, c, u, v, w, sx, sy, interp, out, valid);
  int cubic = interp != SF_INTERP_LINEAR, quant = interp == SF_INTERP_CUBIC_Q32;
  size_t bad = 0;
  double worst = 0.0;
  for (long y = 0; y < (long)h; y++)
    for (long x = 0; x < (long)w; x++)
      for (long k = 0; k < (long)c; k++) {
        size_t p = (size_t)y * w + (size_t)x, i = p * c + (size_t)k;
        int inb = -1;
        float g = sf_hd_warp_flow_px(img, fill, (long)h, (long)w, (long)c, k, y, x, u[p], v[p], sx, sy, cubic,
                                     quant, &inb);
        double e = fabs((double)g - (double)out[i]) / 100.0; /* the data's scale */
        if (e > worst) worst = e;
        if (inb != valid[p] || (inb ? e > 2e-6 : g != out[i])) bad++;
      }
  if (bad)
    fprintf(stderr, "warp %zux%zux%zu interp %d amp %g: %zu values off, worst %.3g\n", h, w, c, (int)interp,
            (double)amp, bad, worst);
  CU_ASSERT_EQUAL(bad, 0);
  free(img);
  free(fill);
  free(out);
  free(u);
  free(v);
  free(valid);
}

static void test_warp_grid(void) {
  const sf_interp modes[] = {SF_INTERP_LINEAR, SF_INTERP_CUBIC, SF_INTERP_CUBIC_Q32};
  for (int m = 0; m < 3; m++)
    for (size_t c = 1; c <= 2; c++) {
      check_warp(37, 150, c, modes[m], 2.5f, 0); /* rows longer than the CPU's runs of 64 */
      check_warp(20, 23, c, modes[m], 30.0f, 1); /* many out of bounds, a NaN */
    }
}

static void test_mirror(void) {
  CU_ASSERT_EQUAL(sf_hd_mirror(-1, 5), 1);
  CU_ASSERT_EQUAL(sf_hd_mirror(-2, 5), 2);
  CU_ASSERT_EQUAL(sf_hd_mirror(5, 5), 3);
  CU_ASSERT_EQUAL(sf_hd_mirror(6, 5), 2);
  CU_ASSERT_EQUAL(sf_hd_mirror(4, 5), 4);
}

int main(void) {
  static const sf_test tests[] = {{"mirror index", test_mirror},
                                  {"5x5 median body over the grid = sf_median5 (exact)", test_median_grid},
                                  {"dense warp body over the grid = sf_warp_flow", test_warp_grid},
                                  {NULL, NULL}};
  return sf_cunit_run("flow per-element bodies (host)", tests);
}
