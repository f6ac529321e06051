/* firls design and filtfilt against scipy.signal (tests/tools/eeg_firls_ref.py, skipped
 * without scipy) and a direct implementation; adaptive noise cancellation (specs/eeg.md
 * section 3e, MATLAB fastranc semantics): a known scaled copy of the reference is removed,
 * y moves from the EEG to the noise, the divergence and NaN skips leave the data untouched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/eeg_anc.h"
#include "kernels/eeg_firls.h"
#include "sf_cunit.h"
#include "sf_error.h"

#ifndef SF_EEG_FIRLS_REF
#define SF_EEG_FIRLS_REF "eeg_firls_ref.py"
#endif

static double rnd(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Reads "n v0 v1 ..." from a python reference; NULL (and a note) when it cannot run. */
static double *run_ref(const char *cmd, size_t *n) {
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  double *v = NULL;
  int ok = fscanf(p, "%zu", n) == 1 && *n > 0 && (v = malloc(*n * sizeof(double)));
  for (size_t k = 0; ok && k < *n; k++)
    ok = fscanf(p, "%lf", &v[k]) == 1;
  int rc = pclose(p);
  if (!ok || rc != 0) {
    free(v);
    printf("\n  skipped: /usr/bin/python3 with scipy is unavailable (%s)\n", cmd);
    return NULL;
  }
  return v;
}

static void test_firls_scipy(void) {
  const struct {
    size_t ntaps;
    double fs, b[4], d[4];
  } c[] = {{7, 100, {0, 10, 20, 50}, {0, 0, 1, 1}},
           {47, 250, {0, 0.85 * 7.5, 7.5, 125}, {0, 0, 1, 1}},      /* ANC, slice triggers */
           {1883, 1000, {0, 0.85 * 0.75, 0.75, 500}, {0, 0, 1, 1}}, /* ANC, volume triggers */
           {101, 5000, {0, 60, 80, 2500}, {0, 0, 1, 1}},            /* OBS high-pass 70 Hz */
           {1001, 20480, {0, 290, 310, 10240}, {0, 0, 1, 1}},       /* OBS 300 Hz, x10 */
           {31, 500, {0, 70, 80.5, 250}, {1, 1, 0, 0}},             /* FinalLP-like */
           {41, 200, {0, 20, 30, 100}, {0.5, 1, 0.2, 0}}};          /* sloped bands */
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s firls %zu %.17g %.17g %.17g %.17g %.17g %g %g %g %g 2>/dev/null",
             SF_EEG_FIRLS_REF, c[i].ntaps, c[i].fs, c[i].b[0], c[i].b[1], c[i].b[2], c[i].b[3],
             c[i].d[0], c[i].d[1], c[i].d[2], c[i].d[3]);
    size_t n = 0;
    double *ref = run_ref(cmd, &n);
    if (!ref) return;
    double *h = malloc(c[i].ntaps * sizeof(double));
    CU_ASSERT_EQUAL_FATAL(sf_firls_design(c[i].ntaps, c[i].b, c[i].d, 2, c[i].fs, h), 0);
    CU_ASSERT_EQUAL(n, c[i].ntaps);
    double err = 0.0, mx = 0.0;
    for (size_t k = 0; n == c[i].ntaps && k < n; k++)
      err = fmax(err, fabs(h[k] - ref[k])), mx = fmax(mx, fabs(ref[k]));
    CU_ASSERT(err <= 1e-9 * mx);
    if (!(err <= 1e-9 * mx)) printf("\n  firls %zu taps: max error %g (max tap %g)\n", n, err, mx);
    for (size_t k = 0; k < c[i].ntaps / 2; k++)
      CU_ASSERT(h[k] == h[c[i].ntaps - 1 - k]);
    free(h);
    free(ref);
  }
}

/* Zero-phase response of the symmetric taps at f Hz. */
static double response(const double *h, size_t n, double fs, double hz) {
  size_t c = (n - 1) / 2;
  double s = h[c];
  for (size_t k = 1; k <= c; k++)
    s += 2.0 * h[c + k] * cos(2.0 * M_PI * hz * (double)k / fs);
  return s;
}

static void test_firls_response(void) {
  /* The ANC high-pass at 250 Hz with slice triggers every 0.1 s: f_hp = 7.5 Hz, 47 taps. */
  long long t[40];
  for (int i = 0; i < 40; i++)
    t[i] = 100 + 25 * i;
  sf_anc *a = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_anc_create(t, 40, 250.0, &a), 0);
  CU_ASSERT_DOUBLE_EQUAL(sf_anc_f_hp(a), 7.5, 1e-15);
  CU_ASSERT_EQUAL(sf_anc_ntaps(a), 47);
  const double *h = sf_anc_taps(a);
  CU_ASSERT(fabs(response(h, 47, 250, 0.0)) < 0.15); /* 47 taps: a gentle slope */
  CU_ASSERT(fabs(response(h, 47, 250, 60.0) - 1.0) < 0.05);
  sf_anc_destroy(&a);
  CU_ASSERT_PTR_NULL(a);
}

/* filtfilt(h, 1, x) written out: odd extension by p, constant past per pass, strip. */
static void filtfilt_direct(const double *h, size_t N, const double *x, size_t n, double *y) {
  size_t p = 3 * N < n - 1 ? 3 * N : n - 1, m = n + 2 * p;
  double *e = malloc(m * sizeof(double)), *f = malloc(m * sizeof(double));
  for (size_t j = 0; j < p; j++)
    e[j] = 2 * x[0] - x[p - j];
  memcpy(e + p, x, n * sizeof(double));
  for (size_t j = 0; j < p; j++)
    e[p + n + j] = 2 * x[n - 1] - x[n - 2 - j];
  for (size_t i = 0; i < m; i++) {
    double s = 0;
    for (size_t k = 0; k < N; k++)
      s += h[k] * (k <= i ? e[i - k] : e[0]);
    f[i] = s;
  }
  for (size_t i = 0; i < m; i++) { /* backward: over the reversed sequence */
    double s = 0;
    for (size_t k = 0; k < N; k++)
      s += h[k] * (k <= i ? f[m - 1 - (i - k)] : f[m - 1]);
    e[m - 1 - i] = s;
  }
  for (size_t i = 0; i < n; i++)
    y[i] = e[p + i];
  free(e), free(f);
}

static void test_filtfilt(void) {
  const size_t N = 101;
  const double b[4] = {0, 60, 80, 2500}, d[4] = {0, 0, 1, 1};
  double h[101], hasym[13];
  CU_ASSERT_EQUAL_FATAL(sf_firls_design(N, b, d, 2, 5000, h), 0);
  unsigned long long s = 7;
  for (int k = 0; k < 13; k++)
    hasym[k] = rnd(&s);
  const size_t lens[] = {1, 2, 3, 50, 302, 303, 304, 1000, 5000};
  for (int which = 0; which < 2; which++) {
    const double *hh = which ? hasym : h;
    size_t nh = which ? 13 : N;
    sf_filtfilt *f = NULL;
    sf_filtfilt_ws *ws = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_filtfilt_create(hh, nh, &f), 0);
    CU_ASSERT_EQUAL_FATAL(sf_filtfilt_ws_create(f, 5000, &ws), 0);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
      size_t n = lens[li];
      double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
      double *r = malloc(n * sizeof(double));
      for (size_t i = 0; i < n; i++)
        x[i] = 3 * sin(0.01 * (double)i) + rnd(&s) + 0.5;
      CU_ASSERT_EQUAL(sf_filtfilt_execute(f, x, n, y, ws), 0);
      filtfilt_direct(hh, nh, x, n, r);
      double err = 0;
      for (size_t i = 0; i < n; i++)
        err = fmax(err, fabs(y[i] - r[i]));
      CU_ASSERT(err < 1e-11);
      if (!(err < 1e-11)) printf("\n  filtfilt n %zu taps %zu: error %g\n", n, nh, err);
      memcpy(r, x, n * sizeof(double)); /* in place */
      CU_ASSERT_EQUAL(sf_filtfilt_execute(f, r, n, r, ws), 0);
      CU_ASSERT(memcmp(r, y, n * sizeof(double)) == 0);
      free(x), free(y), free(r);
    }
    double z[2] = {0, 0};
    CU_ASSERT_EQUAL(sf_filtfilt_execute(f, z, 5001, z, ws), SF_ERR_INPUT);
    sf_filtfilt_ws_destroy(&ws);
    sf_filtfilt_destroy(&f);
    CU_ASSERT_PTR_NULL(f);
  }
}

static void test_filtfilt_scipy(void) {
  const size_t N = 101, n = 4000;
  const double b[4] = {0, 60, 80, 2500}, d[4] = {0, 0, 1, 1};
  double h[101];
  CU_ASSERT_EQUAL_FATAL(sf_firls_design(N, b, d, 2, 5000, h), 0);
  double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
  unsigned long long s = 11;
  for (size_t i = 0; i < n; i++)
    x[i] = 10 * sin(0.003 * (double)i) + rnd(&s) + 2.0;
  char path[] = "/tmp/sf_eeg_filtfilt_XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  fprintf(fp, "%zu\n", N);
  for (size_t k = 0; k < N; k++)
    fprintf(fp, "%.17g\n", h[k]);
  fprintf(fp, "%zu\n", n);
  for (size_t i = 0; i < n; i++)
    fprintf(fp, "%.17g\n", x[i]);
  fclose(fp);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s filtfilt %s 2>/dev/null", SF_EEG_FIRLS_REF, path);
  size_t nr = 0;
  double *ref = run_ref(cmd, &nr);
  unlink(path);
  if (ref) {
    sf_filtfilt *f = NULL;
    sf_filtfilt_ws *ws = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_filtfilt_create(h, N, &f), 0);
    CU_ASSERT_EQUAL_FATAL(sf_filtfilt_ws_create(f, n, &ws), 0);
    CU_ASSERT_EQUAL(sf_filtfilt_execute(f, x, n, y, ws), 0);
    CU_ASSERT_EQUAL(nr, n);
    double err = 0;
    for (size_t i = 0; nr == n && i < n; i++)
      err = fmax(err, fabs(y[i] - ref[i]));
    CU_ASSERT(err < 1e-11);
    if (!(err < 1e-11)) printf("\n  filtfilt vs scipy: error %g\n", err);
    sf_filtfilt_ws_destroy(&ws);
    sf_filtfilt_destroy(&f);
  }
  free(ref), free(x), free(y);
}

static void test_hp_rule(void) {
  long long t[100];
  for (int i = 0; i < 100; i++)
    t[i] = 25 * i;
  CU_ASSERT_DOUBLE_EQUAL(sf_anc_hp_freq(t, 100, 250), 7.5, 1e-15); /* k = 10 */
  for (int i = 0; i < 100; i++)
    t[i] = 1000 * i;
  CU_ASSERT_DOUBLE_EQUAL(sf_anc_hp_freq(t, 100, 2048), 2.25, 1e-15); /* k = 3 */
  CU_ASSERT_DOUBLE_EQUAL(sf_anc_hp_freq(t, 100, 500), 0.75, 1e-15);  /* volume triggers, k = 1 */
  CU_ASSERT_DOUBLE_EQUAL(sf_anc_hp_freq(t, 1, 500), 0.75, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(sf_anc_hp_freq(t, 2, 5000), 0.75, 1e-15); /* never a second: nt - 1 */
  CU_ASSERT_EQUAL(sf_anc_hp_taps(7.5, 250), 47);
  CU_ASSERT_EQUAL(sf_anc_hp_taps(0.75, 5000), 9413);
  CU_ASSERT_EQUAL(sf_anc_hp_taps(0.75, 1000), 1883);
}

/* A slice-periodic artifact reference: a fixed zero-mean pattern of 25 samples (harmonics of
 * 10 Hz up to Nyquist), its amplitude slowly modulated; the EEG gets c times it. */
static void make_case(size_t n, double fs, double c, double *eeg, double *noise, double *clean) {
  unsigned long long s = 3;
  double pat[25], mean = 0;
  for (int k = 0; k < 25; k++)
    pat[k] = 50 * rnd(&s), mean += pat[k] / 25;
  for (size_t i = 0; i < n; i++) {
    double ts = (double)i / fs;
    double art = (pat[i % 25] - mean) * (1.0 + 0.2 * sin(2 * M_PI * 0.05 * ts));
    noise[i] = art;
    clean[i] = 5 * sin(2 * M_PI * 1.3 * ts) + 0.5 * rnd(&s);
    eeg[i] = clean[i] + c * art;
  }
}

static void test_anc_removes(void) {
  const double fs = 250;
  const size_t n = 250 * 60, w0 = 500, w1 = n - 500, art = 25;
  long long t[600];
  size_t nt = 0;
  for (size_t i = w0; i + 25 <= w1 && nt < 600; i += 25)
    t[nt++] = (long long)i;
  double *eeg = malloc(n * sizeof(double)), *noise = malloc(n * sizeof(double));
  double *clean = malloc(n * sizeof(double)), *e0 = malloc(n * sizeof(double));
  double *n0 = malloc(n * sizeof(double));
  make_case(n, fs, 0.3, eeg, noise, clean);
  memcpy(e0, eeg, n * sizeof(double));
  memcpy(n0, noise, n * sizeof(double));
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, w0, w1, t, nt, art, fs), 0);
  double before = 0, after = 0, moved = 0;
  size_t cnt = 0;
  for (size_t i = 0; i < n; i++) {
    if (i < w0 || i >= w1) {
      CU_ASSERT(eeg[i] == e0[i] && noise[i] == n0[i]);
      continue;
    }
    moved = fmax(moved, fabs((e0[i] - eeg[i]) - (noise[i] - n0[i])));
    if (i < w0 + (w1 - w0) / 4) continue; /* LMS settling */
    before += (e0[i] - clean[i]) * (e0[i] - clean[i]);
    after += (eeg[i] - clean[i]) * (eeg[i] - clean[i]);
    cnt++;
  }
  double db = 10 * log10(after / before);
  printf("\n  ANC: residual artifact %.1f dB\n", db);
  CU_ASSERT(db < -20.0);
  CU_ASSERT(moved < 1e-9);
  /* Deterministic: the same bytes again. */
  double *e2 = malloc(n * sizeof(double)), *n2 = malloc(n * sizeof(double));
  memcpy(e2, e0, n * sizeof(double));
  memcpy(n2, n0, n * sizeof(double));
  CU_ASSERT_EQUAL(sf_anc_apply(e2, n2, w0, w1, t, nt, art, fs), 0);
  CU_ASSERT(memcmp(e2, eeg, n * sizeof(double)) == 0 && memcmp(n2, noise, n * sizeof(double)) == 0);
  free(eeg), free(noise), free(clean), free(e0), free(n0), free(e2), free(n2);
}

/* The same ANC written out with numpy over scipy's firls and filtfilt (eeg_firls_ref.py anc). */
static void check_anc_numpy(double c, int diverge) {
  const double fs = 250;
  const size_t n = 250 * 60, w0 = 500, w1 = n - 500, art = 25;
  long long t[600];
  size_t nt = 0;
  for (size_t i = w0; i + 25 <= w1 && nt < 600; i += 25)
    t[nt++] = (long long)i;
  double *eeg = malloc(n * sizeof(double)), *noise = malloc(n * sizeof(double));
  double *clean = malloc(n * sizeof(double));
  make_case(n, fs, c, eeg, noise, clean);
  if (diverge)
    for (size_t i = 0; i < n; i++)
      noise[i] = i < n - n / 50 ? 0.0 : noise[i];
  char path[] = "/tmp/sf_eeg_anc_XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  fprintf(fp, "%.17g %zu %zu %zu %zu %zu\n", fs, w0, w1, art, nt, n);
  for (size_t i = 0; i < nt; i++)
    fprintf(fp, "%lld\n", t[i]);
  for (size_t i = 0; i < n; i++)
    fprintf(fp, "%.17g\n", eeg[i]);
  for (size_t i = 0; i < n; i++)
    fprintf(fp, "%.17g\n", noise[i]);
  fclose(fp);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s anc %s 2>/dev/null", SF_EEG_FIRLS_REF, path);
  size_t nr = 0;
  double *ref = run_ref(cmd, &nr);
  unlink(path);
  if (ref) {
    CU_ASSERT_EQUAL_FATAL(nr, 2 * n + 1);
    int st = sf_anc_apply(eeg, noise, w0, w1, t, nt, art, fs);
    CU_ASSERT_EQUAL(st, (int)ref[0]);
    double err = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
      err = fmax(err, fmax(fabs(eeg[i] - ref[1 + i]), fabs(noise[i] - ref[1 + n + i])));
      mx = fmax(mx, fabs(ref[1 + i]));
    }
    CU_ASSERT(err <= 1e-9 * mx);
    printf("\n  ANC c %g%s: status %d, max difference from numpy %.3g (max %.3g)", c,
           diverge ? " (diverging)" : "", st, err, mx);
  }
  free(ref), free(eeg), free(noise), free(clean);
}

static void test_anc_numpy(void) {
  check_anc_numpy(0.3, 0);
  check_anc_numpy(-2.0, 0);
  check_anc_numpy(1.0, 1);
}

/* One plan, a workspace per thread, a channel per iteration: the same bytes as one thread. */
static void test_threads_same_bytes(void) {
  enum { NCH = 6 };
  const double fs = 250;
  const size_t n = 250 * 30, art = 25;
  long long t[300];
  for (size_t i = 0; i < 300; i++)
    t[i] = (long long)(25 * i);
  double *eeg[NCH], *noise[NCH], *se[NCH], *sn[NCH], *clean = malloc(n * sizeof(double));
  for (int ch = 0; ch < NCH; ch++) {
    eeg[ch] = malloc(n * sizeof(double)), noise[ch] = malloc(n * sizeof(double));
    se[ch] = malloc(n * sizeof(double)), sn[ch] = malloc(n * sizeof(double));
    make_case(n, fs, 0.2 + 0.3 * ch, eeg[ch], noise[ch], clean);
    memcpy(se[ch], eeg[ch], n * sizeof(double));
    memcpy(sn[ch], noise[ch], n * sizeof(double));
  }
  sf_anc *a = NULL;
  sf_anc_ws *w1 = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_anc_create(t, 300, fs, &a), 0);
  CU_ASSERT_EQUAL_FATAL(sf_anc_ws_create(a, n, &w1), 0);
  for (int ch = 0; ch < NCH; ch++)
    CU_ASSERT_EQUAL(sf_anc_execute(a, se[ch], sn[ch], 0, n, art, w1), 0);
  sf_anc_ws_destroy(&w1);
  int bad = 0;
#pragma omp parallel num_threads(3) reduction(+ : bad)
  {
    sf_anc_ws *w = NULL;
    if (sf_anc_ws_create(a, n, &w) != 0) bad++;
#pragma omp for schedule(dynamic, 1)
    for (int ch = 0; ch < NCH; ch++)
      if (!w || sf_anc_execute(a, eeg[ch], noise[ch], 0, n, art, w) != 0) bad++;
    sf_anc_ws_destroy(&w);
  }
  CU_ASSERT_EQUAL(bad, 0);
  for (int ch = 0; ch < NCH; ch++) {
    CU_ASSERT(memcmp(se[ch], eeg[ch], n * sizeof(double)) == 0);
    CU_ASSERT(memcmp(sn[ch], noise[ch], n * sizeof(double)) == 0);
    free(eeg[ch]), free(noise[ch]), free(se[ch]), free(sn[ch]);
  }
  free(clean);
  sf_anc_destroy(&a);
}

static void test_anc_skips(void) {
  const double fs = 250;
  const size_t n = 250 * 40, art = 25;
  long long t[400];
  for (size_t i = 0; i < 400; i++)
    t[i] = (long long)(25 * i);
  double *eeg = malloc(n * sizeof(double)), *noise = malloc(n * sizeof(double));
  double *e0 = malloc(n * sizeof(double)), *n0 = malloc(n * sizeof(double));
  unsigned long long s = 5;
  /* A reference silent for 99% of the window: mu from its mean power is 100 times too large
   * where it finally starts, and LMS diverges. */
  for (size_t i = 0; i < n; i++) {
    noise[i] = i < n - n / 100 ? 0.0 : 10 * rnd(&s);
    eeg[i] = noise[i] + 0.1 * sin(0.05 * (double)i);
  }
  memcpy(e0, eeg, n * sizeof(double));
  memcpy(n0, noise, n * sizeof(double));
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, 0, n, t, 400, art, fs), 1);
  CU_ASSERT(memcmp(e0, eeg, n * sizeof(double)) == 0 && memcmp(n0, noise, n * sizeof(double)) == 0);
  /* A NaN in the EEG: skipped, untouched. */
  for (size_t i = 0; i < n; i++)
    noise[i] = sin(0.7 * (double)i), eeg[i] = noise[i];
  eeg[n / 2] = NAN;
  memcpy(n0, noise, n * sizeof(double));
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, 0, n, t, 400, art, fs), 1);
  CU_ASSERT(memcmp(n0, noise, n * sizeof(double)) == 0);
  /* A zero reference: nothing to cancel. */
  for (size_t i = 0; i < n; i++)
    noise[i] = 0, eeg[i] = sin(0.7 * (double)i);
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, 0, n, t, 400, art, fs), 1);
  /* Bad input. */
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, 10, 11, t, 400, art, fs), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, 0, n, t, 400, 0, fs), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, 0, n, t, 0, art, fs), SF_ERR_INPUT);
  long long bad[3] = {5, 3, 9};
  CU_ASSERT_EQUAL(sf_anc_apply(eeg, noise, 0, n, bad, 3, art, fs), SF_ERR_INPUT);
  const double bb[4] = {0, 10, 5, 50}, dd[4] = {0, 0, 1, 1};
  double h[7];
  CU_ASSERT_EQUAL(sf_firls_design(8, bb, dd, 2, 100, h), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_firls_design(7, bb, dd, 2, 100, h), SF_ERR_INPUT);
  sf_anc_destroy(NULL);
  sf_anc_ws_destroy(NULL);
  sf_filtfilt_destroy(NULL);
  sf_filtfilt_ws_destroy(NULL);
  free(eeg), free(noise), free(e0), free(n0);
}

int main(void) {
  const sf_test tests[] = {{"firls equals scipy", test_firls_scipy},
                           {"ANC high-pass response", test_firls_response},
                           {"filtfilt equals direct form", test_filtfilt},
                           {"filtfilt equals scipy", test_filtfilt_scipy},
                           {"high-pass cutoff and taps rule", test_hp_rule},
                           {"ANC removes a scaled reference", test_anc_removes},
                           {"ANC equals the numpy reference", test_anc_numpy},
                           {"threads give the same bytes", test_threads_same_bytes},
                           {"ANC skips divergence, NaN, zero reference", test_anc_skips},
                           {NULL, NULL}};
  return sf_cunit_run("eeg_anc", tests);
}
