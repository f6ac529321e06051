/* MNE-style zero-phase FIR filters (specs/eeg.md section 4.1): tap counts, taps against
 * scipy.signal.firwin through tests/tools/eeg_filter_ref.py, the frequency response, the
 * overlap-add against a direct convolution with the same padding, sines through the filter. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/eeg_filter.h"
#include "sf_cunit.h"
#include "sf_error.h"

#ifndef SF_EEG_FILTER_REF
#define SF_EEG_FILTER_REF "eeg_filter_ref.py"
#endif

static double rnd(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Zero-phase response of symmetric taps at f Hz (real: the delay is compensated). */
static double response(const sf_fir *f, double fs, double hz) {
  size_t n = sf_fir_ntaps(f), c = (n - 1) / 2;
  const double *h = sf_fir_taps(f);
  double s = h[c];
  for (size_t k = 1; k <= c; k++) s += 2.0 * h[c + k] * cos(2.0 * M_PI * hz * (double)k / fs);
  return s;
}

static void test_tap_counts(void) {
  const struct {
    double fs, l, h;
    size_t n;
  } c[] = {{2048, 1, NAN, 6759},   {2048, NAN, 70, 387}, {1000, 0.5, NAN, 6601},
           {250, 1, 40, 825},      {5000, NAN, 100, 661}, {100, NAN, 40, 33},
           {2048, 0.5, 70, 13517}, {500, 30, NAN, 221}};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    sf_fir *f = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_fir_design(c[i].fs, c[i].l, c[i].h, &f), 0);
    CU_ASSERT_EQUAL(sf_fir_ntaps(f), c[i].n);
    if (sf_fir_ntaps(f) != c[i].n)
      printf("\n  fs %g l %g h %g: %zu taps, expected %zu\n", c[i].fs, c[i].l, c[i].h,
             sf_fir_ntaps(f), c[i].n);
    const double *h = sf_fir_taps(f);
    size_t n = sf_fir_ntaps(f);
    double asym = 0.0;
    for (size_t k = 0; k < n / 2; k++) asym = fmax(asym, fabs(h[k] - h[n - 1 - k]));
    CU_ASSERT(asym < 1e-15);
    sf_fir_destroy(&f);
    CU_ASSERT_PTR_NULL(f);
  }
}

static void test_taps_scipy(void) {
  const struct {
    const char *fs, *l, *h;
  } c[] = {{"2048", "1", "nan"}, {"2048", "nan", "70"}, {"250", "1", "40"},
           {"100", "nan", "40"}, {"500", "30", "nan"}, {"1000", "7.3", "33.3"},
           {"2048", "0.5", "70"}};
  size_t checked = 0;
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s %s 2>/dev/null", SF_EEG_FILTER_REF,
             c[i].fs, c[i].l, c[i].h);
    FILE *p = popen(cmd, "r");
    if (!p) break;
    size_t n = 0;
    double *ref = NULL;
    int ok = fscanf(p, "%zu", &n) == 1 && n > 0 && (ref = malloc(n * sizeof(double)));
    for (size_t k = 0; ok && k < n; k++) ok = fscanf(p, "%lf", &ref[k]) == 1;
    int rc = pclose(p);
    if (!ok || rc != 0) {
      free(ref);
      printf("\n  skipped: /usr/bin/python3 with scipy is unavailable (%s)\n", cmd);
      return;
    }
    sf_fir *f = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_fir_design(atof(c[i].fs), atof(c[i].l), atof(c[i].h), &f), 0);
    CU_ASSERT_EQUAL(sf_fir_ntaps(f), n);
    double err = 0.0;
    if (sf_fir_ntaps(f) == n)
      for (size_t k = 0; k < n; k++) err = fmax(err, fabs(sf_fir_taps(f)[k] - ref[k]));
    CU_ASSERT(err <= 1e-12);
    if (!(err <= 1e-12)) printf("\n  fs %s l %s h %s: max tap error %g\n", c[i].fs, c[i].l, c[i].h, err);
    checked++;
    sf_fir_destroy(&f);
    free(ref);
  }
  CU_ASSERT(checked == sizeof c / sizeof c[0]);
}

/* -6 dB (gain 0.5 +- 0.005) at the middle of each transition band, passband ripple of a
 * Hamming window (< 0.0035 per edge; a band-pass adds its two edges' ripples), its stopband
 * attenuation (~53 dB; checked >= 50 dB), DC gain 1 (LP) or 0 (HP, BP). */
static void check_response(double fs, double l, double h) {
  sf_fir *f = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_fir_design(fs, l, h, &f), 0);
  double nyq = fs / 2;
  double ltb = isnan(l) ? 0 : fmin(fmax(0.25 * l, 2.0), l);
  double htb = isnan(h) ? 0 : fmin(fmax(0.25 * h, 2.0), nyq - h);
  double ripple = 0.0, stop = 0.0;
  if (!isnan(l)) CU_ASSERT(fabs(response(f, fs, l - ltb / 2) - 0.5) < 5e-3);
  if (!isnan(h)) CU_ASSERT(fabs(response(f, fs, h + htb / 2) - 0.5) < 5e-3);
  for (int i = 0; i <= 4000; i++) {
    double hz = nyq * i / 4000.0, r = response(f, fs, hz);
    int pass = (isnan(l) || hz >= l) && (isnan(h) || hz <= h);
    int stopband = (!isnan(l) && hz <= l - ltb) || (!isnan(h) && hz >= h + htb);
    if (pass) ripple = fmax(ripple, fabs(r - 1.0));
    if (stopband) stop = fmax(stop, fabs(r));
  }
  double max_ripple = 3.5e-3 * (double)(!isnan(l) + !isnan(h));
  CU_ASSERT(ripple < max_ripple);
  CU_ASSERT(stop < pow(10.0, -50.0 / 20.0));
  if (!(ripple < max_ripple) || !(stop < pow(10.0, -50.0 / 20.0)))
    printf("\n  fs %g l %g h %g: ripple %g, stopband %.1f dB\n", fs, l, h, ripple, 20 * log10(stop));
  CU_ASSERT(fabs(response(f, fs, 0.0) - (isnan(l) ? 1.0 : 0.0)) < 1e-12);
  sf_fir_destroy(&f);
}

static void test_response(void) {
  check_response(2048, 1, NAN);
  check_response(2048, NAN, 70);
  check_response(250, 1, 40);
  check_response(500, 30, NAN);
  check_response(1000, 7.3, 33.3);
}

/* y[i] = sum_k h[k] xp[i + e + c - k] on the explicitly padded signal, zeros outside. */
static void direct(const sf_fir *f, const double *x, size_t n, double *y) {
  size_t N = sf_fir_ntaps(f), e = (N < n ? N : n) - 1, np = n + 2 * e, c = (N - 1) / 2;
  const double *h = sf_fir_taps(f);
  double *xp = malloc(np * sizeof(double));
  for (size_t j = 0; j < e; j++) xp[j] = 2 * x[0] - x[e - j];
  memcpy(xp + e, x, n * sizeof(double));
  for (size_t j = 0; j < e; j++) xp[e + n + j] = 2 * x[n - 1] - x[n - 2 - j];
  for (size_t i = 0; i < n; i++) {
    double s = 0.0;
    for (size_t k = 0; k < N; k++) {
      long long j = (long long)(i + e + c) - (long long)k;
      if (j >= 0 && j < (long long)np) s += h[k] * xp[j];
    }
    y[i] = s;
  }
  free(xp);
}

static void check_apply(double fs, double l, double h, const size_t *lens, size_t nl) {
  sf_fir *f = NULL;
  sf_fir_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_fir_design(fs, l, h, &f), 0);
  CU_ASSERT_EQUAL_FATAL(sf_fir_ws_create(f, &ws), 0);
  unsigned long long s = 12345;
  for (size_t t = 0; t < nl; t++) {
    size_t n = lens[t];
    double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double)),
           *r = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) x[i] = rnd(&s) + 0.3;
    CU_ASSERT_EQUAL(sf_fir_apply_zero_phase(f, x, n, y, ws), 0);
    direct(f, x, n, r);
    double err = 0.0;
    for (size_t i = 0; i < n; i++) err = fmax(err, fabs(y[i] - r[i]));
    CU_ASSERT(err < 1e-10);
    if (!(err < 1e-10)) printf("\n  %zu taps, n %zu: max error %g\n", sf_fir_ntaps(f), n, err);
    free(x), free(y), free(r);
  }
  sf_fir_ws_destroy(&ws);
  CU_ASSERT_PTR_NULL(ws);
  sf_fir_destroy(&f);
}

static void test_apply_direct(void) {
  const size_t a[] = {1, 2, 3, 7, 100, 386, 387, 388, 1000, 5000, 20011};
  check_apply(2048, NAN, 70, a, sizeof a / sizeof a[0]);
  const size_t b[] = {2, 10, 824, 825, 826, 3001};
  check_apply(250, 1, 40, b, sizeof b / sizeof b[0]);
  const size_t c[] = {5, 220, 221, 222, 4000};
  check_apply(500, 30, NAN, c, sizeof c / sizeof c[0]);
}

/* A passband sine comes through with its amplitude and phase; a stopband one loses > 40 dB
 * (away from the edges, where the reflection is not the sine's continuation). */
static void check_sine(double fs, double l, double h, double hz, int pass) {
  sf_fir *f = NULL;
  sf_fir_ws *ws = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_fir_design(fs, l, h, &f), 0);
  CU_ASSERT_EQUAL_FATAL(sf_fir_ws_create(f, &ws), 0);
  size_t N = sf_fir_ntaps(f), n = 4 * N + 5000;
  double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) x[i] = sin(2 * M_PI * hz * (double)i / fs + 0.7);
  CU_ASSERT_EQUAL(sf_fir_apply_zero_phase(f, x, n, y, ws), 0);
  double err = 0.0, ey = 0.0, ex = 0.0;
  for (size_t i = N; i < n - N; i++) {
    err = fmax(err, fabs(y[i] - x[i]));
    ey += y[i] * y[i], ex += x[i] * x[i];
  }
  if (pass) {
    CU_ASSERT(err < 4e-3);
  } else {
    CU_ASSERT(10 * log10(ey / ex) < -40.0);
  }
  free(x), free(y);
  sf_fir_ws_destroy(&ws);
  sf_fir_destroy(&f);
}

static void test_sines(void) {
  check_sine(2048, NAN, 70, 10, 1);
  check_sine(2048, NAN, 70, 200, 0);
  check_sine(2048, 1, NAN, 10, 1);
  check_sine(500, 30, NAN, 5, 0);
  check_sine(500, 30, NAN, 60, 1);
  check_sine(250, 1, 40, 12.5, 1);
  check_sine(250, 1, 40, 70, 0);
}

/* The team version: the serial bytes for 1, 2 and 3 threads. */
static void check_team(double fs, double l, double h, size_t n) {
  sf_fir *f = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_fir_design(fs, l, h, &f), 0);
  sf_fir_ws *ws[3] = {0};
  for (int t = 0; t < 3; t++) CU_ASSERT_EQUAL_FATAL(sf_fir_ws_create(f, &ws[t]), 0);
  double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double)), *z = malloc(n * sizeof(double));
  double *scratch = malloc((sf_fir_team_scratch(f, n) + 1) * sizeof(double));
  for (size_t i = 0; i < n; i++) x[i] = sin(0.013 * (double)i) * 100.0 + (double)((i * 7919) % 101) - 50.0;
  CU_ASSERT_EQUAL(sf_fir_apply_zero_phase(f, x, n, y, ws[0]), 0);
  for (int th = 1; th <= 3; th++) {
    int st[3] = {0};
    memset(z, 0xff, n * sizeof(double));
#pragma omp parallel num_threads(th)
    st[omp_get_thread_num()] = sf_fir_apply_zero_phase_team(f, x, n, z, ws[omp_get_thread_num()], scratch);
    for (int t = 0; t < th; t++) CU_ASSERT_EQUAL(st[t], 0);
    CU_ASSERT(memcmp(y, z, n * sizeof(double)) == 0);
  }
  free(x), free(y), free(z), free(scratch);
  for (int t = 0; t < 3; t++) sf_fir_ws_destroy(&ws[t]);
  sf_fir_destroy(&f);
}

static void test_team(void) {
  check_team(2048, 1, NAN, 245760);
  check_team(2048, NAN, 70, 245760);
  check_team(2048, NAN, 70, 1000);
  check_team(250, 1, 40, 3001);
  check_team(500, 30, NAN, 7);
}

static void test_bad_input(void) {
  sf_fir *f = (sf_fir *)1;
  CU_ASSERT_EQUAL(sf_fir_design(0, 1, NAN, &f), SF_ERR_INPUT);
  CU_ASSERT_PTR_NULL(f);
  CU_ASSERT_EQUAL(sf_fir_design(1000, NAN, NAN, &f), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_fir_design(1000, 40, 10, &f), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_fir_design(1000, NAN, 500, &f), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_fir_design(1000, -1, NAN, &f), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_fir_design(1000, INFINITY, NAN, &f), SF_ERR_INPUT);
  sf_fir_destroy(NULL);
  sf_fir_ws_destroy(NULL);
}

int main(void) {
  const sf_test tests[] = {{"tap counts", test_tap_counts},
                           {"taps equal scipy firwin", test_taps_scipy},
                           {"frequency response", test_response},
                           {"overlap-add equals direct convolution", test_apply_direct},
                           {"sines through the filter", test_sines},
                           {"the team version gives the serial bytes", test_team},
                           {"bad input", test_bad_input},
                           {NULL, NULL}};
  return sf_cunit_run("eeg_filter", tests);
}
