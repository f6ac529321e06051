/* MNE-style FFT resampling (specs/eeg.md section 4.4): lengths and padding, up x10 then down
 * x10 back to a band-limited input, sines keep amplitude and phase, and equality with numpy's
 * rfft/irfft written as MNE's _fft_resample (tests/tools/eeg_resample_ref.py; skipped without
 * /usr/bin/python3 and numpy). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/eeg_resample.h"
#include "sf_cunit.h"
#include "sf_error.h"

#ifndef SF_EEG_RESAMPLE_REF
#define SF_EEG_RESAMPLE_REF "eeg_resample_ref.py"
#endif

static double rnd(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Resamples x (n) by ratio into a new array (*m samples); output sample j sits at input time
 * *t0 + j *dt (dt = L / M, the padded lengths, which is 1 / ratio only when ratio L is whole). */
static double *resample(const double *x, size_t n, double ratio, size_t *m, double *t0,
                        double *dt) {
  sf_resample_fft *p = NULL;
  sf_resample_fft_ws *w = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_resample_fft_plan(n, ratio, &p), 0);
  CU_ASSERT_EQUAL_FATAL(sf_resample_fft_ws_create(p, &w), 0);
  *m = sf_resample_fft_n_out(p);
  /* input time of output sample 0 (MNE's padding removal) */
  double step = (double)sf_resample_fft_len_padded(p) / (double)sf_resample_fft_len_padded_out(p);
  if (dt) *dt = step;
  if (t0) *t0 = (double)sf_resample_fft_remove_before(p) * step - (double)sf_resample_fft_pad_before(p);
  double *y = malloc(*m * sizeof(double));
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_EQUAL(sf_resample_fft_execute(p, x, y, w), 0);
  sf_resample_fft_ws_destroy(&w);
  sf_resample_fft_destroy(&p);
  CU_ASSERT_PTR_NULL(p);
  CU_ASSERT_PTR_NULL(w);
  return y;
}

static void test_lengths(void) {
  const struct {
    size_t n;
    double ratio;
    size_t out, L, pad0, rm0;
  } c[] = {{1000, 10.0, 10000, 2048, 524, 5240}, {1001, 10.0, 10010, 2048, 523, 5230},
           {1000, 0.1, 100, 2048, 524, 52},      {1005, 0.1, 100, 2048, 521, 52},
           {25, 0.1, 2, 32, 3, 0},               {5, 0.1, 1, 8, 1, 0},
           {1000, 2.0, 2000, 2048, 524, 1048},   {10000, 0.1, 1000, 16384, 3192, 319},
           {97, 0.5, 48, 128, 15, 8},            {1, 10.0, 10, 1, 0, 0}};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    sf_resample_fft *p = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_resample_fft_plan(c[i].n, c[i].ratio, &p), 0);
    CU_ASSERT_EQUAL(sf_resample_fft_n_in(p), c[i].n);
    CU_ASSERT_EQUAL(sf_resample_fft_n_out(p), c[i].out);
    CU_ASSERT_EQUAL(sf_resample_fft_len_padded(p), c[i].L);
    CU_ASSERT_EQUAL(sf_resample_fft_pad_before(p), c[i].pad0);
    CU_ASSERT_EQUAL(sf_resample_fft_remove_before(p), c[i].rm0);
    if (sf_resample_fft_n_out(p) != c[i].out || sf_resample_fft_len_padded(p) != c[i].L ||
        sf_resample_fft_pad_before(p) != c[i].pad0 || sf_resample_fft_remove_before(p) != c[i].rm0)
      printf("\n  n %zu ratio %g: out %zu L %zu pad0 %zu rm0 %zu\n", c[i].n, c[i].ratio,
             sf_resample_fft_n_out(p), sf_resample_fft_len_padded(p), sf_resample_fft_pad_before(p),
             sf_resample_fft_remove_before(p));
    sf_resample_fft_destroy(&p);
  }
}

/* A band-limited signal (well below the Nyquist of the decimated rate). */
static double bl(double t) {
  return 1.3 * sin(2 * M_PI * 0.013 * t + 0.4) + 0.7 * cos(2 * M_PI * 0.071 * t - 1.1) +
         0.4 * sin(2 * M_PI * 0.19 * t + 2.0);
}

static void test_round_trip(void) {
  const size_t ns[] = {1000, 1337, 2048, 997};
  for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
    size_t n = ns[c], m = 0, k = 0;
    double *x = malloc(n * sizeof(double)), tu = 0.0, td = 0.0, su = 0.0, sd = 0.0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    for (size_t i = 0; i < n; i++) x[i] = bl((double)i);
    double *u = resample(x, n, 10.0, &m, &tu, &su);
    CU_ASSERT_EQUAL(m, 10 * n);
    double *d = resample(u, m, 0.1, &k, &td, &sd);
    CU_ASSERT_EQUAL_FATAL(k, n);
    /* d[j] sits at upsampled time td + j sd, input time tu + (td + j sd) su */
    double err = 0.0, shift = tu + td * su;
    for (size_t j = n / 5; j < n - n / 5; j++)
      err = fmax(err, fabs(d[j] - bl(tu + (td + (double)j * sd) * su)));
    CU_ASSERT(fabs(shift) <= 0.5 && fabs(sd * su - 1.0) < 1e-3);
    CU_ASSERT(err < 1e-3);
    if (!(err < 1e-3)) printf("\n  n %zu: round-trip error %g (shift %g)\n", n, err, shift);
    free(x), free(u), free(d);
  }
}

static void test_sines(void) {
  const struct {
    size_t n;
    double ratio, f; /* f in cycles per input sample */
  } c[] = {{2000, 10.0, 0.01}, {1999, 10.0, 0.23}, {5000, 0.1, 0.002},
           {4001, 0.1, 0.031}, {1500, 2.0, 0.3},   {1501, 0.5, 0.12}};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    size_t n = c[i].n, m = 0;
    double ph = 0.7, t0 = 0.0, dt = 0.0, err = 0.0;
    double *x = malloc(n * sizeof(double));
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    for (size_t k = 0; k < n; k++) x[k] = 2.5 * sin(2 * M_PI * c[i].f * (double)k + ph);
    double *y = resample(x, n, c[i].ratio, &m, &t0, &dt);
    for (size_t j = m / 4; j < m - m / 4; j++) {
      double t = t0 + (double)j * dt;
      err = fmax(err, fabs(y[j] - 2.5 * sin(2 * M_PI * c[i].f * t + ph)));
    }
    CU_ASSERT(err < 2e-3);
    if (!(err < 2e-3)) printf("\n  n %zu ratio %g f %g: sine error %g\n", n, c[i].ratio, c[i].f, err);
    free(x), free(y);
  }
}

static void test_reference(void) {
  const struct {
    size_t n;
    const char *up, *down;
  } c[] = {{1000, "10", "1"}, {1001, "10", "1"}, {997, "10", "1"}, {4096, "1", "10"},
           {3001, "1", "10"}, {7919, "1", "10"}, {1000, "2", "1"}, {333, "2", "1"},
           {101, "2", "1"},   {5, "1", "10"},    {17, "10", "1"}};
  int checked = 0;
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    unsigned long long seed = 1234 + i, s = seed;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %zu %s %s %llu 2>/dev/null",
             SF_EEG_RESAMPLE_REF, c[i].n, c[i].up, c[i].down, seed);
    FILE *pp = popen(cmd, "r");
    if (!pp) break;
    size_t m = 0;
    double *ref = NULL;
    int ok = fscanf(pp, "%zu", &m) == 1 && m > 0 && (ref = malloc(m * sizeof(double)));
    for (size_t k = 0; ok && k < m; k++) ok = fscanf(pp, "%lf", &ref[k]) == 1;
    int rc = pclose(pp);
    if (!ok || rc != 0) {
      free(ref);
      printf("\n  skipped: /usr/bin/python3 with numpy is unavailable (%s)\n", cmd);
      return;
    }
    double *x = malloc(c[i].n * sizeof(double));
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    for (size_t k = 0; k < c[i].n; k++) x[k] = rnd(&s);
    size_t my = 0;
    double *y = resample(x, c[i].n, atof(c[i].up) / atof(c[i].down), &my, NULL, NULL);
    CU_ASSERT_EQUAL(my, m);
    double err = 0.0;
    if (my == m)
      for (size_t k = 0; k < m; k++) err = fmax(err, fabs(y[k] - ref[k]));
    CU_ASSERT(err <= 1e-9);
    if (!(err <= 1e-9 && my == m))
      printf("\n  n %zu %s/%s: %zu vs %zu samples, max error %g\n", c[i].n, c[i].up, c[i].down,
             my, m, err);
    checked++;
    free(x), free(y), free(ref);
  }
  CU_ASSERT(checked == (int)(sizeof c / sizeof c[0]));
}

static void test_bad_input(void) {
  sf_resample_fft *p = NULL;
  CU_ASSERT_EQUAL(sf_resample_fft_plan(0, 10.0, &p), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_resample_fft_plan(100, 0.0, &p), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_resample_fft_plan(100, -2.0, &p), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_resample_fft_plan(100, NAN, &p), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_resample_fft_plan(100, INFINITY, &p), SF_ERR_INPUT);
  CU_ASSERT_PTR_NULL(p);
  CU_ASSERT_EQUAL_FATAL(sf_resample_fft_plan(100, 2.0, &p), 0);
  sf_resample_fft_ws *w = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_resample_fft_ws_create(p, &w), 0);
  double x[200] = {0};
  CU_ASSERT_EQUAL(sf_resample_fft_execute(p, x, x, w), SF_ERR_INPUT);
  sf_resample_fft_ws_destroy(&w);
  sf_resample_fft_destroy(&p);
  sf_resample_fft_destroy(&p);
  sf_resample_fft_ws_destroy(NULL);
}

int main(void) {
  const sf_test tests[] = {{"lengths and padding", test_lengths},
                           {"up x10 then down x10", test_round_trip},
                           {"sines keep amplitude and phase", test_sines},
                           {"equals numpy reimplementation of MNE", test_reference},
                           {"bad input", test_bad_input},
                           {NULL, NULL}};
  return sf_cunit_run("eeg_resample", tests);
}
