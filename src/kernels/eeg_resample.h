/* MNE-style FFT resampling for the EEG chain (specs/eeg.md section 4.4): mne.filter.resample
 * with method='fft', window='boxcar', npad='auto', pad='reflect_limited' (MNE 1.10 defaults of
 * raw.resample), in double precision. Plan once per (length, ratio) (FFTW planning is not
 * thread-safe), then execute from any number of threads, each with its own workspace. Pure:
 * no MPI, HDF5, OpenMP or printing. */
#ifndef SF_EEG_RESAMPLE_H
#define SF_EEG_RESAMPLE_H

#include <stddef.h>

typedef struct sf_resample_fft sf_resample_fft;
typedef struct sf_resample_fft_ws sf_resample_fft_ws;

/* Plans the resampling of n samples by ratio = up/down, computed in double as MNE does
 * (float(up) / down; e.g. 10.0 / 1.0 or 1.0 / 10.0). As MNE: min_add = 2 min(n / 8, 100),
 * npad = 2^ceil(log2(n + min_add)) - n split as (npad / 2, npad - npad / 2) before / after;
 * padded length L = n + npad, new padded length M = max(round(ratio L), 1), output length
 * max(round(ratio n), 1), to_remove[0] = round(ratio npad_before) (Python's round: half to
 * even). Makes the FFTW plans (r2c of L, c2r of M). Not thread-safe. Returns 0,
 * SF_ERR_INPUT (n == 0, ratio not finite and > 0, lengths beyond int) or SF_ERR_NOMEM. */
int sf_resample_fft_plan(size_t n, double ratio, sf_resample_fft **out);

/* Input length, output length (max(round(ratio n), 1)), padded lengths and left padding. */
size_t sf_resample_fft_n_in(const sf_resample_fft *p);
size_t sf_resample_fft_n_out(const sf_resample_fft *p);
size_t sf_resample_fft_len_padded(const sf_resample_fft *p);
size_t sf_resample_fft_len_padded_out(const sf_resample_fft *p);
size_t sf_resample_fft_pad_before(const sf_resample_fft *p);
/* Samples dropped at the start of the resampled padded signal, round(ratio pad_before).
 * As in MNE, output sample j sits at input time (j + remove_before) L / M - pad_before: a
 * sub-sample shift whenever ratio pad_before is not whole, and a step L / M that differs
 * slightly from 1 / ratio whenever ratio L is not whole (downsampling a power of two). */
size_t sf_resample_fft_remove_before(const sf_resample_fft *p);

/* Allocates one thread's workspace. Thread-safe. Returns 0 or SF_ERR_NOMEM. */
int sf_resample_fft_ws_create(const sf_resample_fft *p, sf_resample_fft_ws **out);

/* Resamples x (n_in samples) into y (n_out samples): x padded with reflect_limited (odd
 * reflection 2 x[0] - x[k], 2 x[n-1] - x[n-1-k], then zeros where the pad exceeds n - 1), rfft
 * of length L; when u = min(L, M) is even, bin u/2 times 2 (down) or 0.5 (up); times M / L
 * (the folded boxcar window); irfft to length M (spectrum truncated or zero-extended, the
 * imaginary parts of DC and, M even, Nyquist ignored, as numpy's irfft); samples from
 * to_remove[0] on. Allocation-free; thread-safe on distinct workspaces. Returns 0, or
 * SF_ERR_INPUT when x and y overlap as the same pointer. */
int sf_resample_fft_execute(const sf_resample_fft *p, const double *x, double *y,
                            sf_resample_fft_ws *ws);

/* Free; accept NULL and set the handle to NULL. */
void sf_resample_fft_ws_destroy(sf_resample_fft_ws **ws);
void sf_resample_fft_destroy(sf_resample_fft **p);

#endif
