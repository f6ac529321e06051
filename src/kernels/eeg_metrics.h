/* FACET's evaluation metrics for one channel (specs/eeg.md section 5; MATLAB @Eval), for the
 * eeg pipeline's /metrics. Pure: no MPI, HDF5, OpenMP or printing. Deterministic (sequential
 * sums in a fixed order). */
#ifndef SF_EEG_METRICS_H
#define SF_EEG_METRICS_H

#include <stddef.h>

typedef struct sf_eeg_metrics {
  double snr;            /* var(Ref) / max(var(corr in A) - var(Ref), 1e-10) */
  double rms_ratio;      /* RMS(orig in A) / RMS(corr in A) */
  double rms_residual;   /* std(corr in A) / std(Ref); target 1 */
  double median_p2p;     /* median over epochs of the peak-to-peak of corr */
  double median_p2p_ref; /* the same over consecutive L-sample chunks of Ref */
} sf_eeg_metrics;

/* Metrics of one channel: orig as read, corr corrected (both n samples at the native rate fs,
 * Hz); t: nt triggers (native samples, sorted; every acquisition block's, A spans first to
 * last); L: artifact length and off: epoch offset (native samples). A = [t0 - floor(L/2),
 * t_end + floor(1.5 L)) clipped to [0, n); Ref = the samples i of corr with i/fs < t0/fs - 0.1
 * or i/fs > (t_end + L)/fs + 0.1 (section 5). Variances and standard deviations are population
 * ones (numpy's ddof = 0). median_p2p: over the epochs [t + off, t + off + L) clipped to
 * [0, n) (empty ones skipped); median_p2p_ref: over the floor(|Ref|/L) whole chunks of Ref's
 * samples in order (the part before A, then the part after); a median of an even count is the
 * mean of the middle two. A value whose inputs are missing (no Ref, empty A, no epochs) or whose
 * denominator is zero is NaN. Local. Returns 0, SF_ERR_INPUT (NULL data, n, nt or L zero,
 * unsorted triggers, fs not positive) or SF_ERR_NOMEM. */
int sf_eeg_metrics_compute(const double *orig, const double *corr, size_t n, double fs,
                           const long long *t, size_t nt, size_t L, long off, sf_eeg_metrics *m);

#endif
