/* Per-element bodies of the flow path's simplest kernels, for the CUDA kernels (one thread
 * per pixel) and the host tests that run them over the CPU kernels' grids (issue 16 point 3):
 * the 5x5 median with "mirror" boundary (sf_median5, spec register.md §1.4 item 22) and the
 * dense backward warp with reference fill (sf_warp_flow, spec §2). The CPU median shares
 * sf_hd_mirror; the CPU kernels themselves stay vectorised networks and runs. */
#ifndef SF_FLOW_HD_H
#define SF_FLOW_HD_H

#include <math.h>
#include <stddef.h>

#include "kernels/sf_hd.h"

/* Mirror without repeating the edge sample (-1 -> 1, n -> n-2); one reflection, n >= 3. */
static inline SF_HD size_t sf_hd_mirror(long i, long n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return (size_t)i;
}

/* 5x5 median of in (h x w, row stride stride) at (y, x): the 13th smallest of the 25 values
 * (exact; equal values are interchangeable, so any selection gives the CPU kernel's value). */
static inline SF_HD float sf_hd_median5_px(const float *in, size_t stride, long h, long w, long y,
                                           long x) {
  float v[25];
  int n = 0;
  for (long dy = -2; dy <= 2; dy++) {
    const float *row = in + sf_hd_mirror(y + dy, h) * stride;
    for (long dx = -2; dx <= 2; dx++) v[n++] = row[sf_hd_mirror(x + dx, w)];
  }
  for (int i = 0; i <= 12; i++) { /* selection: positions 0..12 get the 13 smallest in order */
    int m = i;
    for (int j = i + 1; j < 25; j++)
      if (v[j] < v[m]) m = j;
    float t = v[i];
    v[i] = v[m];
    v[m] = t;
  }
  return v[12];
}

/* Keys (a = -0.75) weights of taps -1, 0, 1, 2 at fraction t, as polynomials in t (the CPU
 * warp's form). */
static inline SF_HD void sf_hd_keys_weights(float t, float wt[4]) {
  const float a = -0.75f;
  wt[0] = a * t * (t - 1.0f) * (t - 1.0f);
  wt[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
  wt[2] = ((-(a + 2.0f) * t + (2.0f * a + 3.0f)) * t - a) * t;
  wt[3] = a * t * t * (1.0f - t);
}

/* One value of the dense warp: channel k of out(y,x) = img(y + sy*v, x + sx*u, k) for an
 * h x w image with c interleaved channels, u, v the flow at (y, x). In-bounds positions are
 * clipped to [0, n-1] (§2 item 39), rounded to 1/32 px when quant (OpenCV's remap), sampled
 * by Keys cubic (taps beyond the edge replicate it; columns summed over rows first, then
 * across, with fused multiply-adds as the CPU kernel's FMA build) or bilinear; out-of-bounds
 * or NaN positions take fill(y,x,k). *inb (may be NULL) gets 1 in bounds, 0 otherwise. */
static inline SF_HD float sf_hd_warp_flow_px(const float *img, const float *fill, long h, long w,
                                             long c, long k, long y, long x, float u, float v,
                                             float sx, float sy, int cubic, int quant, int *inb) {
  const float fw = (float)w, fh = (float)h;
  float xs = (float)x + sx * u, ys = (float)y + sy * v;
  const int ok = (xs >= 0.0f) & (xs < fw) & (ys >= 0.0f) & (ys < fh);
  if (inb) *inb = ok;
  if (!ok) return fill[(y * w + x) * c + k];
  xs = xs < fw - 1.0f ? xs : fw - 1.0f;
  ys = ys < fh - 1.0f ? ys : fh - 1.0f;
  xs = xs > 0.0f ? xs : 0.0f;
  ys = ys > 0.0f ? ys : 0.0f;
  if (quant) {
    xs = rintf(xs * 32.0f) * (1.0f / 32.0f);
    ys = rintf(ys * 32.0f) * (1.0f / 32.0f);
  }
  const long ix = (long)xs, iy = (long)ys;
  const float tx = xs - (float)ix, ty = ys - (float)iy;
  const long rs = w * c;
  if (cubic) {
    float wx[4], wy[4], col[4];
    sf_hd_keys_weights(tx, wx);
    sf_hd_keys_weights(ty, wy);
    for (int j = 0; j < 4; j++) {
      long cx = (ix - 1 + j < 0 ? 0 : (ix - 1 + j >= w ? w - 1 : ix - 1 + j)) * c + k;
      float p[4];
      for (int r = 0; r < 4; r++) {
        long ry = iy - 1 + r < 0 ? 0 : (iy - 1 + r >= h ? h - 1 : iy - 1 + r);
        p[r] = img[ry * rs + cx];
      }
      col[j] = fmaf(wy[3], p[3], fmaf(wy[2], p[2], fmaf(wy[1], p[1], wy[0] * p[0])));
    }
    return fmaf(wx[3], col[3], fmaf(wx[2], col[2], fmaf(wx[1], col[1], wx[0] * col[0])));
  }
  const long c0 = ix * c + k, c1 = (ix + 1 < w ? ix + 1 : ix) * c + k;
  const float *r0 = img + iy * rs, *r1 = img + (iy + 1 < h ? iy + 1 : iy) * rs;
  const float a0 = r0[c0] + tx * (r0[c1] - r0[c0]);
  const float a1 = r1[c0] + tx * (r1[c1] - r1[c0]);
  return a0 + ty * (a1 - a0);
}

#endif
