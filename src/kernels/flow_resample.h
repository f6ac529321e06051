/* The resampling operator R of the flow pyramid (spec register.md §1.3): a fused
 * anti-alias Gaussian + Keys cubic (a = -0.75) kernel per axis, separable, planned once per
 * (input shape, output shape) and executed without allocation. Pure. */
#ifndef SF_FLOW_RESAMPLE_H
#define SF_FLOW_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sf_resample sf_resample;

/* Plans R from in_h x in_w to out_h x out_w (all >= 1). Per axis s = out/in, output i sits at
 * source coordinate (i+0.5)/s - 0.5; when min(s_y, s_x) < 1 both axes use the Gaussian
 * sigma = 0.6/min(s_y, s_x) (radius ceil(2 sigma)) fused with Keys cubic into P = 2R+4 taps,
 * renormalised to sum 1; indices out of range reflect with edge duplication (-1 -> 0,
 * n -> n-1). Returns 0 or SF_ERR_NOMEM / SF_ERR_USAGE. Local. */
int sf_resample_create(size_t in_h, size_t in_w, size_t out_h, size_t out_w, sf_resample **out);

/* Floats of scratch sf_resample_execute needs. Local. */
size_t sf_resample_scratch(const sf_resample *r);

/* out = R(in). in has in_h rows of in_w floats, row stride in_stride; out has out_h rows of
 * out_w floats, row stride out_stride (so padded arrays can be read and written in place of
 * their interiors); out must not overlap in. scratch holds sf_resample_scratch(r) floats.
 * Thread-safe on distinct buffers, allocation-free. Local. */
void sf_resample_execute(const sf_resample *r, const float *in, size_t in_stride, float *out,
                         size_t out_stride, float *scratch);

/* Read-only view of one axis's tap table, for the device copy of a plan (src/gpu) and the
 * host tests of the per-element bodies (kernels/flow_hd.h): output i reads ntap taps with
 * weights wt[i*ntap ..]; vertical taps through idx (reflected row numbers), horizontal ones
 * from start[i] in a row padded by pad_lo / pad_hi samples whose sources are pad_src. */
typedef struct sf_resample_axis {
  size_t in_len, out_len;
  int ntap;
  const float *wt;
  const int32_t *idx, *start, *pad_src;
  size_t pad_lo, pad_hi;
} sf_resample_axis;

/* The tables of r's vertical (y) and horizontal (x) axes, valid while r lives. Local. */
void sf_resample_axes(const sf_resample *r, sf_resample_axis *y, sf_resample_axis *x);

/* Frees; accepts NULL and sets *r to NULL. */
void sf_resample_destroy(sf_resample **r);

#endif
