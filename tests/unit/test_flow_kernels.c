/* CUnit tests of the flow pyramid's pure kernels (resampler, schedule, preprocessing,
 * median, warp, statistics) against known answers and independent double-precision
 * computations written from the definitions in spec register.md §1-§3.
 * SF_TEST_VERBOSE=1 prints the largest error of each comparison. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/flow_median.h"
#include "kernels/flow_preproc.h"
#include "kernels/flow_pyramid.h"
#include "kernels/flow_resample.h"
#include "kernels/flow_warp.h"
#include "sf_error.h"
#include "sf_cunit.h"

/* Deterministic uniform in [0,1). */
static double urand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

static void report(const char *what, double err, double tol) {
  if (getenv("SF_TEST_VERBOSE")) printf("\n    %-48s max err %.3g (tol %.3g)", what, err, tol);
}

static float *frand(size_t n, uint64_t seed, double lo, double hi) {
  float *p = malloc(sizeof(float) * (n ? n : 1));
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++)
    p[i] = (float)(lo + (hi - lo) * urand(&s));
  return p;
}

/* ---- independent references ---------------------------------------------------------- */

static double keys_d(double t) {
  const double a = -0.75;
  t = fabs(t);
  if (t < 1) return (a + 2) * t * t * t - (a + 3) * t * t + 1;
  if (t < 2) return a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a;
  return 0;
}

/* Edge-duplicating reflection by walking: -1 -> 0, n -> n-1, repeated. */
static long refl_walk(long j, long n) {
  if (n == 1) return 0;
  while (j < 0 || j >= n)
    j = j < 0 ? -j - 1 : 2 * n - 1 - j;
  return j;
}

/* Fused weights of §1.3 item 14 for one output coordinate: taps j0 .. j0+P-1. */
static int fused_weights(double x, double sigma, long *j0, double *wt) {
  int R = sigma > 0 ? (int)ceil(2 * sigma) : 0, P = 2 * R + 4;
  double g[4096], gs = 0, ws = 0;
  for (int k = -R; k <= R; k++)
    gs += (g[k + R] = sigma > 0 ? exp(-k * k / (2 * sigma * sigma)) : 1);
  *j0 = (long)floor(x - 2) - R;
  for (int p = 0; p < P; p++) {
    double acc = 0;
    for (int k = -R; k <= R; k++)
      acc += g[k + R] / gs * keys_d(x - (double)(*j0 + p) - k);
    ws += (wt[p] = acc);
  }
  for (int p = 0; p < P; p++)
    wt[p] /= ws;
  return P;
}

/* R(in) in double, as a 2-D sum over both tap windows (no separation, no tables). */
static void resample_ref(const float *in, size_t ih, size_t iw, size_t oh, size_t ow, double *out) {
  double sy = (double)oh / ih, sx = (double)ow / iw, s = sy < sx ? sy : sx;
  double sigma = s < 1 ? 0.6 / s : 0;
  double *wy = malloc(sizeof(double) * 4096), *wx = malloc(sizeof(double) * 4096);
  for (size_t i = 0; i < oh; i++) {
    long y0, x0;
    int py = fused_weights((i + 0.5) / sy - 0.5, sigma, &y0, wy);
    for (size_t j = 0; j < ow; j++) {
      int px = fused_weights((j + 0.5) / sx - 0.5, sigma, &x0, wx);
      double acc = 0;
      for (int a = 0; a < py; a++)
        for (int b = 0; b < px; b++)
          acc += wy[a] * wx[b] *
                 in[refl_walk(y0 + a, (long)ih) * iw + (size_t)refl_walk(x0 + b, (long)iw)];
      out[i * ow + j] = acc;
    }
  }
  free(wy);
  free(wx);
}

/* Runs R with strided input and output (padding of 3 and 5 floats per row). */
static float *resample_run(const float *in, size_t ih, size_t iw, size_t oh, size_t ow) {
  sf_resample *r = NULL;
  CU_ASSERT_FATAL(sf_resample_create(ih, iw, oh, ow, &r) == 0);
  size_t is = iw + 3, os = ow + 5;
  float *pin = malloc(sizeof(float) * ih * is), *pout = malloc(sizeof(float) * oh * os);
  float *scr = malloc(sizeof(float) * sf_resample_scratch(r));
  for (size_t y = 0; y < ih; y++)
    memcpy(pin + y * is, in + y * iw, sizeof(float) * iw);
  sf_resample_execute(r, pin, is, pout, os, scr);
  float *out = malloc(sizeof(float) * oh * ow);
  for (size_t y = 0; y < oh; y++)
    memcpy(out + y * ow, pout + y * os, sizeof(float) * ow);
  free(pin);
  free(pout);
  free(scr);
  sf_resample_destroy(&r);
  CU_ASSERT(r == NULL);
  return out;
}

/* ---- resampling ------------------------------------------------------------------------ */

/* A constant image stays constant (weights renormalised to 1): rel. error <= 4e-6. */
static void test_resample_constant(void) {
  const size_t shapes[][4] = {{512, 512, 210, 210}, {512, 512, 9, 9}, {37, 23, 50, 61},
                              {100, 40, 30, 70},    {12, 10, 2, 2},   {1, 1, 3, 4}};
  double worst = 0;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    size_t ih = shapes[k][0], iw = shapes[k][1], oh = shapes[k][2], ow = shapes[k][3];
    float *in = malloc(sizeof(float) * ih * iw);
    for (size_t i = 0; i < ih * iw; i++)
      in[i] = 3.25f;
    float *out = resample_run(in, ih, iw, oh, ow);
    for (size_t i = 0; i < oh * ow; i++)
      worst = fmax(worst, fabs(out[i] - 3.25) / 3.25);
    free(in);
    free(out);
  }
  report("resample constant (relative)", worst, 4e-6);
  CU_ASSERT(worst <= 4e-6);
}

/* Same size: Keys at integer positions is the identity, bit for bit. */
static void test_resample_identity(void) {
  float *in = frand(37 * 41, 1, -5, 7);
  float *out = resample_run(in, 37, 41, 37, 41);
  CU_ASSERT(memcmp(in, out, sizeof(float) * 37 * 41) == 0);
  free(in);
  free(out);
}

/* Against the 2-D double evaluation of the definition: downsampling (taps wider than the
 * image included), upsampling, and one axis kept while the other shrinks (isotropic sigma).
 * Data in [0,1); tolerance 2e-6 absolute. */
static void test_resample_definition(void) {
  const size_t shapes[][4] = {{64, 48, 26, 19}, {20, 15, 33, 40}, {12, 10, 2, 2}, {40, 16, 20, 16},
                              {9, 9, 12, 12},   {512, 512, 9, 9}, {7, 200, 7, 37}};
  double worst = 0;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    size_t ih = shapes[k][0], iw = shapes[k][1], oh = shapes[k][2], ow = shapes[k][3];
    float *in = frand(ih * iw, 10 + k, 0, 1);
    float *out = resample_run(in, ih, iw, oh, ow);
    double *ref = malloc(sizeof(double) * oh * ow);
    resample_ref(in, ih, iw, oh, ow, ref);
    for (size_t i = 0; i < oh * ow; i++)
      worst = fmax(worst, fabs(out[i] - ref[i]));
    free(in);
    free(out);
    free(ref);
  }
  report("resample vs 2-D double definition", worst, 2e-6);
  CU_ASSERT(worst <= 2e-6);
}

/* Where the output lands on whole input pixels (s = 1/3, 1/5) the tap window is complete
 * and R is literally "Gaussian blur (reflect), then Keys sampling": compare with a blur
 * computed in double followed by 4-tap Keys sampling. Tolerance 2e-6 on [0,1) data. */
static void test_resample_blur_then_keys(void) {
  const size_t shapes[][4] = {{60, 45, 20, 15}, {50, 100, 10, 20}};
  double worst = 0;
  for (size_t k = 0; k < 2; k++) {
    size_t ih = shapes[k][0], iw = shapes[k][1], oh = shapes[k][2], ow = shapes[k][3];
    double s = (double)oh / ih, sigma = 0.6 / s;
    int R = (int)ceil(2 * sigma);
    float *in = frand(ih * iw, 30 + k, 0, 1);
    double *g = malloc(sizeof(double) * (2 * R + 1)), gs = 0;
    for (int t = -R; t <= R; t++)
      gs += (g[t + R] = exp(-t * t / (2 * sigma * sigma)));
    double *blur = calloc(ih * iw, sizeof(double));
    for (size_t y = 0; y < ih; y++)
      for (size_t x = 0; x < iw; x++)
        for (int a = -R; a <= R; a++)
          for (int b = -R; b <= R; b++)
            blur[y * iw + x] += g[a + R] * g[b + R] / (gs * gs) *
                                in[refl_walk((long)y - a, (long)ih) * iw +
                                   (size_t)refl_walk((long)x - b, (long)iw)];
    float *out = resample_run(in, ih, iw, oh, ow);
    for (size_t i = 0; i < oh; i++)
      for (size_t j = 0; j < ow; j++) {
        double ys = (i + 0.5) / s - 0.5, xs = (j + 0.5) / s - 0.5, acc = 0;
        long fy = (long)floor(ys), fx = (long)floor(xs);
        for (long a = fy - 1; a <= fy + 2; a++)
          for (long b = fx - 1; b <= fx + 2; b++)
            acc += keys_d(ys - a) * keys_d(xs - b) *
                   blur[refl_walk(a, (long)ih) * iw + (size_t)refl_walk(b, (long)iw)];
        worst = fmax(worst, fabs(out[i * ow + j] - acc));
      }
    free(in);
    free(g);
    free(blur);
    free(out);
  }
  report("resample vs blur-then-Keys (s = 1/3, 1/5)", worst, 2e-6);
  CU_ASSERT(worst <= 2e-6);
}

/* A linear ramp maps to the ramp at the mapped coordinates away from the border (s = 1/3:
 * centres on whole pixels, symmetric taps). Values up to ~400; tolerance 1e-4 absolute. */
static void test_resample_ramp(void) {
  const size_t ih = 90, iw = 60, oh = 30, ow = 20;
  float *in = malloc(sizeof(float) * ih * iw);
  for (size_t y = 0; y < ih; y++)
    for (size_t x = 0; x < iw; x++)
      in[y * iw + x] = (float)(2.5 * x - 1.5 * y + 200.0);
  float *out = resample_run(in, ih, iw, oh, ow);
  const int R = (int)ceil(2 * 1.8);
  double worst = 0;
  for (size_t i = 0; i < oh; i++)
    for (size_t j = 0; j < ow; j++) {
      double ys = 3.0 * i + 1, xs = 3.0 * j + 1;
      if (ys - R < 0 || ys + R > ih - 1 || xs - R < 0 || xs + R > iw - 1) continue;
      worst = fmax(worst, fabs(out[i * ow + j] - (2.5 * xs - 1.5 * ys + 200.0)));
    }
  report("resample ramp (s = 1/3)", worst, 1e-4);
  CU_ASSERT(worst <= 1e-4);
  free(in);
  free(out);
}

static void test_resample_bad(void) {
  sf_resample *r = (sf_resample *)&r;
  CU_ASSERT(sf_resample_create(0, 5, 5, 5, &r) == SF_ERR_USAGE);
  CU_ASSERT(r == NULL);
  CU_ASSERT(sf_resample_create(5, 5, 5, 0, &r) == SF_ERR_USAGE);
  sf_resample_destroy(&r);
  sf_resample_destroy(NULL);
}

/* ---- pyramid schedule ------------------------------------------------------------------ */

static void test_pyramid_examples(void) {
  sf_pyramid p = {0};
  CU_ASSERT_FATAL(sf_pyramid_schedule(512, 512, 0.8, 100, 0, &p) == 0);
  CU_ASSERT(p.ltop == 18 && p.ly == 18 && p.lx == 18 && p.n_levels == 19 && p.min_level == 0);
  CU_ASSERT(p.lv[18].h == 9 && p.lv[18].w == 9);
  CU_ASSERT(p.lv[17].h == 12 && p.lv[17].w == 12);
  CU_ASSERT(p.lv[16].h == 14);
  CU_ASSERT(p.lv[4].h == 210 && p.lv[4].w == 210);
  CU_ASSERT(p.lv[6].h == 134 && p.lv[6].w == 134);
  CU_ASSERT(p.lv[0].h == 512 && p.lv[0].w == 512);
  CU_ASSERT_DOUBLE_EQUAL(p.lv[4].hy, 512.0 / 210.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(p.lv[18].alpha_scale, pow(0.8, -9.0), 1e-12); /* 7.45 */
  CU_ASSERT_DOUBLE_EQUAL(p.lv[0].alpha_scale, 1.0, 0);
  sf_pyramid_free(&p);
  CU_ASSERT(p.lv == NULL);
  /* Balanced: scale 1 at level 4, but 0.8^-2.5 = 1.747 at level 5. */
  CU_ASSERT_FATAL(sf_pyramid_schedule(512, 512, 0.8, 100, 4, &p) == 0);
  CU_ASSERT(p.min_level == 4);
  CU_ASSERT_DOUBLE_EQUAL(p.lv[4].alpha_scale, 1.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(p.lv[5].alpha_scale, 1.7469, 1e-4);
  sf_pyramid_free(&p);
  CU_ASSERT_FATAL(sf_pyramid_schedule(256, 256, 0.8, 100, 0, &p) == 0);
  CU_ASSERT(p.ltop == 15);
  sf_pyramid_free(&p);
  CU_ASSERT_FATAL(sf_pyramid_schedule(512, 796, 0.8, 100, 0, &p) == 0);
  CU_ASSERT(p.ltop == 20 && p.ly == 18 && p.lx == 20);
  /* The short axis stops shrinking at its own depth. */
  CU_ASSERT(p.lv[20].h == 9 && p.lv[20].w == 9 && p.lv[19].h == 9 && p.lv[19].w == 11);
  CU_ASSERT_DOUBLE_EQUAL(p.lv[20].hy, 512.0 / 9.0, 1e-12);
  sf_pyramid_free(&p);
}

static void test_pyramid_edge_cases(void) {
  sf_pyramid p = {0};
  /* Cap 4*min(Lx, Ly): a 12-row strip has Ly = 2 (12*.8 = 9.6 -> 10, 7.68 -> 8). */
  CU_ASSERT_FATAL(sf_pyramid_schedule(12, 100000, 0.8, 100, 0, &p) == 0);
  CU_ASSERT(p.ly == 2 && p.lx == 8 && p.ltop == 8);
  CU_ASSERT(p.lv[5].h == 8 && p.lv[5].w == 32768);
  sf_pyramid_free(&p);
  /* min_level beyond the top: min_level = Ltop - 1. */
  CU_ASSERT_FATAL(sf_pyramid_schedule(12, 12, 0.8, 100, 6, &p) == 0);
  CU_ASSERT(p.ltop == 2 && p.min_level == 1 && p.lv[1].alpha_scale == 1.0);
  sf_pyramid_free(&p);
  /* Halves round to even, like Python: 13 * 0.5 = 6.5 -> 6, 5 * 0.5 = 2.5 -> 2. */
  CU_ASSERT_FATAL(sf_pyramid_schedule(13, 5, 0.5, 100, 0, &p) == 0);
  CU_ASSERT(p.lv[1].h == 6 && p.lv[1].w == 2);
  sf_pyramid_free(&p);
  /* levels limits the depth. */
  CU_ASSERT_FATAL(sf_pyramid_schedule(512, 512, 0.8, 3, 0, &p) == 0);
  CU_ASSERT(p.ltop == 3 && p.lv[3].h == 262);
  sf_pyramid_free(&p);
  CU_ASSERT(sf_pyramid_schedule(512, 512, 0.0, 100, 0, &p) == SF_ERR_USAGE);
  CU_ASSERT(sf_pyramid_schedule(512, 512, 1.5, 100, 0, &p) == SF_ERR_USAGE);
  CU_ASSERT(sf_pyramid_schedule(512, 512, 0.8, 0, 0, &p) == SF_ERR_USAGE);
  CU_ASSERT(sf_pyramid_schedule(0, 512, 0.8, 100, 0, &p) == SF_ERR_USAGE);
  CU_ASSERT(p.lv == NULL);
  sf_pyramid_free(&p);
}

/* ---- preprocessing --------------------------------------------------------------------- */

static void test_gauss_weights(void) {
  double k[2 * SF_GAUSS_MAX_RADIUS + 1];
  CU_ASSERT(sf_gauss_weights(1.0, k) == 4);
  double s = 0, z = 0;
  for (int i = -4; i <= 4; i++)
    z += exp(-0.5 * i * i);
  for (int i = 0; i < 9; i++)
    s += k[i];
  CU_ASSERT_DOUBLE_EQUAL(s, 1.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(k[4], 1.0 / z, 1e-16);
  CU_ASSERT_DOUBLE_EQUAL(k[0], exp(-8.0) / z, 1e-18);
  CU_ASSERT(sf_gauss_weights(0.1, k) == 0 && k[0] == 1.0); /* int(0.9) = 0 */
  CU_ASSERT(sf_gauss_weights(0.125, k) == 1);              /* int(1.0) = 1 */
  CU_ASSERT(sf_gauss_weights(0.0, k) == 0 && k[0] == 1.0);
  CU_ASSERT(sf_gauss_weights(-1.0, k) == 0);
  CU_ASSERT(sf_gauss_weights(50.0, k) == 200);
  CU_ASSERT(sf_gauss_weights(51.0, k) == -1);
  CU_ASSERT(sf_gauss_weights(NAN, k) == -1);
}

/* Direct 2-D double convolution with scipy's reflect boundary. */
static void smooth_ref(const float *in, size_t h, size_t w, double sy, double sx, double *out) {
  int ry = sy > 0 ? (int)(4 * sy + 0.5) : 0, rx = sx > 0 ? (int)(4 * sx + 0.5) : 0;
  double gy[401], gx[401], zy = 0, zx = 0;
  for (int i = -ry; i <= ry; i++)
    zy += (gy[i + ry] = ry ? exp(-i * i / (2 * sy * sy)) : 1);
  for (int i = -rx; i <= rx; i++)
    zx += (gx[i + rx] = rx ? exp(-i * i / (2 * sx * sx)) : 1);
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) {
      double acc = 0;
      for (int a = -ry; a <= ry; a++)
        for (int b = -rx; b <= rx; b++)
          acc += gy[a + ry] / zy * gx[b + rx] / zx *
                 in[refl_walk((long)y + a, (long)h) * w + (size_t)refl_walk((long)x + b, (long)w)];
      out[y * w + x] = acc;
    }
}

/* Tolerance 1e-6 absolute on data in [0,1); covers anisotropic sigmas, radius larger than
 * the image (repeated reflection), one axis unsmoothed, and in == out. */
static void test_smooth_matches_direct(void) {
  const struct {
    size_t h, w;
    double sy, sx;
  } cs[] = {{37, 41, 1, 1},   {20, 33, 2.0, 0.7}, {5, 3, 2, 2},  {16, 9, 0, 1.3},
            {11, 17, 1.6, 0}, {1, 12, 1, 1},      {64, 64, 3, 3}};
  double worst = 0;
  for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
    size_t h = cs[k].h, w = cs[k].w;
    sf_smooth *s = NULL;
    CU_ASSERT_FATAL(sf_smooth_create(h, w, cs[k].sy, cs[k].sx, &s) == 0);
    float *in = frand(h * w, 50 + k, 0, 1), *out = malloc(sizeof(float) * h * w);
    float *scr = malloc(sizeof(float) * sf_smooth_scratch(s));
    double *ref = malloc(sizeof(double) * h * w);
    smooth_ref(in, h, w, cs[k].sy, cs[k].sx, ref);
    sf_smooth_execute(s, in, out, scr);
    for (size_t i = 0; i < h * w; i++)
      worst = fmax(worst, fabs(out[i] - ref[i]));
    sf_smooth_execute(s, in, in, scr); /* in place: same bytes */
    CU_ASSERT(memcmp(in, out, sizeof(float) * h * w) == 0);
    sf_smooth_destroy(&s);
    CU_ASSERT(s == NULL);
    free(in);
    free(out);
    free(scr);
    free(ref);
  }
  report("smooth vs direct 2-D double", worst, 1e-6);
  CU_ASSERT(worst <= 1e-6);
}

static void test_smooth_identity_and_bad(void) {
  sf_smooth *s = NULL;
  CU_ASSERT_FATAL(sf_smooth_create(13, 7, 0.0, 0.1, &s) == 0);
  float *in = frand(13 * 7, 3, -1, 1), *out = malloc(sizeof(float) * 13 * 7);
  float *scr = malloc(sizeof(float) * sf_smooth_scratch(s));
  sf_smooth_execute(s, in, out, scr);
  CU_ASSERT(memcmp(in, out, sizeof(float) * 13 * 7) == 0);
  sf_smooth_destroy(&s);
  sf_smooth_destroy(&s);
  CU_ASSERT(sf_smooth_create(13, 7, 60.0, 1.0, &s) == SF_ERR_USAGE && s == NULL);
  CU_ASSERT(sf_smooth_create(0, 7, 1.0, 1.0, &s) == SF_ERR_USAGE && s == NULL);
  free(in);
  free(out);
  free(scr);
}

static void test_normalize_deinterleave(void) {
  const float in[] = {1, 10, 100, 2, 20, 200, 3, 30, 300, 4, 40, 400};
  const float lo[] = {1, 10, 0}, inv[] = {0.5f, 0.25f, 0.01f};
  float out[12];
  sf_normalize_deinterleave(in, 4, 3, lo, inv, out);
  const float want[] = {0, 0.5f, 1, 1.5f, 0, 2.5f, 5, 7.5f, 1, 2, 3, 4};
  for (int i = 0; i < 12; i++)
    CU_ASSERT_DOUBLE_EQUAL(out[i], want[i], 1e-6);
  sf_normalize_deinterleave(in, 12, 1, lo, inv, out);
  CU_ASSERT_DOUBLE_EQUAL(out[11], (400 - 1) * 0.5, 1e-4);
}

/* ---- median ---------------------------------------------------------------------------- */

static int cmpf(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static long mirror_ref(long i, long n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * n - 2 - i;
  return i;
}

/* Exact against qsort of the 25 mirror-indexed values; data with many ties (small integer
 * levels) and without; strided input and output; widths across the 64-pixel runs. */
static void test_median_exact(void) {
  const size_t shapes[][2] = {{3, 3}, {7, 9}, {37, 41}, {5, 150}, {4, 3}, {66, 64}, {3, 65}};
  uint64_t seed = 77;
  long bad = 0;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
    for (int ties = 0; ties < 2; ties++) {
      size_t h = shapes[k][0], w = shapes[k][1], is = w + 2, os = w + 7;
      float *in = malloc(sizeof(float) * h * is), *out = malloc(sizeof(float) * h * os);
      float *scr = malloc(sizeof(float) * sf_median5_scratch(h, w));
      for (size_t i = 0; i < h * is; i++)
        in[i] = ties ? (float)(int)(urand(&seed) * 5) - 2.0f : (float)(urand(&seed) * 2 - 1);
      sf_median5(in, is, h, w, out, os, scr);
      for (long y = 0; y < (long)h; y++)
        for (long x = 0; x < (long)w; x++) {
          float v[25];
          int n = 0;
          for (long a = -2; a <= 2; a++)
            for (long b = -2; b <= 2; b++)
              v[n++] = in[mirror_ref(y + a, (long)h) * is + (size_t)mirror_ref(x + b, (long)w)];
          qsort(v, 25, sizeof(float), cmpf);
          if (out[(size_t)y * os + (size_t)x] != v[12]) bad++;
        }
      free(in);
      free(out);
      free(scr);
    }
  CU_ASSERT_EQUAL(bad, 0);
}

/* Order statistics of 0/1 patterns: one 1 among 0s stays 0; 13 ones in a window give 1. */
static void test_median_patterns(void) {
  float in[9 * 9] = {0}, out[9 * 9];
  float *scr = malloc(sizeof(float) * sf_median5_scratch(9, 9));
  in[4 * 9 + 4] = 1;
  sf_median5(in, 9, 9, 9, out, 9, scr);
  for (int i = 0; i < 81; i++)
    CU_ASSERT(out[i] == 0.0f);
  for (int i = 0; i < 81; i++)
    in[i] = (float)(i % 9 >= 4); /* columns 4.. are 1 */
  sf_median5(in, 9, 9, 9, out, 9, scr);
  for (int y = 0; y < 9; y++)
    for (int x = 0; x < 9; x++)
      CU_ASSERT(out[y * 9 + x] == (float)(x >= 4));
  free(scr);
}

/* 0-1 principle: a comparator network gives the median for all inputs iff it does for all
 * 0/1 inputs. After the column sort only the count of ones per column matters, so 5x5 tiles
 * realising all 6^5 count combinations (shuffled within each column) cover every 0/1 window:
 * the median at each tile centre must be 1 exactly when the tile holds >= 13 ones. */
static void test_median_zero_one_exhaustive(void) {
  const size_t tiles_y = 96, tiles_x = 81, h = 5 * tiles_y, w = 5 * tiles_x; /* 7776 tiles */
  float *in = malloc(sizeof(float) * h * w), *out = malloc(sizeof(float) * h * w);
  float *scr = malloc(sizeof(float) * sf_median5_scratch(h, w));
  uint64_t seed = 99;
  for (size_t t = 0; t < tiles_y * tiles_x; t++) {
    size_t ty = t / tiles_x, tx = t % tiles_x, code = t;
    for (int c = 0; c < 5; c++, code /= 6) {
      int ones = (int)(code % 6), col[5];
      for (int r = 0; r < 5; r++)
        col[r] = r < ones;
      for (int r = 4; r > 0; r--) { /* Fisher-Yates shuffle of the column */
        int j = (int)(urand(&seed) * (r + 1)), tmp = col[r];
        col[r] = col[j];
        col[j] = tmp;
      }
      for (int r = 0; r < 5; r++)
        in[(5 * ty + (size_t)r) * w + 5 * tx + (size_t)c] = (float)col[r];
    }
  }
  sf_median5(in, w, h, w, out, w, scr);
  long bad = 0;
  for (size_t t = 0; t < tiles_y * tiles_x; t++) {
    size_t ty = t / tiles_x, tx = t % tiles_x, code = t;
    int total = 0;
    for (int c = 0; c < 5; c++, code /= 6)
      total += (int)(code % 6);
    bad += out[(5 * ty + 2) * w + 5 * tx + 2] != (float)(total >= 13);
  }
  CU_ASSERT_EQUAL(bad, 0);
  free(in);
  free(out);
  free(scr);
}

/* ---- warp ------------------------------------------------------------------------------ */

static void warp_const(const float *img, const float *fill, size_t h, size_t w, size_t c, float u,
                       float v, sf_interp in, float *out, unsigned char *valid) {
  float *U = malloc(sizeof(float) * h * w), *V = malloc(sizeof(float) * h * w);
  for (size_t i = 0; i < h * w; i++) {
    U[i] = u;
    V[i] = v;
  }
  sf_warp_flow(img, fill, h, w, c, U, V, w, 1.0f, 1.0f, in, out, valid);
  free(U);
  free(V);
}

static void test_warp_zero_and_integer(void) {
  const size_t h = 23, w = 31;
  float *img = frand(h * w, 5, 0, 100), *fill = frand(h * w, 6, 200, 300);
  float *out = malloc(sizeof(float) * h * w);
  unsigned char *valid = malloc(h * w);
  for (int m = 0; m < 2; m++) {
    sf_interp in = m ? SF_INTERP_LINEAR : SF_INTERP_CUBIC;
    warp_const(img, fill, h, w, 1, 0.0f, 0.0f, in, out, valid);
    CU_ASSERT(memcmp(out, img, sizeof(float) * h * w) == 0);
    size_t nvalid = 0;
    for (size_t i = 0; i < h * w; i++)
      nvalid += valid[i];
    CU_ASSERT(nvalid == h * w);
    /* u = 3, v = -2: out(y,x) = img(y-2, x+3) exactly, else the fill with valid = 0. */
    warp_const(img, fill, h, w, 1, 3.0f, -2.0f, in, out, valid);
    long bad = 0;
    for (long y = 0; y < (long)h; y++)
      for (long x = 0; x < (long)w; x++) {
        size_t i = (size_t)y * w + (size_t)x;
        int inb = x + 3 < (long)w && y - 2 >= 0;
        float want = inb ? img[(size_t)(y - 2) * w + (size_t)(x + 3)] : fill[i];
        if (out[i] != want || valid[i] != inb) bad++;
      }
    CU_ASSERT_EQUAL(bad, 0);
  }
  free(img);
  free(fill);
  free(out);
  free(valid);
}

/* Out of bounds: x+u < 0, x+u >= w, y+v < 0, y+v >= h, and NaN take the fill; an in-bounds
 * position in the last interval (w-1, w) is clipped to w-1 like the reference. */
static void test_warp_bounds(void) {
  const size_t h = 6, w = 7;
  float *img = frand(h * w, 8, 0, 1), *fill = frand(h * w, 9, 5, 6);
  float U[6 * 7] = {0}, V[6 * 7] = {0}, out[6 * 7];
  unsigned char valid[6 * 7];
  U[0 * w + 0] = -0.01f; /* x+u < 0 */
  U[1 * w + 6] = 1.0f;   /* x+u = w */
  V[0 * w + 3] = -0.5f;  /* y+v < 0 */
  V[5 * w + 2] = 0.999f; /* y+v < h: in bounds, clipped to h-1 */
  U[2 * w + 6] = 0.5f;   /* x+u = 6.5: in bounds, clipped to 6 */
  V[3 * w + 3] = NAN;    /* NaN: out of bounds */
  U[4 * w + 1] = -1.0f;  /* x+u = 0: in bounds */
  V[2 * w + 2] = 3.0f;   /* y+v = 5: in bounds */
  V[3 * w + 1] = 3.0f;   /* y+v = 6 = h: out */
  for (int m = 0; m < 2; m++) {
    sf_warp_flow(img, fill, h, w, 1, U, V, w, 1.0f, 1.0f, m ? SF_INTERP_LINEAR : SF_INTERP_CUBIC,
                 out, valid);
    const size_t oob[] = {0 * w + 0, 1 * w + 6, 0 * w + 3, 3 * w + 3, 3 * w + 1};
    for (size_t k = 0; k < 5; k++)
      CU_ASSERT(out[oob[k]] == fill[oob[k]] && valid[oob[k]] == 0);
    CU_ASSERT(out[5 * w + 2] == img[5 * w + 2] && valid[5 * w + 2] == 1);
    CU_ASSERT(out[2 * w + 6] == img[2 * w + 6] && valid[2 * w + 6] == 1);
    CU_ASSERT(out[4 * w + 1] == img[4 * w + 0] && valid[4 * w + 1] == 1);
    CU_ASSERT(out[2 * w + 2] == img[5 * w + 2] && valid[2 * w + 2] == 1);
  }
  /* valid may be NULL. */
  sf_warp_flow(img, fill, h, w, 1, U, V, w, 1.0f, 1.0f, SF_INTERP_CUBIC, out, NULL);
  CU_ASSERT(out[0] == fill[0]);
  free(img);
  free(fill);
}

/* A ramp warped by a random subpixel flow (scaled by sx = 0.5, sy = 2), wherever every tap
 * is inside. Bilinear reproduces it. Keys with a = -0.75 reproduces constants but not
 * slopes (only a = -0.5 does): per unit slope it adds e(t) = t (t - 1/2) (t - 1), |e| <= 0.048,
 * from sum_k w_k (k - 1) - t with the weights' polynomials; the cubic output must equal the
 * ramp plus that known term. Values up to ~250; tolerance 1e-4 absolute. */
static double keys_ramp_err(double t) { return t * (t - 0.5) * (t - 1.0); }

static void test_warp_ramp(void) {
  const size_t h = 40, w = 50, fs = w + 3;
  float *img = malloc(sizeof(float) * h * w), *out = malloc(sizeof(float) * h * w);
  float *U = frand(h * fs, 11, -3, 3), *V = frand(h * fs, 12, -0.75, 0.75);
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++)
      img[y * w + x] = (float)(3.0 * x + 2.0 * y + 10.0);
  for (int m = 0; m < 2; m++) {
    sf_warp_flow(img, img, h, w, 1, U, V, fs, 0.5f, 2.0f, m ? SF_INTERP_LINEAR : SF_INTERP_CUBIC,
                 out, NULL);
    double worst = 0;
    for (size_t y = 0; y < h; y++)
      for (size_t x = 0; x < w; x++) {
        float xs = (float)x + 0.5f * U[y * fs + x], ys = (float)y + 2.0f * V[y * fs + x];
        if (xs < 2 || xs > w - 3 || ys < 2 || ys > h - 3) continue;
        double want = 3.0 * xs + 2.0 * ys + 10.0;
        if (!m) want += 3.0 * keys_ramp_err(xs - floorf(xs)) + 2.0 * keys_ramp_err(ys - floorf(ys));
        worst = fmax(worst, fabs(out[y * w + x] - want));
      }
    report(m ? "warp ramp, bilinear" : "warp ramp, cubic", worst, 1e-4);
    CU_ASSERT(worst <= 1e-4);
  }
  free(img);
  free(out);
  free(U);
  free(V);
}

/* Cubic values against a double 4x4 Keys evaluation with clamped taps, everywhere
 * (including the border rows and columns). Data in [0,1); tolerance 2e-6. */
static void test_warp_cubic_values(void) {
  const size_t h = 19, w = 21;
  float *img = frand(h * w, 13, 0, 1), *out = malloc(sizeof(float) * h * w);
  float *U = frand(h * w, 14, -2.5, 2.5), *V = frand(h * w, 15, -2.5, 2.5);
  sf_warp_flow(img, img, h, w, 1, U, V, w, 1.0f, 1.0f, SF_INTERP_CUBIC, out, NULL);
  double worst = 0;
  for (long y = 0; y < (long)h; y++)
    for (long x = 0; x < (long)w; x++) {
      size_t i = (size_t)y * w + (size_t)x;
      float xs = (float)x + U[i], ys = (float)y + V[i];
      if (xs < 0 || xs >= w || ys < 0 || ys >= h) continue;
      double cx = fmin(xs, w - 1.0), cy = fmin(ys, h - 1.0), acc = 0;
      long fx = (long)floor(cx), fy = (long)floor(cy);
      for (long a = fy - 1; a <= fy + 2; a++)
        for (long b = fx - 1; b <= fx + 2; b++) {
          long ca = a < 0 ? 0 : (a >= (long)h ? (long)h - 1 : a);
          long cb = b < 0 ? 0 : (b >= (long)w ? (long)w - 1 : b);
          acc += keys_d(cy - a) * keys_d(cx - b) * img[(size_t)ca * w + (size_t)cb];
        }
      worst = fmax(worst, fabs(out[i] - acc));
    }
  report("warp cubic vs double 4x4 Keys", worst, 2e-6);
  CU_ASSERT(worst <= 2e-6);
  free(img);
  free(out);
  free(U);
  free(V);
}

/* Interleaved channels: each channel equals the single-channel warp of that plane, bit for
 * bit, fill and valid included. */
/* Interleaved channels (the per-pixel path) against each plane warped alone (one channel: the
 * 8-pixel group path where the flow is smooth); the bytes must agree. Kind 0: random flow;
 * kind 1: smooth flow of a few px with 0.2-px ripples, so groups with one tap origin, with
 * origins one step apart, and mixed groups all occur. */
static void warp_channels_case(int kind) {
  const size_t h = kind ? 41 : 17, w = kind ? 83 : 15, c = 3;
  float *img = frand(h * w * c, 16, 0, 1), *fill = frand(h * w * c, 17, 2, 3);
  float *U = frand(h * w, 18, -4, 4), *V = frand(h * w, 19, -4, 4);
  if (kind)
    for (size_t y = 0; y < h; y++)
      for (size_t x = 0; x < w; x++) {
        U[y * w + x] = 2.5f * sinf(0.05f * (float)x + 0.03f * (float)y) + 0.05f * U[y * w + x];
        V[y * w + x] = -1.5f * cosf(0.04f * (float)y) + 0.05f * V[y * w + x];
      }
  float *out = malloc(sizeof(float) * h * w * c), *plane = malloc(sizeof(float) * h * w),
        *pfill = malloc(sizeof(float) * h * w), *pout = malloc(sizeof(float) * h * w);
  unsigned char *valid = malloc(h * w), *pvalid = malloc(h * w);
  for (int m = 0; m < 3; m++) {
    sf_interp in = m == 1 ? SF_INTERP_LINEAR : (m ? SF_INTERP_CUBIC_Q32 : SF_INTERP_CUBIC);
    sf_warp_flow(img, fill, h, w, c, U, V, w, 1.0f, 1.0f, in, out, valid);
    long bad = 0;
    for (size_t k = 0; k < c; k++) {
      for (size_t i = 0; i < h * w; i++) {
        plane[i] = img[i * c + k];
        pfill[i] = fill[i * c + k];
      }
      sf_warp_flow(plane, pfill, h, w, 1, U, V, w, 1.0f, 1.0f, in, pout, pvalid);
      for (size_t i = 0; i < h * w; i++)
        bad += pout[i] != out[i * c + k] || pvalid[i] != valid[i];
    }
    CU_ASSERT_EQUAL(bad, 0);
  }
  free(img);
  free(fill);
  free(U);
  free(V);
  free(out);
  free(plane);
  free(pfill);
  free(pout);
  free(valid);
  free(pvalid);
}

static void test_warp_channels(void) {
  warp_channels_case(0);
  warp_channels_case(1);
}

/* ---- statistics ------------------------------------------------------------------------ */

static void test_flow_stats(void) {
  const size_t h = 8, w = 11;
  float U[8 * 11], V[8 * 11], st[4];
  for (size_t i = 0; i < h * w; i++) {
    U[i] = 3.0f;
    V[i] = -4.0f;
  }
  sf_flow_stats(U, V, h, w, st);
  CU_ASSERT_DOUBLE_EQUAL(st[0], 5.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(st[1], 5.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(st[2], 0.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(st[3], 5.0, 1e-6);
  /* u = x, v = 2y: divergence 1 + 2 everywhere, the one-sided ends included. */
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) {
      U[y * w + x] = (float)x;
      V[y * w + x] = 2.0f * (float)y;
    }
  sf_flow_stats(U, V, h, w, st);
  CU_ASSERT_DOUBLE_EQUAL(st[2], 3.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(st[1], sqrt(10.0 * 10.0 + 14.0 * 14.0), 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(st[3], sqrt(5.0 * 5.0 + 7.0 * 7.0), 1e-5);
  /* By hand, 2 x 3: u = [[0,1,4],[0,0,0]], v = 0. du/dx row 0 = [1, 2, 3] (one-sided,
   * central, one-sided), so mean div = 6/6; mean |w| = 5/6; max 4; |mean| = 5/6. */
  const float u2[] = {0, 1, 4, 0, 0, 0}, v2[] = {0, 0, 0, 0, 0, 0};
  sf_flow_stats(u2, v2, 2, 3, st);
  CU_ASSERT_DOUBLE_EQUAL(st[0], 5.0 / 6.0, 1e-7);
  CU_ASSERT_DOUBLE_EQUAL(st[1], 4.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(st[2], 1.0, 1e-7);
  CU_ASSERT_DOUBLE_EQUAL(st[3], 5.0 / 6.0, 1e-7);
  /* v along y by hand, 3 x 1: v = [0, 2, 8]: dv/dy = [2, 4, 6], mean 4. */
  const float u3[] = {0, 0, 0}, v3[] = {0, 2, 8};
  sf_flow_stats(u3, v3, 3, 1, st);
  CU_ASSERT_DOUBLE_EQUAL(st[2], 4.0, 1e-7);
}

int main(void) {
  static const sf_test tests[] = {
      {"resample: constant stays constant", test_resample_constant},
      {"resample: same size is the identity", test_resample_identity},
      {"resample: matches the 2-D double definition", test_resample_definition},
      {"resample: Gaussian blur then Keys", test_resample_blur_then_keys},
      {"resample: ramp to ramp", test_resample_ramp},
      {"resample: bad sizes", test_resample_bad},
      {"pyramid: worked examples", test_pyramid_examples},
      {"pyramid: cap, clamp, rounding, bad input", test_pyramid_edge_cases},
      {"gauss weights like scipy", test_gauss_weights},
      {"smooth: matches direct 2-D convolution", test_smooth_matches_direct},
      {"smooth: sigma 0 identity, bad sigma", test_smooth_identity_and_bad},
      {"normalise and deinterleave", test_normalize_deinterleave},
      {"median5: exact against qsort", test_median_exact},
      {"median5: 0/1 patterns", test_median_patterns},
      {"median5: all 0/1 column counts", test_median_zero_one_exhaustive},
      {"warp: zero and integer flow exact, fill", test_warp_zero_and_integer},
      {"warp: bounds, NaN, clipping", test_warp_bounds},
      {"warp: ramp (bilinear exact, Keys known term)", test_warp_ramp},
      {"warp: cubic values vs double", test_warp_cubic_values},
      {"warp: interleaved channels", test_warp_channels},
      {"flow stats by hand", test_flow_stats},
      {NULL, NULL}};
  return sf_cunit_run("flow kernels", tests);
}
