/* Subpixel rigid shift by FFT phase correlation with upsampled-DFT peak refinement.
 * Plan once per shape (FFTW plans, Hann window, spectral weights), set a reference, then
 * execute per frame with a per-thread workspace. Pure: no MPI, HDF5, OpenMP or printing. */
#ifndef SF_XCORR_RIGID_H
#define SF_XCORR_RIGID_H

#include <stddef.h>

typedef struct sf_xcorr_plan sf_xcorr_plan;
typedef struct sf_xcorr_ws sf_xcorr_ws;

/* Creates a plan for (h, w) single-channel images. up >= 1 is the upsampling factor (the
 * peak is located to 1/up px); sigma >= 0 is the Gaussian smoothing (px) applied to the
 * correlation through its spectrum, which keeps the estimate robust on noisy frames.
 * FFTW planning is not thread-safe: call from one thread. Returns 0 or SF_ERR_*. */
int sf_xcorr_plan_create(size_t h, size_t w, int up, float sigma, sf_xcorr_plan **out);

/* Sets the reference image (h*w floats, row-major): mean removed, Hann-windowed, transformed.
 * Call from one thread while no execute is running. ws is any workspace of this plan. */
int sf_xcorr_set_reference(sf_xcorr_plan *p, sf_xcorr_ws *ws, const float *ref);

/* The plan's tables, for a device copy: the h*w Hann window, the h*(w/2+1) spectral weights
 * and the reference's windowed spectrum (h*(w/2+1) interleaved complex values, after
 * sf_xcorr_set_reference), the upsampling factor. */
void sf_xcorr_plan_tables(const sf_xcorr_plan *p, const float **win, const float **gain,
                          const float **ref_spec, int *up);

/* Allocates a workspace for one thread. */
int sf_xcorr_ws_create(const sf_xcorr_plan *p, sf_xcorr_ws **out);

/* Estimates the shift of frame (h*w floats) against the reference: shift[0] = u (x, columns),
 * shift[1] = v (y, rows), in the backward-warp convention reference(y,x) ~ frame(y+v, x+u).
 * Thread-safe on distinct workspaces. Allocation-free. */
void sf_xcorr_execute(const sf_xcorr_plan *p, sf_xcorr_ws *ws, const float *frame, float shift[2]);

/* Frees; accept NULL and set the handle to NULL. */
void sf_xcorr_ws_destroy(sf_xcorr_ws **ws);
void sf_xcorr_plan_destroy(sf_xcorr_plan **p);

#endif
