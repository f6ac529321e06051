/* The rigid method's per-element bodies (kernels/xcorr_rigid_hd.h, kernels/warp_shift_hd.h),
 * which the CUDA kernels run one thread per element, run here on the host over the same grids
 * and checked against the CPU kernels (issue 16 point 3): the shift warp pixel by pixel, the
 * whole phase correlation as the device does it (batch-free here: direct twiddles instead of
 * the CPU's recurrence, a first-index argmax by pairwise reduction, per-element upsampled DFT
 * sums) against sf_xcorr_execute. */
#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/warp_shift.h"
#include "kernels/warp_shift_hd.h"
#include "kernels/xcorr_rigid.h"
#include "kernels/xcorr_rigid_hd.h"
#include "sf_cunit.h"

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { /* xorshift64, in [0, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) * 0x1p-53;
}

/* A textured image: Gaussian blobs at fixed places, moved by (dx, dy) (content at p in the
 * unmoved image is at p + d here), plus noise of amplitude noise. */
static void blobs(float *img, size_t h, size_t w, double dx, double dy, double noise) {
  enum { NB = 40 };
  static double bx[NB], by[NB], bs[NB], ba[NB];
  static int made = 0;
  if (!made) {
    uint64_t keep = rng_state;
    rng_state = 12345;
    for (int k = 0; k < NB; k++) {
      bx[k] = urand();
      by[k] = urand();
      bs[k] = 1.5 + 4.0 * urand();
      ba[k] = 50.0 + 200.0 * urand();
    }
    rng_state = keep;
    made = 1;
  }
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) {
      double v = 10.0;
      for (int k = 0; k < NB; k++) {
        double ex = (double)x - dx - bx[k] * (double)w, ey = (double)y - dy - by[k] * (double)h;
        v += ba[k] * exp(-(ex * ex + ey * ey) / (2.0 * bs[k] * bs[k]));
      }
      img[y * w + x] = (float)(v + noise * (urand() - 0.5));
    }
}

/* ---- the shift warp ----------------------------------------------------------------- */

/* The warp's per-pixel body over the whole grid against sf_warp_shift: exact for integer
 * shifts and outside pixels, within float rounding (FMA contraction of the CPU kernel)
 * otherwise (the kernels are built for x86-64-v3 with FMA, this test without). */
static void check_warp(size_t h, size_t w, size_t ch, float u, float v, sf_interp interp) {
  size_t n = h * w * ch;
  float *src = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
  float *tmp = malloc(n * sizeof(float)), *cpu = malloc(n * sizeof(float));
  CU_ASSERT_FATAL(src && ref && tmp && cpu);
  for (size_t i = 0; i < n; i++) {
    src[i] = (float)(1000.0 * urand() - 200.0);
    ref[i] = (float)(-7.0 - (double)i);
  }
  sf_warp_shift(src, ref, h, w, ch, u, v, interp, tmp, cpu);
  float wx[4], wy[4];
  int lin = interp == SF_INTERP_LINEAR, ntap = lin ? 2 : 4;
  long ox = sf_hd_shift_taps(u, lin, wx), oy = sf_hd_shift_taps(v, lin, wy);
  int integer = u == floorf(u) && v == floorf(v);
  size_t bad = 0;
  double worst = 0.0;
  for (long y = 0; y < (long)h; y++)
    for (long x = 0; x < (long)w; x++)
      for (long c = 0; c < (long)ch; c++) {
        size_t i = ((size_t)y * w + (size_t)x) * ch + (size_t)c;
        float g = sf_hd_warp_shift_px(src, ref, (long)h, (long)w, (long)ch, y, x, c, ox, oy, wx, wy,
                                      ntap, u, v);
        int outside = sf_hd_shift_outside(y, x, u, v, (long)h, (long)w);
        /* relative to the data's scale (1000): cubic weights cancel */
        double e = fabs((double)g - (double)cpu[i]) / 1000.0;
        if (e > worst) worst = e;
        if ((outside || integer) ? g != cpu[i] : e > 2e-6) bad++;
      }
  if (bad)
    fprintf(stderr, "warp %zux%zux%zu u=%g v=%g interp=%d: %zu values off, worst %.3g\n", h, w, ch,
            (double)u, (double)v, (int)interp, bad, worst);
  CU_ASSERT_EQUAL(bad, 0);
  free(src);
  free(ref);
  free(tmp);
  free(cpu);
}

static void test_warp_grid(void) {
  const float shifts[][2] = {{0, 0},       {3, -2},      {0.25f, 0.5f}, {-1.3f, 2.7f}, {5.75f, -4.125f},
                             {-0.01f, 0.99f}, {40.5f, 1.5f}, {-60, -3.25f}};
  for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++)
    for (size_t ch = 1; ch <= 3; ch += 2) {
      check_warp(37, 41, ch, shifts[s][0], shifts[s][1], SF_INTERP_CUBIC);
      check_warp(37, 41, ch, shifts[s][0], shifts[s][1], SF_INTERP_LINEAR);
    }
  check_warp(5, 4, 1, 1.5f, -0.5f, SF_INTERP_CUBIC); /* frames narrower than the taps */
}

static void test_keys_taps(void) {
  for (int i = -300; i <= 300; i++) {
    float t = (float)i / 100.0f;
    CU_ASSERT(fabsf(sf_hd_keys_cubic(t) - sf_keys_cubic(t)) <= 4e-6f); /* FMA or not: cancellation near |t| = 2 */
  }
  float wt[4];
  for (int i = -40; i <= 40; i++) { /* the weights of any offset sum to 1 */
    float d = (float)i / 8.0f;
    for (int lin = 0; lin <= 1; lin++) {
      sf_hd_shift_taps(d, lin, wt);
      CU_ASSERT(fabsf(wt[0] + wt[1] + wt[2] + wt[3] - 1.0f) < 1e-6f);
    }
  }
}

/* ---- the phase correlation as the device runs it ----------------------------------- */

typedef struct host_rigid {
  size_t h, w, wc, n;
  int up;
  float sigma;
  float *win, *gain, *ref; /* ref: interleaved half spectrum */
  float *real, *spec, *spec2, *exr, *exi, *eyr, *eyi, *s1r, *s1i, *surf;
  fftwf_plan fwd, inv;
} host_rigid;

static void host_rigid_init(host_rigid *g, size_t h, size_t w, int up, float sigma) {
  memset(g, 0, sizeof *g);
  g->h = h;
  g->w = w;
  g->wc = w / 2 + 1;
  g->up = up;
  g->sigma = sigma;
  g->n = sf_hd_updft_points(up);
  size_t ns = h * g->wc, n = g->n;
  g->win = malloc(h * w * sizeof(float));
  g->gain = malloc(ns * sizeof(float));
  g->ref = fftwf_malloc(2 * ns * sizeof(float));
  g->real = fftwf_malloc(h * w * sizeof(float));
  g->spec = fftwf_malloc(2 * ns * sizeof(float));
  g->spec2 = fftwf_malloc(2 * ns * sizeof(float));
  g->exr = malloc(g->wc * n * sizeof(float));
  g->exi = malloc(g->wc * n * sizeof(float));
  g->eyr = malloc(h * n * sizeof(float));
  g->eyi = malloc(h * n * sizeof(float));
  g->s1r = malloc(h * n * sizeof(float));
  g->s1i = malloc(h * n * sizeof(float));
  g->surf = malloc(n * n * sizeof(float));
  /* the device's grids: one element per thread */
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) g->win[y * w + x] = sf_hd_hann2(y, x, h, w);
  for (size_t ky = 0; ky < h; ky++)
    for (size_t kx = 0; kx < g->wc; kx++) g->gain[ky * g->wc + kx] = sf_hd_xcorr_gain(ky, kx, h, w, sigma);
  g->fwd = fftwf_plan_dft_r2c_2d((int)h, (int)w, g->real, (fftwf_complex *)g->spec, FFTW_ESTIMATE);
  g->inv = fftwf_plan_dft_c2r_2d((int)h, (int)w, (fftwf_complex *)g->spec2, g->real, FFTW_ESTIMATE);
}

static void host_rigid_free(host_rigid *g) {
  fftwf_destroy_plan(g->fwd);
  fftwf_destroy_plan(g->inv);
  free(g->win);
  free(g->gain);
  fftwf_free(g->ref);
  fftwf_free(g->real);
  fftwf_free(g->spec);
  fftwf_free(g->spec2);
  free(g->exr);
  free(g->exi);
  free(g->eyr);
  free(g->eyi);
  free(g->s1r);
  free(g->s1i);
  free(g->surf);
}

/* Windowed spectrum of img into g->spec: the mean as a reduction in double, then the window
 * per element, then the r2c transform (cuFFT's layout is FFTW's). */
static void host_windowed(host_rigid *g, const float *img) {
  size_t n = g->h * g->w;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += img[i];
  float mean = (float)(sum / (double)n);
  for (size_t i = 0; i < n; i++) g->real[i] = sf_hd_xcorr_windowed(img[i], mean, g->win[i]);
  fftwf_execute(g->fwd);
}

/* The first-index argmax as a pairwise tree reduction (a block reduction's order). */
static size_t tree_argmax(const float *a, size_t n) {
  size_t *idx = malloc(n * sizeof(size_t)), m = n;
  for (size_t i = 0; i < n; i++) idx[i] = i;
  while (m > 1) {
    size_t half = (m + 1) / 2;
    for (size_t i = 0; i + half < m; i++)
      if (sf_hd_argmax_better(a[idx[i]], idx[i], a[idx[i + half]], idx[i + half])) idx[i] = idx[i + half];
    m = half;
  }
  size_t best = idx[0];
  free(idx);
  return best;
}

/* One refinement on the n x n grid around (px, py), every element as one device thread. */
static int host_refine(host_rigid *g, double px, double py, double *bx, double *by) {
  size_t h = g->h, w = g->w, wc = g->wc, n = g->n;
  for (size_t kx = 0; kx < wc; kx++)
    for (size_t j = 0; j < n; j++)
      sf_hd_updft_twiddle_x(kx, sf_hd_updft_pos(px, j, n, g->up), w, &g->exr[kx * n + j], &g->exi[kx * n + j]);
  for (size_t ky = 0; ky < h; ky++)
    for (size_t i = 0; i < n; i++)
      sf_hd_updft_twiddle_y(ky, sf_hd_updft_pos(py, i, n, g->up), h, &g->eyr[ky * n + i], &g->eyi[ky * n + i]);
  for (size_t ky = 0; ky < h; ky++)
    for (size_t j = 0; j < n; j++)
      sf_hd_updft_s1(g->spec + 2 * ky * wc, g->exr, g->exi, wc, n, j, &g->s1r[ky * n + j], &g->s1i[ky * n + j]);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) g->surf[i * n + j] = sf_hd_updft_surf(g->s1r, g->s1i, g->eyr, g->eyi, h, n, i, j);
  return sf_hd_updft_peak(g->surf, n, g->up, px, py, bx, by);
}

static void host_rigid_shift(host_rigid *g, const float *frame, float shift[2]) {
  size_t ns = g->h * g->wc;
  host_windowed(g, frame);
  int flat = 1;
  for (size_t i = 0; i < ns; i++) {
    sf_hd_xcorr_cross_power(g->spec[2 * i], g->spec[2 * i + 1], g->ref[2 * i], g->ref[2 * i + 1], g->gain[i],
                            &g->spec[2 * i], &g->spec[2 * i + 1]);
    g->spec2[2 * i] = g->spec[2 * i];
    g->spec2[2 * i + 1] = g->spec[2 * i + 1];
    if (g->spec[2 * i] != 0.0f || g->spec[2 * i + 1] != 0.0f) flat = 0;
  }
  fftwf_execute(g->inv);
  double px, py, bx, by;
  sf_hd_xcorr_coarse(tree_argmax(g->real, g->h * g->w), g->h, g->w, &px, &py);
  if (g->up <= 1) {
    shift[0] = (float)px;
    shift[1] = (float)py;
    return;
  }
  if (host_refine(g, px, py, &bx, &by)) host_refine(g, bx, by, &bx, &by);
  shift[0] = flat ? 0.0f : (float)bx;
  shift[1] = flat ? 0.0f : (float)by;
}

static void check_xcorr(size_t h, size_t w, int up, float sigma, double dx, double dy, double noise) {
  float *ref = malloc(h * w * sizeof(float)), *frame = malloc(h * w * sizeof(float));
  CU_ASSERT_FATAL(ref && frame);
  blobs(ref, h, w, 0, 0, 0);
  blobs(frame, h, w, dx, dy, noise);
  sf_xcorr_plan *p = NULL;
  sf_xcorr_ws *ws = NULL;
  CU_ASSERT_FATAL(sf_xcorr_plan_create(h, w, up, sigma, &p) == 0);
  CU_ASSERT_FATAL(sf_xcorr_ws_create(p, &ws) == 0);
  sf_xcorr_set_reference(p, ws, ref);
  float cpu[2], dev[2];
  sf_xcorr_execute(p, ws, frame, cpu);
  host_rigid g;
  host_rigid_init(&g, h, w, up, sigma);
  host_windowed(&g, ref);
  memcpy(g.ref, g.spec, 2 * h * g.wc * sizeof(float));
  host_rigid_shift(&g, frame, dev);
  double e = fmax(fabs((double)cpu[0] - dev[0]), fabs((double)cpu[1] - dev[1]));
  if (!(e <= 1e-3))
    fprintf(stderr, "xcorr %zux%zu up %d shift (%g, %g): cpu (%g, %g), device bodies (%g, %g)\n", h, w, up, dx,
            dy, (double)cpu[0], (double)cpu[1], (double)dev[0], (double)dev[1]);
  CU_ASSERT(e <= 1e-3); /* issue 16: rigid shifts within 0.01 px; the bodies do much better */
  host_rigid_free(&g);
  sf_xcorr_ws_destroy(&ws);
  sf_xcorr_plan_destroy(&p);
  free(ref);
  free(frame);
}

static void test_xcorr_grid(void) {
  const double d[][2] = {{0, 0}, {1.3, -2.6}, {-4.45, 3.05}, {7.5, 0.25}, {-0.49, -0.51}, {10.2, -9.8}};
  for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
    check_xcorr(64, 72, 20, 1.5f, d[k][0], d[k][1], 0.0);
    check_xcorr(63, 50, 10, 0.0f, d[k][0], d[k][1], 20.0); /* odd sizes, no smoothing, noise */
  }
  check_xcorr(48, 48, 1, 1.5f, 3.0, -2.0, 0.0); /* integer pixels only */
}

/* A frame without contrast: both report no shift. */
static void test_xcorr_flat(void) {
  size_t h = 32, w = 40;
  float *ref = malloc(h * w * sizeof(float)), *frame = malloc(h * w * sizeof(float));
  blobs(ref, h, w, 0, 0, 0);
  for (size_t i = 0; i < h * w; i++) frame[i] = 7.0f;
  sf_xcorr_plan *p = NULL;
  sf_xcorr_ws *ws = NULL;
  CU_ASSERT_FATAL(sf_xcorr_plan_create(h, w, 20, 1.5f, &p) == 0 && sf_xcorr_ws_create(p, &ws) == 0);
  sf_xcorr_set_reference(p, ws, ref);
  float cpu[2], dev[2];
  sf_xcorr_execute(p, ws, frame, cpu);
  host_rigid g;
  host_rigid_init(&g, h, w, 20, 1.5f);
  host_windowed(&g, ref);
  memcpy(g.ref, g.spec, 2 * h * g.wc * sizeof(float));
  host_rigid_shift(&g, frame, dev);
  CU_ASSERT(cpu[0] == 0.0f && cpu[1] == 0.0f && dev[0] == 0.0f && dev[1] == 0.0f);
  host_rigid_free(&g);
  sf_xcorr_ws_destroy(&ws);
  sf_xcorr_plan_destroy(&p);
  free(ref);
  free(frame);
}

/* Any pairing order of the first-index argmax finds the serial scan's index, ties included. */
static void test_argmax_ties(void) {
  float a[257];
  for (size_t n = 1; n <= 257; n += 16) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(int)(8.0 * urand()); /* many ties */
    size_t serial = 0;
    for (size_t i = 1; i < n; i++)
      if (a[i] > a[serial]) serial = i;
    CU_ASSERT_EQUAL(tree_argmax(a, n), serial);
  }
}

/* The channel combination body against its definition. */
static void test_combine(void) {
  float px[3 * 5], wch[3] = {0.5f, 0.25f, 0.25f};
  for (int i = 0; i < 15; i++) px[i] = (float)(i * i) - 3.0f;
  for (size_t i = 0; i < 5; i++) {
    float s = 0.0f;
    for (size_t k = 0; k < 3; k++) s += wch[k] * px[i * 3 + k];
    CU_ASSERT_EQUAL(sf_hd_combine(px, i, 3, wch), s);
    CU_ASSERT_EQUAL(sf_hd_combine(px, i, 1, wch), px[i]);
  }
}

int main(void) {
  static const sf_test tests[] = {
      {"warp body over the grid = sf_warp_shift (linear, cubic, 1 and 3 channels)", test_warp_grid},
      {"Keys kernel and tap weights", test_keys_taps},
      {"phase correlation from the bodies = sf_xcorr_execute within 1e-3 px", test_xcorr_grid},
      {"no contrast: no shift", test_xcorr_flat},
      {"first-index argmax in any reduction order", test_argmax_ties},
      {"channel combination", test_combine},
      {NULL, NULL}};
  return sf_cunit_run("rigid per-element bodies (host)", tests);
}
