/* MNE-style zero-phase FIR filters for the EEG chain (specs/eeg.md decision 3, section 4.1):
 * high-, low- and band-pass Hamming-windowed sincs designed as MNE's fir_design='firwin'
 * with filter_length='auto', applied once, delay-compensated, by FFT overlap-add with
 * "reflect_limited" edges. Double precision. Design once (FFTW planning is not thread-safe),
 * then apply from any number of threads, each with its own workspace. Pure: no MPI, HDF5,
 * OpenMP or printing. */
#ifndef SF_EEG_FILTER_H
#define SF_EEG_FILTER_H

#include <stddef.h>

typedef struct sf_fir sf_fir;
typedef struct sf_fir_ws sf_fir_ws;

/* Designs the filter for sampling rate fs (Hz): high-pass when h_freq is NaN, low-pass when
 * l_freq is NaN, band-pass when both are given (0 < l_freq < h_freq < fs/2). Transition bands
 * l_tb = min(max(0.25 l_freq, 2), l_freq), h_tb = min(max(0.25 h_freq, 2), fs/2 - h_freq);
 * taps = ceil(3.3/min(tb) * fs) made odd (MNE's _to_samples of the length in seconds); -6 dB
 * at l_freq - l_tb/2 and h_freq + h_tb/2; each edge is one scipy firwin low-pass of its own
 * odd length round(3.3 fs / tb), centred (MNE's _firwin_design), so DC gain is 1 for a
 * low-pass, 0 for a high-pass (gain 1 at Nyquist) and a band-pass. Also makes the FFTW plans
 * of the overlap-add. Not thread-safe (FFTW planning). Local. Returns 0, SF_ERR_INPUT for
 * bad frequencies, or SF_ERR_NOMEM. Prints nothing. */
int sf_fir_design(double fs, double l_freq, double h_freq, sf_fir **out);

/* Number of taps (odd) and the taps themselves (symmetric, length sf_fir_ntaps). */
size_t sf_fir_ntaps(const sf_fir *f);
const double *sf_fir_taps(const sf_fir *f);

/* FFT length of the overlap-add blocks (a power of two >= 2 ntaps - 1). */
size_t sf_fir_nfft(const sf_fir *f);

/* Allocates one thread's workspace. Thread-safe. Returns 0 or SF_ERR_NOMEM. */
int sf_fir_ws_create(const sf_fir *f, sf_fir_ws **out);

/* Filters x (n samples) into y (n samples, not aliasing x): y[i] = sum_k h[k] xp[i + e +
 * (N-1)/2 - k], the centred (zero-phase) convolution of the padded signal xp, which is x with
 * e = min(N, n) - 1 samples of odd reflection 2 x[0] - x[e-j] before and 2 x[n-1] - x[n-2-j]
 * after, and zeros beyond (MNE's _overlap_add_filter with pad='reflect_limited'). Overlap-add
 * with the designed plans; allocation-free; thread-safe on distinct workspaces. Local.
 * Returns 0, or SF_ERR_INPUT when y aliases x. */
int sf_fir_apply_zero_phase(const sf_fir *f, const double *x, size_t n, double *y,
                            sf_fir_ws *ws);

/* Doubles of shared scratch sf_fir_apply_zero_phase_team needs for n samples. */
size_t sf_fir_team_scratch(const sf_fir *f, size_t n);

/* sf_fir_apply_zero_phase split over an OpenMP team: every thread of the team calls it with the
 * same f, x, n, y and scratch (sf_fir_team_scratch(f, n) doubles) and its own workspace (one
 * thread outside a parallel region works too). The overlap-add blocks are filtered by the
 * threads into scratch, then each output sample sums its blocks in the serial order: the bytes
 * equal sf_fir_apply_zero_phase's for any thread count. Returns 0, or SF_ERR_INPUT when y
 * aliases x (on every thread). */
int sf_fir_apply_zero_phase_team(const sf_fir *f, const double *x, size_t n, double *y,
                                 sf_fir_ws *ws, double *scratch);

/* Free; accept NULL and set the handle to NULL. */
void sf_fir_ws_destroy(sf_fir_ws **ws);
void sf_fir_destroy(sf_fir **f);

#endif
