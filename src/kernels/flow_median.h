/* 5x5 median filter of the flow increments (spec register.md §1.4 item 22). Pure. */
#ifndef SF_FLOW_MEDIAN_H
#define SF_FLOW_MEDIAN_H

#include <stddef.h>

/* Floats of scratch sf_median5 needs for an h x w plane. Local. */
size_t sf_median5_scratch(size_t h, size_t w);

/* out = 5x5 median of in (h x w, h and w >= 3), boundary mode "mirror" (reflect without
 * repeating the edge sample: -1 -> 1, -2 -> 2, h -> h-2). Arrays have row strides in_stride
 * and out_stride; out must not overlap in. Exact (a true median of 25 values). Thread-safe,
 * allocation-free. Local. */
void sf_median5(const float *in, size_t in_stride, size_t h, size_t w, float *out,
                size_t out_stride, float *scratch);

#endif
