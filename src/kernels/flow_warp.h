/* Warping by a dense flow, backward convention, reference fill (spec register.md §2,
 * slabflow decision 6), and the per-frame flow statistics (spec §7 item 60.7). Pure. */
#ifndef SF_FLOW_WARP_H
#define SF_FLOW_WARP_H

#include <stddef.h>

#include "kernels/warp_shift.h"

/* out(y,x,k) = img(y + sy*v(y,x), x + sx*u(y,x), k) for an h x w image with c interleaved
 * channels; u and v are h x w with row stride flow_stride. Keys cubic (a = -0.75) or bilinear
 * with exact coordinates (SF_INTERP_CUBIC_Q32: rounded to 1/32 px like OpenCV's remap);
 * taps beyond the edge replicate it. A pixel whose sampling position
 * is out of bounds (x+u < 0, x+u >= w, y+v < 0, y+v >= h) takes fill(y,x,k); valid (may be
 * NULL) gets 1 for in-bounds pixels and 0 otherwise. Thread-safe, allocation-free. Local. */
void sf_warp_flow(const float *img, const float *fill, size_t h, size_t w, size_t c,
                  const float *u, const float *v, size_t flow_stride, float sx, float sy,
                  sf_interp interp, float *out, unsigned char *valid);

/* Statistics of one h x w flow (contiguous u, v): out[0] mean |w|, out[1] max |w|,
 * out[2] mean of du/dx + dv/dy (numpy.gradient, unit spacing), out[3] |mean(u), mean(v)|.
 * Sums in double in a fixed order. Local. */
void sf_flow_stats(const float *u, const float *v, size_t h, size_t w, float out[4]);

#endif
