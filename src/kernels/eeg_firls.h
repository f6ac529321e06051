/* Least-squares linear-phase FIR design (MATLAB/scipy firls) and zero-phase forward-backward
 * FIR filtering (scipy.signal.filtfilt(h, 1, x) with its default odd padding) for the EEG
 * chain's ANC and OBS steps (specs/eeg.md sections 3d, 3e). Double precision, FFTW. Design
 * and plan once (FFTW planning is not thread-safe), then filter from any number of threads,
 * each with its own workspace. Pure: no MPI, HDF5, OpenMP or printing. */
#ifndef SF_EEG_FIRLS_H
#define SF_EEG_FIRLS_H

#include <stddef.h>

/* scipy.signal.firls(ntaps, bands, desired, fs=fs) with unit weights: the odd-length (type I)
 * filter whose zero-phase response A(f) = h[M] + 2 sum_k h[M+k] cos(2 pi f k / fs) minimises
 * sum over bands of the integral of (A(f) - D(f))^2, D piecewise linear from desired[2i] at
 * bands[2i] to desired[2i+1] at bands[2i+1] (Hz, 0 <= ... <= fs/2, nondecreasing, nbands pairs).
 * Solves the (M+1)x(M+1) normal equations Q a = b (Q[i][j] = q[|i-j|] + q[i+j], closed-form
 * integrals of cosine products) by Cholesky; h = [a[M..1], 2 a[0], a[1..M]]. O(M^3) time and
 * O(M^2) memory: design once. Local. Returns 0, SF_ERR_INPUT (even or zero ntaps, bad bands,
 * a system that is not positive definite) or SF_ERR_NOMEM. */
int sf_firls_design(size_t ntaps, const double *bands, const double *desired, size_t nbands,
                    double fs, double *h);

typedef struct sf_filtfilt sf_filtfilt;
typedef struct sf_filtfilt_ws sf_filtfilt_ws;

/* Plans forward-backward filtering with the symmetric or general FIR h (ntaps >= 1, copied):
 * FFTW overlap-save plans. Not thread-safe (FFTW planning). Local. Returns 0, SF_ERR_INPUT
 * or SF_ERR_NOMEM. */
int sf_filtfilt_create(const double *h, size_t ntaps, sf_filtfilt **out);

/* Allocates one thread's workspace for signals of up to nmax samples. Thread-safe. Returns 0
 * or SF_ERR_NOMEM. */
int sf_filtfilt_ws_create(const sf_filtfilt *f, size_t nmax, sf_filtfilt_ws **out);

/* y = filtfilt(h, 1, x) as scipy with padtype='odd', padlen = 3 ntaps capped at n - 1 (scipy
 * refuses n <= 3 ntaps; we pad less instead): x is extended by odd reflection 2 x[0] - x[p-j],
 * 2 x[n-1] - x[n-2-j]; each pass starts from the steady state of its first input sample (scipy's
 * lfilter_zi times that sample, i.e. a constant past); the padding is removed. y may alias x.
 * Overlap-save FFT convolution, allocation-free, thread-safe on distinct workspaces. Local.
 * Returns 0, or SF_ERR_INPUT when n exceeds the workspace's nmax. */
int sf_filtfilt_execute(const sf_filtfilt *f, const double *x, size_t n, double *y,
                        sf_filtfilt_ws *ws);

size_t sf_filtfilt_ntaps(const sf_filtfilt *f);

/* Free; accept NULL and set the handle to NULL. */
void sf_filtfilt_ws_destroy(sf_filtfilt_ws **ws);
void sf_filtfilt_destroy(sf_filtfilt **f);

#endif
