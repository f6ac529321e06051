/* Averaged artifact subtraction for EEG-fMRI (specs/eeg.md sections 2.2, 2.6, 2.7, 3a):
 * artifact length from the trigger intervals, the cross-correlation shift used by slice
 * alignment and realignment, Allen et al. (2000) averaging blocks with correlation-based
 * selection, per-epoch least-squares scaling and subtraction. MATLAB FACET semantics
 * (decision 1): epochs that overlap are assigned, not subtracted twice.
 *
 * Positions are 0-based sample indices of one channel x (length n); epoch i is
 * [t[i] + off, t[i] + off + L) (off may be negative). Samples of an epoch outside [0, n) are
 * zero. Double precision; no allocation; every function is thread-safe on distinct outputs. */
#ifndef SF_EEG_AAS_H
#define SF_EEG_AAS_H

#include <stddef.h>

/* Artifact length of sorted triggers t (n >= 2), rule 2.2: with d = diff(t), when
 * max(d) - min(d) <= 3 there are no volume gaps and L = max(d); otherwise, with m =
 * (median(d) + max(d)) / 2, L = the largest d below m, the intervals >= m are volume gaps and
 * *slices_per_volume is the median run length between gaps; *gap_threshold gets m (an
 * interval >= m is a volume gap), or INFINITY without gaps. Any output pointer may be NULL.
 * Returns 0, or SF_ERR_INPUT for fewer than 2 triggers or triggers not increasing. Local. */
int sf_eeg_artifact_length(const long long *t, size_t n, size_t *L, int *volume_gaps,
                           size_t *slices_per_volume, double *gap_threshold);

/* The lag l in [-sw, sw] maximising c(l) = sum_{u < ly} y[u] x(s + u + l), where x(j) is
 * x[j] inside [0, nx) and 0 outside (FACET's xcorr shift, specs 2.6, with data on both sides
 * of the segment rather than zeros for negative lags). The first maximum from -sw wins, and
 * a non-finite or flat c gives 0 (no shift). Local. */
long sf_eeg_xcorr_shift(const double *x, size_t nx, long long s, const double *y, size_t ly,
                        long sw);

/* Whether epoch i lies wholly inside [0, n). */
static inline int sf_aas_epoch_inside(long long t, long off, size_t L, size_t n) {
  long long s = t + off;
  return s >= 0 && (unsigned long long)s + L <= n;
}

/* The template of Allen block b (epochs [b W, b W + W) clipped to nt), specs 3a.2-3: the
 * seed is the block's first 5 epochs; every later epoch of the block (in order) joins when
 * its Pearson correlation with the mean of those chosen so far exceeds thr. Epochs not wholly
 * inside the channel neither seed nor join. tmpl (L) = mean of the chosen epochs of x minus
 * mean (the channel's mean: templates of the de-meaned channel). Returns the number of epochs
 * averaged (0: tmpl is zero). Local. */
size_t sf_aas_block_template(const double *x, size_t n, double mean, const long long *t,
                             size_t nt, long off, size_t L, size_t W, double thr, size_t b,
                             double *tmpl);

/* Least-squares scale of template a (L) on epoch [s, s + L) of x - mean (zero outside
 * [0, n)): <x - mean, a> / <a, a>; 1 when <a, a> is 0 or the result is not finite. Local. */
double sf_aas_alpha(const double *x, size_t n, double mean, long long s, const double *a,
                    size_t L);

/* x[j] -= alpha a[j - s] for j in [s, min(s + L, e)) clipped to [0, n), where e bounds the
 * epoch at the next epoch's start (assignment: the later epoch owns the overlap); noise
 * (may be NULL) gets += the same. Local. */
void sf_aas_subtract(double *x, double *noise, size_t n, long long s, long long e, double alpha,
                     const double *a, size_t L);

#endif
