/* Preprocessing of frames for flow estimation (spec register.md §3): normalisation by the
 * reference range and Gaussian smoothing compatible with scipy.ndimage.gaussian_filter
 * (mode "reflect" = edge-duplicating symmetric, truncate 4). Pure. */
#ifndef SF_FLOW_PREPROC_H
#define SF_FLOW_PREPROC_H

#include <stddef.h>

#define SF_GAUSS_MAX_RADIUS 200

/* Normalised 1-D Gaussian weights k[0..2r] for sigma (r = (int)(4 sigma + 0.5); sigma <= 0
 * or r == 0 gives r = 0, k[0] = 1) in double, summed then divided like scipy. Returns r, or
 * -1 when r > SF_GAUSS_MAX_RADIUS. k holds 2*SF_GAUSS_MAX_RADIUS+1 entries. Local. */
int sf_gauss_weights(double sigma, double *k);

typedef struct sf_smooth sf_smooth;

/* Plans separable smoothing of h x w planes with sigma_y along rows (y) and sigma_x along
 * columns (x). Returns 0, SF_ERR_USAGE (radius too large) or SF_ERR_NOMEM. Local. */
int sf_smooth_create(size_t h, size_t w, double sigma_y, double sigma_x, sf_smooth **out);

/* Floats of scratch sf_smooth_execute needs. Local. */
size_t sf_smooth_scratch(const sf_smooth *s);

/* out = G * in for one plane (h x w, contiguous); in == out is allowed. Boundary: reflect
 * with edge duplication (scipy "reflect"). Thread-safe, allocation-free. Local. */
void sf_smooth_execute(const sf_smooth *s, const float *in, float *out, float *scratch);

/* The plan's float weights (2r+1 each) and radii along rows (y) and columns (x), valid while
 * s lives (the device copy of a plan, host tests). Local. */
void sf_smooth_taps(const sf_smooth *s, const float **ky, int *ry, const float **kx, int *rx);

/* Frees; accepts NULL and sets *s to NULL. */
void sf_smooth_destroy(sf_smooth **s);

/* out (c planes of hw, planar) = (in(i, k) - lo[k]) * inv[k], where in is hw pixels with c
 * interleaved channels; lo and inv per channel (inv = 1/(max - min + 1e-8)). Local. */
void sf_normalize_deinterleave(const float *in, size_t hw, size_t c, const float *lo,
                               const float *inv, float *out);

#endif
