/* Averaged artifact subtraction kernels (kernels/eeg_aas), each slabflow decision named
 * (specs/eeg.md decision 1, MATLAB FACET semantics where FACETpy deviates): the artifact length
 * rule with and without volume gaps; the alignment search window 3 x upsample (MATLAB) finds
 * what FACETpy's effective +-3 samples misses; Allen blocks with their correlation threshold;
 * per-epoch least-squares scaling on; overlapping epochs assigned, not subtracted twice. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/eeg_aas.h"
#include "sf_cunit.h"
#include "sf_error.h"

static void test_artifact_length(void) {
  /* slice triggers 100/101 apart: no gaps, L = max */
  long long t[40];
  t[0] = 50;
  for (int i = 1; i < 40; i++) t[i] = t[i - 1] + (i % 3 ? 100 : 101);
  size_t L = 0, spv = 0;
  int gaps = -1;
  double thr = 0;
  CU_ASSERT_EQUAL(sf_eeg_artifact_length(t, 40, &L, &gaps, &spv, &thr), 0);
  CU_ASSERT_EQUAL(L, 101);
  CU_ASSERT_EQUAL(gaps, 0);
  CU_ASSERT(isinf(thr));
  /* volumes of 8 slices 100 apart with a 400-sample gap: L = the longest slice interval,
   * the gap above the threshold, 8 slices per volume */
  t[0] = 0;
  for (int i = 1; i < 40; i++) t[i] = t[i - 1] + (i % 8 ? 100 + (i % 2) : 400);
  CU_ASSERT_EQUAL(sf_eeg_artifact_length(t, 40, &L, &gaps, &spv, &thr), 0);
  CU_ASSERT_EQUAL(L, 101);
  CU_ASSERT_EQUAL(gaps, 1);
  CU_ASSERT_EQUAL(spv, 8);
  CU_ASSERT(thr > 101 && thr < 400);
  /* bad input */
  CU_ASSERT_EQUAL(sf_eeg_artifact_length(t, 1, &L, NULL, NULL, NULL), SF_ERR_INPUT);
  long long same[3] = {5, 5, 9};
  CU_ASSERT_EQUAL(sf_eeg_artifact_length(same, 3, &L, NULL, NULL, NULL), SF_ERR_INPUT);
}

/* A chirp-like burst as an artifact template. */
static double burst(double s) { return s < 0 || s > 300 ? 0.0 : sin(0.002 * s * s) * (1.0 + s / 100.0); }

static void test_search_window(void) {
  /* at x10 upsampling a trigger off by 2.5 native samples is 25 upsampled samples: MATLAB's
   * window 3 x upsample = 30 finds it, FACETpy's effective +-3 does not */
  size_t n = 2000, ly = 300;
  double *x = calloc(n, sizeof *x), *y = calloc(ly, sizeof *y);
  for (size_t i = 0; i < ly; i++) y[i] = burst((double)i);
  long long at = 800, shift = 25;
  for (size_t i = 0; i < n; i++) x[i] = burst((double)i - (double)(at + shift));
  CU_ASSERT_EQUAL(sf_eeg_xcorr_shift(x, n, at, y, ly, 30), shift);
  CU_ASSERT_NOT_EQUAL(sf_eeg_xcorr_shift(x, n, at, y, ly, 3), shift);
  /* negative shifts see data before the segment (not zeros) */
  for (size_t i = 0; i < n; i++) x[i] = burst((double)i - (double)(at - 17));
  CU_ASSERT_EQUAL(sf_eeg_xcorr_shift(x, n, at, y, ly, 30), -17);
  /* flat data: no shift */
  memset(x, 0, n * sizeof *x);
  CU_ASSERT_EQUAL(sf_eeg_xcorr_shift(x, n, at, y, ly, 30), 0);
  free(x), free(y);
}

static void test_allen_threshold(void) {
  /* 30 epochs of one artifact plus small noise; epoch 12 is a different waveform: it stays
   * out of the block's average (correlation below 0.975), the others join */
  size_t L = 200, nt = 30, n = 40 * L;
  long long t[30];
  double *x = calloc(n, sizeof *x), *a = calloc(L, sizeof *a);
  unsigned s = 7;
  for (size_t i = 0; i < nt; i++) t[i] = (long long)(L + i * L);
  for (size_t i = 0; i < nt; i++)
    for (size_t j = 0; j < L; j++) {
      s = s * 1103515245u + 12345u;
      double noise = ((double)(s >> 8) / 16777216.0 - 0.5) * 0.01;
      x[t[i] + j] = (i == 12 ? cos(0.07 * (double)j) : burst((double)j * 1.5)) + noise;
    }
  size_t k = sf_aas_block_template(x, n, 0.0, t, nt, 0, L, 30, 0.975, 0, a);
  CU_ASSERT_EQUAL(k, 29);
  double e = 0;
  for (size_t j = 0; j < L; j++) e = fmax(e, fabs(a[j] - burst((double)j * 1.5)));
  CU_ASSERT(e < 0.01);
  /* threshold 0: everything joins; the seeds (first 5) always do */
  CU_ASSERT_EQUAL(sf_aas_block_template(x, n, 0.0, t, nt, 0, L, 30, -1.0, 0, a), 30);
  CU_ASSERT_EQUAL(sf_aas_block_template(x, n, 0.0, t, nt, 0, L, 30, 1.0, 0, a), 5);
  /* second block of 30 from 30 triggers: empty */
  CU_ASSERT_EQUAL(sf_aas_block_template(x, n, 0.0, t, nt, 0, L, 30, 0.975, 1, a), 0);
  /* the template is of the de-meaned channel */
  sf_aas_block_template(x, n, 0.25, t, nt, 0, L, 30, 0.975, 0, a);
  CU_ASSERT(fabs(a[10] - (burst(15.0) - 0.25)) < 0.01);
  free(x), free(a);
}

static void test_alpha_on(void) {
  /* per-epoch least-squares scaling (MATLAB's, FACETpy's default off): an epoch at 1.7 times
   * the template gets alpha 1.7 and is removed completely */
  size_t L = 100, n = 1000;
  double *x = calloc(n, sizeof *x), *a = calloc(L, sizeof *a);
  for (size_t j = 0; j < L; j++) a[j] = burst((double)j * 3);
  for (size_t j = 0; j < L; j++) x[300 + j] = 1.7 * a[j] + 2.0;
  double al = sf_aas_alpha(x, n, 2.0, 300, a, L);
  CU_ASSERT(fabs(al - 1.7) < 1e-12);
  for (size_t j = 0; j < L; j++) x[300 + j] -= 2.0;
  sf_aas_subtract(x, NULL, n, 300, 300 + L, al, a, L);
  double e = 0;
  for (size_t i = 0; i < n; i++) e = fmax(e, fabs(x[i]));
  CU_ASSERT(e < 1e-12);
  /* a zero template: alpha 1, nothing happens */
  memset(a, 0, L * sizeof *a);
  CU_ASSERT_EQUAL(sf_aas_alpha(x, n, 0.0, 300, a, L), 1.0);
  free(x), free(a);
}

static void test_overlap_assigned(void) {
  /* epochs of 100 samples 80 apart: the 20 overlapping samples belong to the later epoch
   * (MATLAB assigns; FACETpy subtracts both) */
  size_t L = 100, n = 400;
  double *x = calloc(n, sizeof *x), *noise = calloc(n, sizeof *noise), *a = malloc(L * sizeof *a);
  for (size_t j = 0; j < L; j++) a[j] = 1.0;
  long long s0 = 50, s1 = 130;
  sf_aas_subtract(x, noise, n, s0, s1, 1.0, a, L);
  sf_aas_subtract(x, noise, n, s1, s1 + (long long)L, 1.0, a, L);
  for (size_t i = 0; i < n; i++) {
    double want = (i >= 50 && i < 230) ? -1.0 : 0.0;
    CU_ASSERT_EQUAL(x[i], want);
    CU_ASSERT_EQUAL(noise[i], -want);
  }
  /* clipped at the channel's ends */
  memset(x, 0, n * sizeof *x);
  sf_aas_subtract(x, NULL, n, -30, 70, 2.0, a, L);
  sf_aas_subtract(x, NULL, n, 350, 450, 2.0, a, L);
  CU_ASSERT_EQUAL(x[0], -2.0);
  CU_ASSERT_EQUAL(x[69], -2.0);
  CU_ASSERT_EQUAL(x[70], 0.0);
  CU_ASSERT_EQUAL(x[399], -2.0);
  CU_ASSERT_EQUAL(sf_aas_epoch_inside(-30, 0, L, n), 0);
  CU_ASSERT_EQUAL(sf_aas_epoch_inside(300, 0, L, n), 1);
  CU_ASSERT_EQUAL(sf_aas_epoch_inside(301, 0, L, n), 0);
  free(x), free(noise), free(a);
}

int main(void) {
  const sf_test tests[] = {{"artifact length, volume gaps", test_artifact_length},
                           {"search window 3 x upsample (MATLAB), not +-3", test_search_window},
                           {"Allen blocks with the correlation threshold", test_allen_threshold},
                           {"per-epoch least-squares scaling on", test_alpha_on},
                           {"overlapping epochs assigned, not subtracted twice", test_overlap_assigned},
                           {NULL, NULL}};
  return sf_cunit_run("eeg_aas", tests);
}
