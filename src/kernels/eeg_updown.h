/* Upsampling by an integer factor U and back, by FFT, split into work items that threads
 * share without changing a bit (specs/eeg.md section 4.4, decision 3).
 *
 * Up is MNE's raw.resample(U * fs) (eeg_resample.h with ratio U) but for the padded length:
 * the input padded reflect_limited to L >= n + 2 min(n/8, 100) (npad='auto'), where L is the
 * smallest multiple of 4 with no prime factors but 2, 3 and 5 (MNE takes the next power of
 * two, up to twice as long: the same band-limited interpolation, with another period for
 * the padding), its rfft, the spectrum zero-extended to U L with the Nyquist bin halved, the
 * irfft scaled by 1/L. Here the
 * long irfft is computed as U irffts of length L, one per output phase r (u[U m + r]), of the
 * spectrum turned by exp(2 pi i k r / (U L)); the result is kept padded (U L samples) and the
 * upsampled signal proper is u[U pad0 ...].
 *
 * Down takes the padded upsampled signal (U L samples) back to n: its spectrum's bins
 * 0..L/2 (the Nyquist bin doubled, as MNE folds it) through an irfft of length L scaled by
 * 1/(U L), the padding removed. The bins come from U rffts of length L of the polyphase
 * components u[U m + r], turned by exp(-2 pi i k r / (U L)) and summed over r in order. Unlike MNE's DownSample, which pads the trimmed
 * upsampled signal again to a power of two, down reuses up's padded length: up then down is the
 * identity on unchanged data to rounding, and the transforms are U of length L instead of one
 * of about 2 U L.
 *
 * Threads: sf_updown_up and sf_updown_down are called by every thread of an OpenMP team (or by
 * one thread outside any parallel region); they split the U transforms and the loops over bins
 * with orphaned worksharing constructs. Each thread passes its own workspace; the shared
 * buffers (the spectrum and one row of L + 4 doubles per phase: memory about that of the
 * padded upsampled signal) are the caller's sf_updown_buf. The result does not depend on the
 * number of threads. */
#ifndef SF_EEG_UPDOWN_H
#define SF_EEG_UPDOWN_H

#include <stddef.h>

typedef struct sf_updown sf_updown;
typedef struct sf_updown_ws sf_updown_ws;
typedef struct sf_updown_buf sf_updown_buf;

/* Plans for n input samples and factor U (2..64). Returns 0, SF_ERR_INPUT (bad sizes) or
 * SF_ERR_NOMEM. Local. */
int sf_updown_plan(size_t n, size_t U, sf_updown **out);

/* Padded length L, the padded upsampled length U L, and the offset U pad0 of the upsampled
 * signal proper (U n samples) in it. */
size_t sf_updown_len_padded(const sf_updown *p);
size_t sf_updown_len_up(const sf_updown *p);
size_t sf_updown_offset(const sf_updown *p);

/* One thread's workspace, for any plan whose padded length is at most max_L. Local. */
int sf_updown_ws_create(size_t max_L, sf_updown_ws **out);
/* The team's shared buffers, for any plan whose padded length is at most max_L and factor at
 * most max_U. Local. */
int sf_updown_buf_create(size_t max_L, size_t max_U, sf_updown_buf **out);

/* x (n samples) upsampled into u (sf_updown_len_up samples, padded). Every thread of the
 * team calls it with the same p, x, u, buf and its own ws (see above). Returns 0, or
 * SF_ERR_INPUT when buf or ws is too small for p. */
int sf_updown_up(const sf_updown *p, const double *x, double *u, sf_updown_buf *buf,
                 sf_updown_ws *ws);

/* u (sf_updown_len_up samples, padded) downsampled into y (n samples). Same calling rules.
 * Returns 0, or SF_ERR_INPUT when buf or ws is too small for p. */
int sf_updown_down(const sf_updown *p, const double *u, double *y, sf_updown_buf *buf,
                   sf_updown_ws *ws);

/* Free; accept NULL and set the handle to NULL. */
void sf_updown_ws_destroy(sf_updown_ws **ws);
void sf_updown_buf_destroy(sf_updown_buf **b);
void sf_updown_destroy(sf_updown **p);

#endif
