/* Adaptive noise cancellation of the residual gradient artifact (specs/eeg.md section 3e,
 * MATLAB FACET AdaptiveNoiseCancellation + fastranc semantics, decision 1): one channel at the
 * native rate, after down-sampling and low-pass. The high-pass for the LMS input is a firls
 * FIR applied forward-backward, designed once per run (it depends only on the triggers and the
 * rate). Double precision; deterministic (sequential sums in a fixed order). Pure: no MPI,
 * HDF5, OpenMP or printing. */
#ifndef SF_EEG_ANC_H
#define SF_EEG_ANC_H

#include <stddef.h>

typedef struct sf_anc sf_anc;
typedef struct sf_anc_ws sf_anc_ws;

/* The ANC high-pass cutoff (Hz): max(0.75 k, 0.5) with k >= 1 the number of trigger intervals
 * until t[k] - t[0] >= fs (MATLAB's slice-trigger rule); k = max(nt - 1, 1) when the triggers
 * never span a second. t sorted, native samples. Local. */
double sf_anc_hp_freq(const long long *t, size_t nt, double fs);

/* Odd tap count of the ANC high-pass: round(1.2 fs / (0.85 f_hp)) (half to even, as Python)
 * made odd by adding one when even. Local. */
size_t sf_anc_hp_taps(double f_hp, double fs);

/* Designs the ANC high-pass for triggers t (nt, sorted, native samples) at rate fs (Hz):
 * firls(taps, [0, 0.85 f_hp, f_hp, fs/2], [0, 0, 1, 1]) with f_hp = sf_anc_hp_freq and taps =
 * sf_anc_hp_taps, plus its FFTW plans. O(taps^3) (a Cholesky of size (taps+1)/2): call once per
 * run. Not thread-safe (FFTW planning). Local. Returns 0, SF_ERR_INPUT or SF_ERR_NOMEM. */
int sf_anc_create(const long long *t, size_t nt, double fs, sf_anc **out);

double sf_anc_f_hp(const sf_anc *a);
size_t sf_anc_ntaps(const sf_anc *a);
const double *sf_anc_taps(const sf_anc *a);

/* One thread's workspace for windows of up to wmax samples. Thread-safe. Returns 0 or
 * SF_ERR_NOMEM. */
int sf_anc_ws_create(const sf_anc *a, size_t wmax, sf_anc_ws **out);

/* ANC on eeg[w0, w1) (native rate): d = filtfilt(h, 1, eeg[w0, w1)) (scipy padding); reference
 * r = noise[w0, w1), scaled by alpha = <d,r>/<r,r>; N = art_len capped at w1 - w0 - 1; mu =
 * 0.05 / (N var(r)) (MATLAB var, n - 1 normalisation); LMS with N + 1 weights from 0: for i >= N,
 * y_i = sum_j w_j r_{i-N+j}, e_i = d_i - y_i, w_j += 2 mu e_i r_{i-N+j}; y = 0 for i < N. Then
 * eeg[w0, w1) -= y and noise[w0, w1) += y. Skipped, data untouched, when max|y| > 50 max|eeg| or
 * y is not finite, or when r is zero or constant (alpha or mu undefined). Allocation-free;
 * thread-safe on distinct workspaces and data. Local. Returns 0 (applied), 1 (skipped),
 * SF_ERR_INPUT (w1 - w0 < 2, over the workspace, art_len 0). */
int sf_anc_execute(const sf_anc *a, double *eeg, double *noise, size_t w0, size_t w1,
                   size_t art_len, sf_anc_ws *ws);

/* One-shot create + workspace + execute + destroy (sf_anc_execute's semantics). Local.
 * Returns 0 (applied), 1 (skipped) or SF_ERR_*. */
int sf_anc_apply(double *eeg, double *noise, size_t w0, size_t w1, const long long *t, size_t nt,
                 size_t art_len, double fs);

/* Free; accept NULL and set the handle to NULL. */
void sf_anc_ws_destroy(sf_anc_ws **ws);
void sf_anc_destroy(sf_anc **a);

#endif
