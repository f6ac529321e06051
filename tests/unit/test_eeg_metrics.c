/* FACET evaluation metrics (specs/eeg.md section 5): a channel built from alternating +-a
 * (reference), +-b (corrected inside A) and +-c (original inside A) segments, whose variances
 * are exact by construction, with a known peak-to-peak per epoch; the expected values computed
 * again here from the definitions; NaN without a reference; bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/eeg_metrics.h"
#include "sf_cunit.h"
#include "sf_error.h"

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double med(double *v, size_t k) {
  qsort(v, k, sizeof(double), cmpd);
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

/* The definitions written out on a sample mask, independently of the kernel's index algebra. */
static void expected(const double *orig, const double *corr, size_t n, double fs,
                     const long long *t, size_t nt, size_t L, long off, sf_eeg_metrics *m) {
  double t0 = (double)t[0], te = (double)t[nt - 1];
  double sa = 0, sr = 0, so2 = 0, sc2 = 0;
  size_t na = 0, nr = 0;
  double *ref = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    double di = (double)i;
    int in_a = di >= t0 - (double)(L / 2) && di < te + floor(1.5 * (double)L);
    int in_r = di / fs < t0 / fs - 0.1 || di / fs > (te + (double)L) / fs + 0.1;
    if (in_a) sa += corr[i], na++, so2 += orig[i] * orig[i], sc2 += corr[i] * corr[i];
    if (in_r) sr += corr[i], ref[nr++] = corr[i];
  }
  double ma = sa / (double)na, mr = nr ? sr / (double)nr : NAN, va = 0, vr = 0;
  for (size_t i = 0; i < n; i++) {
    double di = (double)i;
    if (di >= t0 - (double)(L / 2) && di < te + floor(1.5 * (double)L))
      va += (corr[i] - ma) * (corr[i] - ma);
  }
  for (size_t j = 0; j < nr; j++)
    vr += (ref[j] - mr) * (ref[j] - mr);
  va /= (double)na, vr = nr ? vr / (double)nr : NAN;
  m->snr = vr / fmax(va - vr, 1e-10);
  m->rms_ratio = sqrt(so2 / sc2);
  m->rms_residual = sqrt(va) / sqrt(vr);
  double *p = malloc((nt + n / L + 1) * sizeof(double));
  for (size_t i = 0; i < nt; i++) {
    double mn = INFINITY, mx = -INFINITY;
    for (long long g = t[i] + off; g < t[i] + off + (long long)L; g++)
      if (g >= 0 && g < (long long)n) mn = fmin(mn, corr[g]), mx = fmax(mx, corr[g]);
    p[i] = mx - mn;
  }
  m->median_p2p = med(p, nt);
  size_t nc = nr / L;
  for (size_t c = 0; c < nc; c++) {
    double mn = INFINITY, mx = -INFINITY;
    for (size_t j = c * L; j < (c + 1) * L; j++)
      mn = fmin(mn, ref[j]), mx = fmax(mx, ref[j]);
    p[c] = mx - mn;
  }
  m->median_p2p_ref = nc ? med(p, nc) : NAN;
  free(ref), free(p);
}

static int close_to(double x, double y, double rel) {
  return (isnan(x) && isnan(y)) || fabs(x - y) <= rel * fmax(fabs(y), 1e-300);
}

static void check(const sf_eeg_metrics *got, const sf_eeg_metrics *want) {
  CU_ASSERT(close_to(got->snr, want->snr, 1e-12));
  CU_ASSERT(close_to(got->rms_ratio, want->rms_ratio, 1e-12));
  CU_ASSERT(close_to(got->rms_residual, want->rms_residual, 1e-12));
  CU_ASSERT(close_to(got->median_p2p, want->median_p2p, 1e-15));
  CU_ASSERT(close_to(got->median_p2p_ref, want->median_p2p_ref, 1e-15));
  printf("\n  snr %.6g (%.6g) rms_ratio %.6g (%.6g) rms_residual %.6g (%.6g) p2p %.6g (%.6g) "
         "ref %.6g (%.6g)",
         got->snr, want->snr, got->rms_ratio, want->rms_ratio, got->rms_residual,
         want->rms_residual, got->median_p2p, want->median_p2p, got->median_p2p_ref,
         want->median_p2p_ref);
}

/* fs 250, 40 triggers every 50 samples from 2001, L 40, off -5, n 6001: A = [1981, 4011), Ref =
 * [0, 1976) and [4017, 6001) (0.1 s = 25 samples; sample 4016 is exactly 0.1 s after, not
 * "after"): every piece holds as many + as - samples, so the means are 0 and the variances a^2,
 * b^2 exactly. */
static void build(double *orig, double *corr, size_t n, long long *t, size_t nt, double a, double b,
                  double c, int bumps) {
  for (size_t i = 0; i < nt; i++)
    t[i] = 2001 + 50 * (long long)i;
  for (size_t i = 0; i < n; i++) {
    double s = i % 2 ? -1.0 : 1.0;
    int in_a = i >= 1981 && i < 4011, in_ref = i < 1976 || i > 4016;
    corr[i] = s * (in_a ? b : in_ref ? a : 1000.0); /* the margins count nowhere */
    orig[i] = in_a ? s * c : corr[i];
  }
  if (bumps) /* epoch i gets p2p 2b + i: a bump of i on an even (+b) sample */
    for (size_t i = 0; i < nt; i++)
      corr[t[i] - 5 + 20] += (double)i;
}

static void test_known_values(void) {
  const size_t n = 6001, nt = 40, L = 40;
  const double fs = 250;
  long long t[40];
  double *orig = malloc(n * sizeof(double)), *corr = malloc(n * sizeof(double));
  sf_eeg_metrics m, e;
  /* Without bumps everything is exact: var(Ref) = 4, var(A) = 9, RMS(orig A) = 30. */
  build(orig, corr, n, t, nt, 2.0, 3.0, 30.0, 0);
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(orig, corr, n, fs, t, nt, L, -5, &m), 0);
  expected(orig, corr, n, fs, t, nt, L, -5, &e);
  check(&m, &e);
  CU_ASSERT(fabs(m.snr - 4.0 / 5.0) < 1e-12);
  CU_ASSERT(fabs(m.rms_ratio - 10.0) < 1e-12);
  CU_ASSERT(fabs(m.rms_residual - 1.5) < 1e-12);
  CU_ASSERT(m.median_p2p == 6.0);
  CU_ASSERT(m.median_p2p_ref == 4.0);
  /* With bumps: median over 40 epochs of 6 + i is 6 + 19.5. */
  build(orig, corr, n, t, nt, 2.0, 3.0, 30.0, 1);
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(orig, corr, n, fs, t, nt, L, -5, &m), 0);
  expected(orig, corr, n, fs, t, nt, L, -5, &e);
  check(&m, &e);
  CU_ASSERT(m.median_p2p == 25.5);
  /* A residual smaller than the reference: the SNR denominator floors at 1e-10. */
  build(orig, corr, n, t, nt, 2.0, 1.0, 30.0, 0);
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(orig, corr, n, fs, t, nt, L, -5, &m), 0);
  CU_ASSERT(fabs(m.snr - 4.0 / 1e-10) < 1e-2);
  CU_ASSERT(fabs(m.rms_residual - 0.5) < 1e-12);
  /* Noisy data, against the definitions only. */
  unsigned long long s = 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    corr[i] = (double)(s >> 11) / 9007199254740992.0 - 0.3 + 1e-3 * (double)i;
    orig[i] = corr[i] * 7.0 + 1.0;
  }
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(orig, corr, n, fs, t, nt, L, 3, &m), 0);
  expected(orig, corr, n, fs, t, nt, L, 3, &e);
  check(&m, &e);
  free(orig), free(corr);
}

static void test_no_reference(void) {
  const size_t n = 2980, nt = 59, L = 50;
  long long t[59];
  for (size_t i = 0; i < nt; i++)
    t[i] = 10 + 50 * (long long)i;
  double *orig = malloc(n * sizeof(double)), *corr = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++)
    corr[i] = i % 2 ? -1.0 : 1.0, orig[i] = 3 * corr[i];
  sf_eeg_metrics m;
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(orig, corr, n, 250, t, nt, L, 0, &m), 0);
  CU_ASSERT(isnan(m.snr));
  CU_ASSERT(isnan(m.rms_residual));
  CU_ASSERT(isnan(m.median_p2p_ref));
  CU_ASSERT(fabs(m.rms_ratio - 3.0) < 1e-12);
  CU_ASSERT(m.median_p2p == 2.0);
  /* Epochs beyond the data: none left, NaN. */
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(orig, corr, n, 250, t, nt, L, 5000, &m), 0);
  CU_ASSERT(isnan(m.median_p2p));
  /* Zero corrected data: ratio undefined. */
  memset(corr, 0, n * sizeof(double));
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(orig, corr, n, 250, t, nt, L, 0, &m), 0);
  CU_ASSERT(isnan(m.rms_ratio));
  free(orig), free(corr);
}

static void test_bad_input(void) {
  double x[10] = {0};
  long long t[2] = {5, 3};
  sf_eeg_metrics m;
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(x, x, 10, 100, t, 2, 2, 0, &m), SF_ERR_INPUT);
  CU_ASSERT(isnan(m.snr));
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(x, x, 10, 100, t, 1, 0, 0, &m), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(x, x, 10, 0, t, 1, 2, 0, &m), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(NULL, x, 10, 100, t, 1, 2, 0, &m), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_eeg_metrics_compute(x, x, 0, 100, t, 1, 2, 0, &m), SF_ERR_INPUT);
}

int main(void) {
  const sf_test tests[] = {{"known values", test_known_values},
                           {"NaN without reference", test_no_reference},
                           {"bad input", test_bad_input},
                           {NULL, NULL}};
  return sf_cunit_run("eeg_metrics", tests);
}
