/* CUnit tests of the azimuthal integrator (specs/integrate.md A1-A2) against analytic facts:
 * 2theta of an untilted detector, the chi convention, the solid angle at the PONI, weights of
 * every pixel summing to 1, the total signal conserved, and clean errors for empty ranges. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/azim.h"
#include "kernels/azim_errmodel.h"
#include "kernels/dtype_convert.h"
#include "sf_cunit.h"
#include "sf_error.h"

enum { H = 60, W = 50 };

static sf_azim_geom geom(int tilted) {
  sf_azim_geom g = {.dist = 0.05, .poni1 = 0.00312, .poni2 = 0.00247, .wavelength = 1e-10,
                    .pixel1 = 1e-4, .pixel2 = 1.2e-4, .h = H, .w = W};
  if (tilted) g.rot1 = 0.07, g.rot2 = -0.04, g.rot3 = 0.3;
  return g;
}

static sf_azim_opts opts(sf_azim_split s, size_t nbins, size_t nazim) {
  sf_azim_opts o = {.unit = SF_UNIT_Q_NM, .split = s, .nbins = nbins, .azimuth_bins = nazim,
                    .radial_lo = NAN, .radial_hi = NAN, .azimuth_lo = NAN, .azimuth_hi = NAN,
                    .polarization = NAN, .solid_angle = 1};
  return o;
}

static void test_two_theta_untilted(void) {
  sf_azim_geom g = geom(0);
  float *tth = malloc(sizeof(float) * H * W), *chi = malloc(sizeof(float) * H * W);
  float *sa = malloc(sizeof(float) * H * W);
  CU_ASSERT_EQUAL_FATAL(sf_azim_pixel_arrays(&g, SF_UNIT_2TH_RAD, NAN, tth, chi, sa, NULL), 0);
  double maxerr = 0, maxsa = 0;
  for (size_t i = 0; i < H; i++)
    for (size_t j = 0; j < W; j++) {
      double p1 = (i + 0.5) * g.pixel1 - g.poni1, p2 = (j + 0.5) * g.pixel2 - g.poni2;
      double r = sqrt(p1 * p1 + p2 * p2);
      maxerr = fmax(maxerr, fabs(tth[i * W + j] - atan(r / g.dist)));
      /* chi = atan2(t1, t2): along axis 1 (rows) for the untilted detector (A1.4) */
      double ch = atan2(p1, p2);
      CU_ASSERT(fabs(chi[i * W + j] - ch) < 1e-5);
      double ca = g.dist / sqrt(g.dist * g.dist + r * r);
      CU_ASSERT(fabs(sa[i * W + j] - ca * ca * ca) < 1e-6);
      maxsa = fmax(maxsa, sa[i * W + j]);
    }
  CU_ASSERT(maxerr < 1e-6);
  CU_ASSERT(maxsa <= 1.0f && maxsa > 0.999f);
  free(tth), free(chi), free(sa);
}

static void test_chi_and_solid_angle_at_poni(void) {
  /* One pixel centred on the PONI: solid angle 1; the pixel below it (+row) at chi = +pi/2,
   * the one to its right (+column) at chi = 0, left at chi = pi. */
  sf_azim_geom g = {.dist = 0.1, .poni1 = 1.5e-4, .poni2 = 1.5e-4, .pixel1 = 1e-4,
                    .pixel2 = 1e-4, .h = 3, .w = 3};
  float chi[9], sa[9], r[9], pol[9];
  CU_ASSERT_EQUAL_FATAL(sf_azim_pixel_arrays(&g, SF_UNIT_R_MM, 0.0, r, chi, sa, pol), 0);
  CU_ASSERT_DOUBLE_EQUAL(sa[4], 1.0, 1e-7);
  CU_ASSERT_DOUBLE_EQUAL(r[4], 0.0, 1e-7);
  CU_ASSERT_DOUBLE_EQUAL(r[5], 0.1, 1e-5); /* 0.1 mm away */
  CU_ASSERT_DOUBLE_EQUAL(chi[7], M_PI / 2, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(chi[1], -M_PI / 2, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(chi[5], 0.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(fabs(chi[3]), M_PI, 1e-6);
  CU_ASSERT(sa[0] < 1.0f);
  CU_ASSERT_DOUBLE_EQUAL(pol[4], 1.0, 1e-6); /* unpolarised at 2theta = 0 */
}

static void test_q_needs_wavelength(void) {
  sf_azim_geom g = geom(0);
  g.wavelength = 0;
  float q[H * W];
  CU_ASSERT_EQUAL(sf_azim_pixel_arrays(&g, SF_UNIT_Q_NM, NAN, q, NULL, NULL, NULL), SF_ERR_USAGE);
  sf_azim_opts o = opts(SF_SPLIT_NO, 20, 0);
  sf_azim a;
  const char *why = NULL;
  CU_ASSERT_EQUAL(sf_azim_build(&g, &o, NULL, NULL, &a, &why), SF_ERR_USAGE);
  CU_ASSERT_PTR_NOT_NULL(why);
}

/* For each split (1-D and 2-D): every valid pixel's weights sum to 1, masked pixels have none,
 * and the summed signal over all rows equals the sum of the valid pixels' values. */
static void check_conservation(sf_azim_split s, int tilted, size_t nazim) {
  sf_azim_geom g = geom(tilted);
  sf_azim_opts o = opts(s, 25, nazim);
  uint8_t *mask = calloc(H * W, 1);
  float *raw = malloc(sizeof(float) * H * W);
  for (size_t k = 0; k < H * W; k++) {
    mask[k] = (k % 37 == 5) || (k / W == 20);
    raw[k] = (float)(1 + (k * 7919) % 101);
  }
  sf_azim a;
  const char *why = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_azim_build(&g, &o, mask, NULL, &a, &why), 0);
  double *wsum = calloc(H * W, sizeof(double));
  for (size_t r = 0; r < a.nrows; r++)
    for (int32_t e = a.indptr[r]; e < a.indptr[r + 1]; e++) {
      CU_ASSERT(a.data[e] >= 0.0f);
      wsum[a.indices[e]] += a.data[e];
    }
  double worst = 0, total = 0;
  int masked_in = 0;
  for (size_t k = 0; k < H * W; k++) {
    if (mask[k]) {
      masked_in |= wsum[k] != 0;
      continue;
    }
    worst = fmax(worst, fabs(wsum[k] - 1.0));
    total += raw[k];
  }
  CU_ASSERT(!masked_in);
  /* 2-D full splitting clips pixels at chi = +-pi (a few lose area there), like pyFAI */
  double tol = (s == SF_SPLIT_FULL && nazim) ? 1.0 : 2e-6;
  CU_ASSERT(worst < tol);
  sf_azim_sums sm;
  sm.signal = malloc(sizeof(double) * a.nrows), sm.norm = malloc(sizeof(double) * a.nrows);
  sm.variance = malloc(sizeof(double) * a.nrows), sm.count = malloc(sizeof(double) * a.nrows);
  sf_azim_integrate(&a, raw, NULL, NAN, NAN, &sm);
  double S = 0, C = 0;
  for (size_t r = 0; r < a.nrows; r++) S += sm.signal[r], C += sm.count[r];
  if (!(s == SF_SPLIT_FULL && nazim)) {
    CU_ASSERT(fabs(S - total) <= 1e-5 * total);
    CU_ASSERT(fabs(C - (double)(H * W - 0)) > 0); /* sanity */
  }
  /* the same sums straight from the CSR table, in double */
  double maxrel = 0;
  for (size_t r = 0; r < a.nrows; r++) {
    double s1 = 0, n1 = 0, v1 = 0, c1 = 0;
    for (int32_t e = a.indptr[r]; e < a.indptr[r + 1]; e++) {
      double w = a.data[e], x = raw[a.indices[e]];
      s1 += w * x, n1 += w * a.norm[a.indices[e]], v1 += w * w * fmax(x, 1.0), c1 += w;
    }
    maxrel = fmax(maxrel, fabs(sm.signal[r] - s1) / fmax(fabs(s1), 1e-30));
    maxrel = fmax(maxrel, fabs(sm.norm[r] - n1) / fmax(fabs(n1), 1e-30));
    maxrel = fmax(maxrel, fabs(sm.variance[r] - v1) / fmax(fabs(v1), 1e-30));
    maxrel = fmax(maxrel, fabs(sm.count[r] - c1) / fmax(fabs(c1), 1e-30));
  }
  CU_ASSERT(maxrel < 1e-5);
  /* a dummy value and a NaN leave those pixels out */
  raw[0] = -1.0f, raw[1] = NAN;
  sf_azim_integrate(&a, raw, NULL, -1.0, NAN, &sm);
  double S2 = 0;
  for (size_t r = 0; r < a.nrows; r++) S2 += sm.signal[r];
  CU_ASSERT(isfinite(S2));
  free(sm.signal), free(sm.norm), free(sm.variance), free(sm.count);
  sf_azim_free(&a);
  CU_ASSERT_PTR_NULL(a.indptr);
  free(wsum), free(mask), free(raw);
}

static void test_conserve_no(void) { check_conservation(SF_SPLIT_NO, 1, 0); }
static void test_conserve_bbox(void) { check_conservation(SF_SPLIT_BBOX, 1, 0); }
static void test_conserve_full(void) { check_conservation(SF_SPLIT_FULL, 1, 0); }
static void test_conserve_no_2d(void) { check_conservation(SF_SPLIT_NO, 0, 12); }
static void test_conserve_bbox_2d(void) { check_conservation(SF_SPLIT_BBOX, 1, 12); }
static void test_full_2d_builds(void) { check_conservation(SF_SPLIT_FULL, 1, 12); }

static void test_result_empty_bins(void) {
  sf_azim a = {.nrows = 2};
  double sig[2] = {4.0, 0.0}, nrm[2] = {2.0, 0.0}, var[2] = {16.0, 0.0}, cnt[2] = {3.0, 0.0};
  sf_azim_sums s = {sig, nrm, var, cnt};
  float I[2], e[2];
  sf_azim_result(&a, &s, I, e);
  CU_ASSERT_DOUBLE_EQUAL(I[0], 2.0, 1e-7);
  CU_ASSERT_DOUBLE_EQUAL(e[0], 2.0, 1e-7);
  CU_ASSERT_EQUAL(I[1], 0.0f);
  CU_ASSERT_EQUAL(e[1], 0.0f);
}

static void test_empty_ranges(void) {
  sf_azim_geom g = geom(0);
  const char *why = NULL;
  sf_azim a;
  for (int s = 0; s < 3; s++) {
    sf_azim_opts o = opts((sf_azim_split)s, 10, 0);
    o.radial_lo = 500.0, o.radial_hi = 600.0; /* far beyond the detector's q */
    why = NULL;
    CU_ASSERT_EQUAL(sf_azim_build(&g, &o, NULL, NULL, &a, &why), SF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(why);
    o = opts((sf_azim_split)s, 10, 0);
    o.radial_lo = o.radial_hi = 1.0; /* empty interval */
    CU_ASSERT_EQUAL(sf_azim_build(&g, &o, NULL, NULL, &a, &why), SF_ERR_USAGE);
  }
  /* every pixel masked */
  uint8_t *mask = malloc(H * W);
  memset(mask, 1, H * W);
  sf_azim_opts o = opts(SF_SPLIT_BBOX, 10, 0);
  CU_ASSERT_EQUAL(sf_azim_build(&g, &o, mask, NULL, &a, &why), SF_ERR_USAGE);
  free(mask);
}

static sf_azim_sums sums_alloc(size_t n) {
  sf_azim_sums s = {malloc(sizeof(double) * n), malloc(sizeof(double) * n),
                    malloc(sizeof(double) * n), malloc(sizeof(double) * n)};
  return s;
}

static void sums_free(sf_azim_sums *s) {
  free(s->signal), free(s->norm), free(s->variance), free(s->count);
}

static double rel(double a, double b) {
  return a == b ? 0.0 : fabs(a - b) / fmax(fmax(fabs(a), fabs(b)), 1e-12);
}

/* Pixels skipped in a frame (dummy, NaN, Inf; some rows entirely) give the sums of a table that
 * masks them (the per-row norm and count come from the table less what the skipped pixels would
 * add); a table whose internal part is remade by sf_azim_index (as on a receiving rank) gives
 * the same bytes; with a dark current too. nbins 3000 takes the path for large tables. */
static void check_skipped(sf_azim_split s, size_t nbins, size_t nazim) {
  sf_azim_geom g = geom(1);
  sf_azim_opts o = opts(s, nbins, nazim);
  o.radial_lo = 0.5, o.radial_hi = 30.0; /* q nm^-1: the same bins for both masks */
  if (nazim) o.azimuth_lo = -180.0, o.azimuth_hi = 180.0;
  uint8_t *mask = calloc(H * W, 1), *mask2 = calloc(H * W, 1);
  float *raw = malloc(sizeof(float) * H * W), *dark = malloc(sizeof(float) * H * W);
  for (size_t k = 0; k < H * W; k++) {
    mask[k] = k % 41 == 3;
    raw[k] = (float)((k * 7919) % 23) * 0.5f;
    dark[k] = (float)(k % 3) * 0.25f;
    if (k % 13 == 1) raw[k] = -1.0f;                  /* dummy */
    if (k % 29 == 2) raw[k] = (k & 1) ? NAN : INFINITY;
    if (k / W < 6) raw[k] = NAN;                       /* whole rows of the table */
    mask2[k] = mask[k] || !isfinite(raw[k]) || raw[k] == -1.0f;
  }
  sf_azim a, b, c;
  const char *why = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_azim_build(&g, &o, mask, NULL, &a, &why), 0);
  CU_ASSERT_EQUAL_FATAL(sf_azim_build(&g, &o, mask2, NULL, &b, &why), 0);
  CU_ASSERT_EQUAL_FATAL(a.nrows, b.nrows);
  /* c: a's CSR only, as share_table sends it */
  memset(&c, 0, sizeof c);
  c.h = a.h, c.w = a.w, c.npix = a.npix, c.nrows = a.nrows, c.nbins = a.nbins, c.nazim = a.nazim;
  c.nnz = a.nnz;
  c.indptr = malloc((a.nrows + 1) * sizeof(int32_t));
  c.indices = malloc(a.nnz * sizeof(int32_t));
  c.data = malloc(a.nnz * sizeof(float));
  c.norm = malloc(a.npix * sizeof(float));
  c.radial = malloc(a.nbins * sizeof(double));
  memcpy(c.indptr, a.indptr, (a.nrows + 1) * sizeof(int32_t));
  memcpy(c.indices, a.indices, a.nnz * sizeof(int32_t));
  memcpy(c.data, a.data, a.nnz * sizeof(float));
  memcpy(c.norm, a.norm, a.npix * sizeof(float));
  memcpy(c.radial, a.radial, a.nbins * sizeof(double));
  CU_ASSERT_EQUAL_FATAL(sf_azim_index(&c, a.pix_row != NULL), 0);
  sf_azim_sums sa = sums_alloc(a.nrows), sb = sums_alloc(a.nrows), sc = sums_alloc(a.nrows);
  for (int d = 0; d < 2; d++) {
    const float *dk = d ? dark : NULL;
    sf_azim_integrate(&a, raw, dk, -1.0, NAN, &sa);
    sf_azim_integrate(&b, raw, dk, -1.0, NAN, &sb);
    sf_azim_integrate(&c, raw, dk, -1.0, NAN, &sc);
    double worst = 0.0, cabs = 0.0;
    for (size_t r = 0; r < a.nrows; r++) {
      worst = fmax(worst, rel(sa.signal[r], sb.signal[r]));
      worst = fmax(worst, rel(sa.variance[r], sb.variance[r]));
      worst = fmax(worst, rel(sa.norm[r], sb.norm[r]));
      cabs = fmax(cabs, fabs(sa.count[r] - sb.count[r]));
    }
    CU_ASSERT(worst < 1e-9);
    CU_ASSERT(cabs < 1e-9);
    CU_ASSERT(memcmp(sa.signal, sc.signal, a.nrows * sizeof(double)) == 0);
    CU_ASSERT(memcmp(sa.norm, sc.norm, a.nrows * sizeof(double)) == 0);
    CU_ASSERT(memcmp(sa.variance, sc.variance, a.nrows * sizeof(double)) == 0);
    CU_ASSERT(memcmp(sa.count, sc.count, a.nrows * sizeof(double)) == 0);
  }
  /* a frame without skipped pixels: the table's own norm and count */
  for (size_t k = 0; k < H * W; k++) raw[k] = (float)(k % 17);
  sf_azim_integrate(&a, raw, NULL, NAN, NAN, &sa);
  CU_ASSERT(memcmp(sa.norm, a.row_norm, a.nrows * sizeof(double)) == 0);
  CU_ASSERT(memcmp(sa.count, a.row_count, a.nrows * sizeof(double)) == 0);
  sums_free(&sa), sums_free(&sb), sums_free(&sc);
  sf_azim_free(&a), sf_azim_free(&b), sf_azim_free(&c);
  free(mask), free(mask2), free(raw), free(dark);
}

static void test_skipped_no(void) { check_skipped(SF_SPLIT_NO, 40, 0); }
static void test_skipped_bbox(void) { check_skipped(SF_SPLIT_BBOX, 40, 0); }
static void test_skipped_full(void) { check_skipped(SF_SPLIT_FULL, 40, 0); }
static void test_skipped_large(void) {
  check_skipped(SF_SPLIT_NO, 3000, 0);
  check_skipped(SF_SPLIT_FULL, 3000, 0);
}
static void test_skipped_2d(void) {
  check_skipped(SF_SPLIT_NO, 20, 8);
  check_skipped(SF_SPLIT_BBOX, 20, 8);
}

/* Value k of a test frame of type t: small counts, values past 2^24 that float32 rounds (and
 * their neighbours), the type's extremes, the type's dummy every 13th pixel, and for the
 * floats NaN and Inf. */
static void typed_value(sf_dtype t, size_t k, void *dst) {
  size_t m = k % 11;
  switch (t) {
  case SF_DTYPE_U32: {
    static const uint32_t big[] = {16777217u, 16777219u, 33554435u, 2147483649u, 4294967294u,
                                   4294967040u, 4294967168u, 4294967169u};
    uint32_t v = m < 6 ? (uint32_t)((k * 7919) % 23) : m < 10 ? big[k % 8] + (uint32_t)(k % 5) : 4294967295u;
    if (k % 13 == 1) v = 4294967295u;
    ((uint32_t *)dst)[k] = v;
    break;
  }
  case SF_DTYPE_I32: {
    static const int32_t big[] = {16777217, -16777219, 33554435, INT32_MIN, INT32_MAX, -2147483519};
    int32_t v = m < 6 ? (int32_t)((k * 7919) % 23) - 3 : big[k % 6];
    if (k % 13 == 1) v = -1;
    ((int32_t *)dst)[k] = v;
    break;
  }
  case SF_DTYPE_U16: ((uint16_t *)dst)[k] = k % 13 == 1 ? 65535 : m < 8 ? (uint16_t)((k * 7919) % 23) : (uint16_t)(65000 + k % 500); break;
  case SF_DTYPE_I16: ((int16_t *)dst)[k] = k % 13 == 1 ? -1 : (int16_t)((int)((k * 7919) % 32768) - 16384); break;
  case SF_DTYPE_U8: ((uint8_t *)dst)[k] = k % 13 == 1 ? 255 : (uint8_t)((k * 7919) % 255); break;
  case SF_DTYPE_I8: ((int8_t *)dst)[k] = k % 13 == 1 ? -1 : (int8_t)((int)((k * 7919) % 200) - 100); break;
  case SF_DTYPE_U64: ((uint64_t *)dst)[k] = k % 13 == 1 ? UINT64_MAX : m < 6 ? (k * 7919) % 23 : (1ull << 40) + 3 * k + 1; break;
  case SF_DTYPE_I64: ((int64_t *)dst)[k] = k % 13 == 1 ? -1 : m < 6 ? (int64_t)((k * 7919) % 23) : -(int64_t)(1ull << 35) - (int64_t)k; break;
  case SF_DTYPE_F32: {
    float v = m < 8 ? (float)((k * 7919) % 23) * 0.37f : m == 8 ? NAN : m == 9 ? INFINITY : 3.0e9f;
    if (k % 13 == 1) v = -1.0f;
    ((float *)dst)[k] = v;
    break;
  }
  case SF_DTYPE_F64: {
    double v = m < 8 ? (double)((k * 7919) % 23) * 0.1 + 1e-9 : m == 8 ? NAN : m == 9 ? -INFINITY : 1e40;
    if (k % 13 == 1) v = -1.0;
    ((double *)dst)[k] = v;
    break;
  }
  default: break;
  }
}

static double typed_dummy(sf_dtype t) {
  switch (t) {
  case SF_DTYPE_U32: return 4294967295.0;
  case SF_DTYPE_U16: return 65535.0;
  case SF_DTYPE_U8: return 255.0;
  case SF_DTYPE_U64: return 18446744073709551615.0;
  default: return -1.0;
  }
}

static int sums_differ(const sf_azim_sums *x, const sf_azim_sums *y, size_t n) {
  return memcmp(x->signal, y->signal, n * sizeof(double)) || memcmp(x->norm, y->norm, n * sizeof(double)) ||
         memcmp(x->variance, y->variance, n * sizeof(double)) || memcmp(x->count, y->count, n * sizeof(double));
}

/* A frame read in its stored type gives the bytes of the frame converted to float first
 * (sf_dtype_to_float), for every type, with and without dummy (and a delta), dark, and for the
 * azimuthal error model too. */
static void check_typed(sf_azim_split s, size_t nbins, size_t nazim, int whole_rows) {
  static const sf_dtype types[] = {SF_DTYPE_U32, SF_DTYPE_U16, SF_DTYPE_I32, SF_DTYPE_F32,
                                   SF_DTYPE_U8,  SF_DTYPE_I8,  SF_DTYPE_I16, SF_DTYPE_I64,
                                   SF_DTYPE_U64, SF_DTYPE_F64};
  sf_azim_geom g = geom(1);
  sf_azim_opts o = opts(s, nbins, nazim);
  uint8_t *mask = calloc(H * W, 1);
  for (size_t k = 0; k < H * W; k++) mask[k] = k % 41 == 3;
  sf_azim a;
  const char *why = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_azim_build(&g, &o, mask, NULL, &a, &why), 0);
  void *raw = malloc(8 * H * W);
  float *fr = malloc(sizeof(float) * H * W), *dark = malloc(sizeof(float) * H * W);
  for (size_t k = 0; k < H * W; k++) dark[k] = (float)(k % 3) * 0.25f;
  sf_azim_sums sf = sums_alloc(a.nrows), st = sums_alloc(a.nrows);
  int bad = 0;
  for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
    sf_dtype t = types[ti];
    for (size_t k = 0; k < H * W; k++) typed_value(t, k, raw);
    if (whole_rows) /* the first rows all dummy: rows of the table summed again */
      for (size_t k = 0; k < 6 * W; k++)
        memcpy((char *)raw + k * sf_dtype_size(t), (char *)raw + sf_dtype_size(t), sf_dtype_size(t));
    sf_dtype_to_float(t, raw, fr, H * W);
    static const double dd[3][2] = {{NAN, NAN}, {0, 0.0}, {0, 0.5}};
    for (int v = 0; v < 3; v++)
      for (int d = 0; d < 2; d++) {
        const float *dk = d ? dark : NULL;
        double dummy = v ? typed_dummy(t) : NAN, delta = dd[v][1];
        sf_azim_integrate(&a, fr, dk, dummy, delta, &sf);
        sf_azim_integrate_typed(&a, raw, t, dk, dummy, delta, &st);
        if (sums_differ(&sf, &st, a.nrows)) {
          bad++;
          fprintf(stderr, "typed %s split %d bins %zu azim %zu dummy %d dark %d: sums differ\n",
                  sf_dtype_name(t), (int)s, nbins, nazim, v, d);
        }
        sf_azim_variance_azimuthal(&a, fr, dk, dummy, delta, &sf);
        sf_azim_variance_azimuthal_typed(&a, raw, t, dk, dummy, delta, &st);
        if (memcmp(sf.variance, st.variance, a.nrows * sizeof(double))) {
          bad++;
          fprintf(stderr, "typed %s split %d bins %zu azim %zu dummy %d dark %d: azimuthal variance differs\n",
                  sf_dtype_name(t), (int)s, nbins, nazim, v, d);
        }
      }
  }
  CU_ASSERT_EQUAL(bad, 0);
  sums_free(&sf), sums_free(&st);
  sf_azim_free(&a);
  free(mask), free(raw), free(fr), free(dark);
}

static void test_typed_1d(void) {
  for (int s = SF_SPLIT_NO; s <= SF_SPLIT_FULL; s++) {
    check_typed((sf_azim_split)s, 40, 0, 0);
    check_typed((sf_azim_split)s, 40, 0, 1);
    check_typed((sf_azim_split)s, 3000, 0, 1); /* sums in the caller's arrays */
  }
  check_typed(SF_SPLIT_NO, 70000, 0, 1); /* one row per pixel, no compact form */
}

static void test_typed_2d(void) {
  for (int s = SF_SPLIT_NO; s <= SF_SPLIT_FULL; s++) {
    check_typed((sf_azim_split)s, 20, 8, 0);
    check_typed((sf_azim_split)s, 20, 8, 1);
  }
}

/* Nonzero when two tables differ in any byte of any array. */
static int table_differs(const sf_azim *a, const sf_azim *b) {
#define SAME_N(f, n) (((a->f == NULL) == (b->f == NULL)) && (!a->f || (n) == 0 || !memcmp(a->f, b->f, (n) * sizeof *a->f)))
  if (a->h != b->h || a->w != b->w || a->npix != b->npix || a->nrows != b->nrows ||
      a->nbins != b->nbins || a->nazim != b->nazim || a->nnz != b->nnz || a->nov != b->nov)
    return 1;
  size_t np = a->npix, nr = a->nrows, nz = a->nnz, no = a->nov;
  int same = SAME_N(indptr, nr + 1) && SAME_N(indices, nz) && SAME_N(data, nz) && SAME_N(norm, np) &&
             SAME_N(radial, a->nbins) && SAME_N(azimuthal, a->nazim) && SAME_N(pix_row, np) &&
             SAME_N(row_norm, nr) && SAME_N(row_count, nr) && SAME_N(px_row, np) &&
             SAME_N(px_w, 2 * np) && SAME_N(ov_pix, no) && SAME_N(ov_row, no) && SAME_N(ov_w, no) &&
             SAME_N(pm_ptr, np + 1) && SAME_N(pm_row, nz) && SAME_N(pm_w, nz);
#undef SAME_N
  return !same;
}

/* The phased build with n ranges, each per-range phase run over the ranges in increasing or
 * (rev) decreasing order, as threads may run them: a range that read another's results of the
 * same phase would see them missing in one of the two orders. */
static int phased_build(const sf_azim_geom *g, const sf_azim_opts *o, const uint8_t *mask,
                        const float *flat, size_t nranges, int rev, sf_azim *a, const char **why) {
  sf_azim_builder *b = NULL;
  int st = sf_azim_builder_create(g, o, mask, flat, nranges, &b, why);
  if (st) return st;
  size_t n = sf_azim_builder_ranges(b);
  int (*const ph[5])(sf_azim_builder *, size_t) = {sf_azim_builder_geometry, sf_azim_builder_extent,
                                                   sf_azim_builder_emit, sf_azim_builder_fill,
                                                   sf_azim_builder_index};
  for (int p = 0; p < 5 && !st; p++) {
    for (size_t i = 0; i < n && !st; i++) st = ph[p](b, rev ? n - 1 - i : i);
    if (!st && p == 1) st = sf_azim_builder_bounds(b, why);
    if (!st && p == 2) st = sf_azim_builder_layout(b, why);
  }
  if (!st) st = sf_azim_builder_finish(b, a);
  sf_azim_builder_destroy(&b);
  CU_ASSERT_PTR_NULL(b);
  return st;
}

/* Any number of ranges gives sf_azim_build's bytes: splits, 1-D and 2-D, a mask that empties
 * the first rows (ranges without a pixel) and pixel 0, a flat, polarisation, user ranges. */
static void check_phased(sf_azim_split s, size_t nbins, size_t nazim, int ranges) {
  sf_azim_geom g = geom(1);
  sf_azim_opts o = opts(s, nbins, nazim);
  o.polarization = 0.95;
  if (ranges) {
    o.radial_lo = 2.0, o.radial_hi = 30.0;
    o.azimuth_lo = -150.0, o.azimuth_hi = 100.0;
  }
  uint8_t *mask = calloc(H * W, 1);
  float *flat = malloc(sizeof(float) * H * W);
  for (size_t k = 0; k < H * W; k++) {
    mask[k] = k < 7 * W || k % 97 == 3 || (k / W) % 13 == 5;
    flat[k] = 0.9f + 0.2f * (float)(k % 11) / 11.0f;
  }
  sf_azim ref, a;
  const char *why = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_azim_build(&g, &o, mask, flat, &ref, &why), 0);
  static const size_t nr[] = {1, 2, 3, 7, 16, 59, H, 1000};
  for (size_t t = 0; t < sizeof nr / sizeof *nr; t++) {
    for (int rev = 0; rev < 2; rev++) {
      CU_ASSERT_EQUAL_FATAL(phased_build(&g, &o, mask, flat, nr[t], rev, &a, &why), 0);
      int differs = table_differs(&ref, &a);
      CU_ASSERT(!differs);
      if (differs)
        fprintf(stderr, "split %d bins %zu x %zu: %zu ranges (order %d) differ\n", (int)s, nbins, nazim, nr[t], rev);
      sf_azim_free(&a);
    }
  }
  /* errors are the serial build's */
  sf_azim_opts bad = o;
  bad.radial_lo = 1e6, bad.radial_hi = 2e6;
  CU_ASSERT_EQUAL(phased_build(&g, &bad, mask, flat, 5, 0, &a, &why), SF_ERR_USAGE);
  CU_ASSERT_PTR_NOT_NULL(why);
  sf_azim_free(&ref);
  free(mask), free(flat);
}

static void test_phased_1d(void) {
  for (int s = SF_SPLIT_NO; s <= SF_SPLIT_FULL; s++) {
    check_phased((sf_azim_split)s, 40, 0, 0);
    check_phased((sf_azim_split)s, 40, 0, 1);
    check_phased((sf_azim_split)s, 3000, 0, 0);
    check_phased((sf_azim_split)s, 2, 0, 0); /* pixels on the last row only */
  }
}

static void test_phased_2d(void) {
  for (int s = SF_SPLIT_NO; s <= SF_SPLIT_FULL; s++) {
    check_phased((sf_azim_split)s, 20, 8, 0);
    check_phased((sf_azim_split)s, 20, 8, 1);
  }
}

static void test_names(void) {
  CU_ASSERT_EQUAL(sf_azim_unit_parse("q_nm^-1"), SF_UNIT_Q_NM);
  CU_ASSERT_EQUAL(sf_azim_unit_parse("2th_deg"), SF_UNIT_2TH_DEG);
  CU_ASSERT_EQUAL(sf_azim_unit_parse("r_mm"), SF_UNIT_R_MM);
  CU_ASSERT_EQUAL(sf_azim_unit_parse("furlong"), -1);
  CU_ASSERT_STRING_EQUAL(sf_azim_unit_name(SF_UNIT_Q_A), "q_A^-1");
  CU_ASSERT_EQUAL(sf_azim_split_parse("full"), SF_SPLIT_FULL);
  CU_ASSERT_EQUAL(sf_azim_split_parse("bbox"), SF_SPLIT_BBOX);
  CU_ASSERT_EQUAL(sf_azim_split_parse("no"), SF_SPLIT_NO);
  CU_ASSERT_EQUAL(sf_azim_split_parse("half"), -1);
}

int main(void) {
  static const sf_test tests[] = {{"2theta of an untilted detector, chi, solid angle", test_two_theta_untilted},
                                  {"chi convention and solid angle at the PONI", test_chi_and_solid_angle_at_poni},
                                  {"q without wavelength is a usage error", test_q_needs_wavelength},
                                  {"no split: weights sum to 1, signal conserved", test_conserve_no},
                                  {"bbox: weights sum to 1, signal conserved", test_conserve_bbox},
                                  {"full: weights sum to 1, signal conserved", test_conserve_full},
                                  {"2-D no split: conserved", test_conserve_no_2d},
                                  {"2-D bbox: conserved", test_conserve_bbox_2d},
                                  {"2-D full: builds, sums match the table", test_full_2d_builds},
                                  {"empty bins give 0", test_result_empty_bins},
                                  {"ranges that select nothing are usage errors", test_empty_ranges},
                                  {"skipped pixels = masked pixels (no split)", test_skipped_no},
                                  {"skipped pixels = masked pixels (bbox)", test_skipped_bbox},
                                  {"skipped pixels = masked pixels (full)", test_skipped_full},
                                  {"skipped pixels, 3000 rows", test_skipped_large},
                                  {"skipped pixels, 2-D", test_skipped_2d},
                                  {"typed frames = float frames, byte for byte (1-D)", test_typed_1d},
                                  {"typed frames = float frames, byte for byte (2-D)", test_typed_2d},
                                  {"phased build, any ranges: same bytes (1-D)", test_phased_1d},
                                  {"phased build, any ranges: same bytes (2-D)", test_phased_2d},
                                  {"unit and split names", test_names},
                                  {NULL, NULL}};
  return sf_cunit_run("azim", tests);
}
