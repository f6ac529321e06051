/* Optimal basis set (OBS/PCA) removal of the gradient-artifact residual after AAS
 * (specs/eeg.md section 3d; MATLAB FACET FitOBS semantics, decision 1: the projection onto the
 * kept components is subtracted). Runs on one upsampled channel. Double precision;
 * deterministic: a fixed every-2nd-epoch selection, sequential sums in a fixed order, our own
 * eigen-solver (Householder, bisection, inverse iteration). Pure: no MPI, HDF5, OpenMP or
 * printing. */
#ifndef SF_EEG_OBS_H
#define SF_EEG_OBS_H

#include <stddef.h>

typedef struct sf_obs sf_obs;
typedef struct sf_obs_ws sf_obs_ws;

/* MATLAB's 'auto' number of components from the explained variances oev[0..s) (percent,
 * descending): floor(mean(slope_k, cumvar_k, varexp_k)) with 1-based positions: slope_k = j - 1
 * for the first j with |oev[j+1] - oev[j]| < 2 for three consecutive j; cumvar_k = the first
 * position whose cumulative oev exceeds 80; varexp_k = (the first position with oev < 5) - 1.
 * A rule that never fires gives s. The result is clipped to [1, s]. Local. */
int sf_obs_auto_k(const double *oev, size_t s);

/* Designs the PCA-input high-pass for rate fs (Hz) and cutoff hp (Hz, MATLAB OBSHPFrequency,
 * 70 by default): firls of order round(1.2 fs / (hp - 10)) rounded up to even (taps = order +
 * 1), edges [0, hp - 10, hp + 10, fs/2], gains [0, 0, 1, 1], applied forward-backward. Not
 * thread-safe (FFTW planning). Local. Returns 0, SF_ERR_INPUT (hp <= 10, hp + 10 >= fs/2) or
 * SF_ERR_NOMEM. */
int sf_obs_create(double hp, double fs, sf_obs **out);

size_t sf_obs_ntaps(const sf_obs *o);

/* One thread's workspace for channels of up to nmax samples, up to nt triggers and epochs of L
 * samples. Thread-safe. Returns 0 or SF_ERR_NOMEM. */
int sf_obs_ws_create(const sf_obs *o, size_t nmax, size_t nt, size_t L, sf_obs_ws **out);

/* OBS on x (n samples): Ipca = the high-passed x over the span of the epochs [t[i] + off,
 * t[i] + off + L) clipped to [0, n); the PCA matrix holds epochs 1, 3, 5, ... <= nt - 2 (0-based)
 * that lie inside [0, n), each de-meaned; the principal components are the eigenvectors of the
 * smaller of the epochs x epochs Gram matrix and the L x L covariance (the same non-zero
 * spectrum), as time courses; k components (k = 0: sf_obs_auto_k of 100 lambda / sum lambda),
 * clipped to the number of non-zero eigenvalues; PCs 2..k rescaled to the range of PC1; for every
 * epoch fitted = P pinv(P) epoch(Ipca) (an orthonormal basis of span P by modified Gram-Schmidt,
 * dropping dependent columns as pinv's tolerance does; out-of-range samples of clipped epochs
 * count as zero), x[epoch] -= fitted and noise[epoch] += fitted (noise may be NULL). Overlapping
 * epochs are assigned, not subtracted twice: a sample takes the fit of the last epoch covering
 * it (MATLAB's fitted_art(epoch) = ...). t sorted. Writes the k used to *k_used. Allocation-free;
 * thread-safe on distinct workspaces and data. Local. Returns 0 (with *k_used = 0 and x untouched
 * when the PCA epochs do not vary), or SF_ERR_INPUT (no PCA epoch inside [0, n), unsorted
 * triggers, k < 0, n or nt above the workspace's, L not its L). */
int sf_obs_execute(const sf_obs *o, double *x, double *noise, size_t n, const long long *t,
                   size_t nt, long off, size_t L, int k, int *k_used, sf_obs_ws *ws);

/* One-shot create + workspace + execute + destroy (sf_obs_execute's semantics). Local.
 * Returns 0 or SF_ERR_*. */
int sf_obs_apply(double *x, double *noise, size_t n, const long long *t, size_t nt, long off,
                 size_t L, int k, double hp, double fs, int *k_used);

/* Free; accept NULL and set the handle to NULL. */
void sf_obs_ws_destroy(sf_obs_ws **ws);
void sf_obs_destroy(sf_obs **o);

#endif
