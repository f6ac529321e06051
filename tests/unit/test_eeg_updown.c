/* Upsampling by U and back in thread-shared work items (kernels/eeg_updown): up equals one
 * long irfft of the zero-extended spectrum of the padded input (and the MNE-style resampling of
 * kernels/eeg_resample where both pad to the same power of two), down equals a plain rfft of
 * the padded upsampled signal truncated to the input's bins, up then down is the identity, and
 * the bytes are the same for 1, 2 and 3 threads. */
#include <CUnit/Basic.h>
#include <fftw3.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/eeg_resample.h"
#include "kernels/eeg_updown.h"

static double *signal_of(size_t n, unsigned seed) {
  double *x = malloc(n * sizeof *x);
  unsigned s = seed;
  for (size_t i = 0; i < n; i++) {
    s = s * 1103515245u + 12345u;
    x[i] = 50.0 * sin(0.01 * (double)i) + 3000.0 * sin(0.9 * (double)i + 0.3) * (i % 97 < 40) +
           ((double)(s >> 8) / 16777216.0 - 0.5) * 20.0 + 7.0;
  }
  return x;
}

static void run(const sf_updown *p, const double *x, double *u, double *y, int threads) {
  size_t L = sf_updown_len_padded(p);
  sf_updown_buf *b = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_updown_buf_create(L, 64, &b), 0);
  sf_updown_ws *ws[4] = {0};
  for (int t = 0; t < threads; t++) CU_ASSERT_EQUAL_FATAL(sf_updown_ws_create(L, &ws[t]), 0);
  int st[4] = {0};
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num();
    st[t] |= sf_updown_up(p, x, u, b, ws[t]);
    st[t] |= sf_updown_down(p, u, y, b, ws[t]);
  }
  for (int t = 0; t < threads; t++) {
    CU_ASSERT_EQUAL(st[t], 0);
    sf_updown_ws_destroy(&ws[t]);
  }
  sf_updown_buf_destroy(&b);
}

static int mne_checked;

static void check(size_t n, size_t U) {
  sf_updown *p = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_updown_plan(n, U, &p), 0);
  size_t L = sf_updown_len_padded(p), N = sf_updown_len_up(p), off = sf_updown_offset(p);
  CU_ASSERT_EQUAL(N, U * L);
  double *x = signal_of(n, (unsigned)(n + U)), *u = fftw_malloc(N * sizeof *u), *y = malloc(n * sizeof *y);
  run(p, x, u, y, 1);
  double xmax = 0;
  for (size_t i = 0; i < n; i++) xmax = fmax(xmax, fabs(x[i]));
  /* up: as one irfft of length U L of the padded input's spectrum, zero-extended, Nyquist
   * halved, scaled by 1/L */
  {
    size_t pad0 = off / U, pad1 = L - n - pad0;
    double *xp = fftw_malloc(L * sizeof *xp), *big = fftw_malloc(N * sizeof *big);
    fftw_complex *X = fftw_malloc((N / 2 + 1) * sizeof *X);
    size_t e0 = pad0 < n - 1 ? pad0 : n - 1, e1 = pad1 < n - 1 ? pad1 : n - 1, o = 0;
    for (size_t k = 0; k < pad0 - e0; k++) xp[o++] = 0.0;
    for (size_t k = e0; k >= 1; k--) xp[o++] = 2.0 * x[0] - x[k];
    for (size_t k = 0; k < n; k++) xp[o++] = x[k];
    for (size_t k = 1; k <= e1; k++) xp[o++] = 2.0 * x[n - 1] - x[n - 1 - k];
    for (size_t k = 0; k < pad1 - e1; k++) xp[o++] = 0.0;
    CU_ASSERT_EQUAL_FATAL(o, L);
    fftw_plan fp = fftw_plan_dft_r2c_1d((int)L, xp, X, FFTW_ESTIMATE);
    fftw_execute(fp);
    for (size_t k = L / 2 + 1; k <= N / 2; k++) X[k][0] = X[k][1] = 0.0;
    X[L / 2][0] *= 0.5, X[L / 2][1] *= 0.5;
    X[0][1] = 0.0;
    fftw_plan ip = fftw_plan_dft_c2r_1d((int)N, X, big, FFTW_ESTIMATE);
    fftw_execute(ip);
    double e = 0;
    for (size_t i = 0; i < N; i++) e = fmax(e, fabs(u[i] - big[i] / (double)L));
    CU_ASSERT(e <= 1e-11 * xmax);
    fftw_destroy_plan(fp), fftw_destroy_plan(ip);
    fftw_free(xp), fftw_free(big), fftw_free(X);
  }
  /* where MNE pads to the same power of two: as the MNE-style resampling */
  sf_resample_fft *r = NULL;
  sf_resample_fft_ws *rw = NULL;
  double *ref = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_resample_fft_plan(n, (double)U, &r), 0);
  if (sf_resample_fft_len_padded(r) == L) {
    CU_ASSERT_EQUAL(sf_resample_fft_remove_before(r), off);
    CU_ASSERT_EQUAL_FATAL(sf_resample_fft_n_out(r), U * n);
    CU_ASSERT_EQUAL_FATAL(sf_resample_fft_ws_create(r, &rw), 0);
    ref = malloc(U * n * sizeof *ref);
    CU_ASSERT(sf_resample_fft_execute(r, x, ref, rw) == 0);
    double e = 0;
    for (size_t i = 0; i < U * n; i++) e = fmax(e, fabs(u[off + i] - ref[i]));
    CU_ASSERT(e <= 1e-11 * xmax);
    mne_checked++;
  }
  CU_ASSERT(L <= sf_resample_fft_len_padded(r)); /* never longer than MNE's */
  /* down: bins 0..L/2 of the padded upsampled signal's rfft, Nyquist doubled, irfft L */
  double *in = fftw_malloc(N * sizeof *in), *o = fftw_malloc(L * sizeof *o);
  fftw_complex *S = fftw_malloc((N / 2 + 1) * sizeof *S);
  memcpy(in, u, N * sizeof *in);
  fftw_plan f = fftw_plan_dft_r2c_1d((int)N, in, S, FFTW_ESTIMATE);
  fftw_execute(f);
  S[L / 2][0] *= 2.0;
  S[L / 2][1] = 0.0;
  S[0][1] = 0.0;
  fftw_plan g = fftw_plan_dft_c2r_1d((int)L, S, o, FFTW_ESTIMATE);
  fftw_execute(g);
  size_t pad0 = off / U;
  double ed = 0, eid = 0;
  for (size_t i = 0; i < n; i++) {
    ed = fmax(ed, fabs(y[i] - o[pad0 + i] / (double)N));
    eid = fmax(eid, fabs(y[i] - x[i]));
  }
  CU_ASSERT(ed <= 1e-11 * xmax);
  /* up then down: the identity */
  CU_ASSERT(eid <= 1e-11 * xmax);
  /* threads: the same bytes */
  for (int t = 2; t <= 3; t++) {
    double *u2 = fftw_malloc(N * sizeof *u2), *y2 = malloc(n * sizeof *y2);
    run(p, x, u2, y2, t);
    CU_ASSERT(memcmp(u, u2, N * sizeof *u) == 0);
    CU_ASSERT(memcmp(y, y2, n * sizeof *y) == 0);
    fftw_free(u2);
    free(y2);
  }
  fftw_destroy_plan(f);
  fftw_destroy_plan(g);
  fftw_free(in);
  fftw_free(o);
  fftw_free(S);
  free(ref);
  sf_resample_fft_ws_destroy(&rw);
  sf_resample_fft_destroy(&r);
  free(x);
  fftw_free(u);
  free(y);
  sf_updown_destroy(&p);
}

static void test_lengths(void) {
  check(1000, 10);
  check(4096, 10);
  check(777, 3);
  check(20000, 4);
  check(5001, 7);
  check(3896, 10); /* 3896 + 200 = 4096: a power of two, MNE's length too */
  CU_ASSERT(mne_checked >= 1);
}

static void test_bad(void) {
  sf_updown *p = NULL;
  CU_ASSERT_NOT_EQUAL(sf_updown_plan(1, 10, &p), 0);
  CU_ASSERT_NOT_EQUAL(sf_updown_plan(100, 1, &p), 0);
  CU_ASSERT_NOT_EQUAL(sf_updown_plan(100, 65, &p), 0);
  CU_ASSERT_PTR_NULL(p);
  /* buffers too small for the plan */
  CU_ASSERT_EQUAL_FATAL(sf_updown_plan(1000, 10, &p), 0);
  sf_updown_buf *b = NULL;
  sf_updown_ws *w = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_updown_buf_create(64, 10, &b), 0);
  CU_ASSERT_EQUAL_FATAL(sf_updown_ws_create(64, &w), 0);
  double x[1000] = {0}, *u = malloc(sf_updown_len_up(p) * sizeof *u);
  CU_ASSERT_NOT_EQUAL(sf_updown_up(p, x, u, b, w), 0);
  CU_ASSERT_NOT_EQUAL(sf_updown_down(p, u, x, b, w), 0);
  free(u);
  sf_updown_ws_destroy(&w);
  sf_updown_buf_destroy(&b);
  sf_updown_destroy(&p);
  CU_ASSERT_PTR_NULL(p);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return CU_get_error();
  CU_pSuite s = CU_add_suite("eeg_updown", NULL, NULL);
  CU_add_test(s, "up = zero-extended spectrum (= MNE at a power of two), down = truncated spectrum, identity, threads", test_lengths);
  CU_add_test(s, "bad sizes", test_bad);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned fails = CU_get_number_of_failures();
  CU_cleanup_registry();
  return fails ? 1 : 0;
}
