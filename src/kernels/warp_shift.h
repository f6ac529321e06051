/* Warping by a constant (rigid) displacement, backward convention, reference fill.
 * Pure: no MPI, HDF5, OpenMP or printing. */
#ifndef SF_WARP_SHIFT_H
#define SF_WARP_SHIFT_H

#include <stddef.h>

/* SF_INTERP_CUBIC_Q32: Keys cubic at positions rounded to 1/32 px (OpenCV remap's fixed
 * point), used inside the flow pyramid for parity with the reference (sf_warp_flow only). */
typedef enum { SF_INTERP_LINEAR = 1, SF_INTERP_CUBIC = 3, SF_INTERP_CUBIC_Q32 = 4 } sf_interp;

/* Keys cubic convolution kernel, a = -0.75 (spec register.md §1.3). */
float sf_keys_cubic(float t);

/* out(y,x,c) = src(y+v, x+u, c) for images of h x w pixels with ch interleaved channels
 * (row-major (h, w, ch)). Samples between pixels use Keys cubic (a = -0.75) or bilinear
 * weights with edge replication; a pixel whose sampling position falls outside the image
 * (x+u < 0, x+u >= w, y+v < 0 or y+v >= h) takes ref(y,x,c) instead (spec §2).
 * tmp holds h*w*ch floats. Integer shifts copy exactly. Thread-safe, allocation-free. */
void sf_warp_shift(const float *restrict src, const float *restrict ref, size_t h, size_t w,
                   size_t ch, float u, float v, sf_interp interp, float *restrict tmp,
                   float *restrict out);

#endif
