/* Per-element bodies of the rigid shift warp (sf_warp_shift, spec register.md §1.3 and §2),
 * shared by the CPU kernel (src/kernels/warp_shift.c), the CUDA kernel (src/gpu) and the
 * host tests. Backward convention: out(y,x,c) = src(y+v, x+u, c); a sampling position
 * outside the frame takes the reference's value. Row-major (h, w, ch), channels interleaved. */
#ifndef SF_WARP_SHIFT_HD_H
#define SF_WARP_SHIFT_HD_H

#include <math.h>

#include "kernels/sf_hd.h"

/* Keys cubic convolution kernel, a = -0.75. */
static inline SF_HD float sf_hd_keys_cubic(float t) {
  const float a = -0.75f;
  t = fabsf(t);
  if (t < 1.0f) return ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
  if (t < 2.0f) return ((a * t - 5.0f * a) * t + 8.0f * a) * t - 4.0f * a;
  return 0.0f;
}

/* Tap weights wt[0..3] (linear: 2 taps, the others 0; cubic: 4) and the first tap's offset
 * for sampling at integer position + d (d = u or v). */
static inline SF_HD int sf_hd_shift_taps(float d, int linear, float wt[4]) {
  float f = floorf(d), t = d - f;
  if (linear) {
    wt[0] = 1.0f - t;
    wt[1] = t;
    wt[2] = wt[3] = 0.0f;
    return (int)f;
  }
  wt[0] = sf_hd_keys_cubic(t + 1.0f);
  wt[1] = sf_hd_keys_cubic(t);
  wt[2] = sf_hd_keys_cubic(1.0f - t);
  wt[3] = sf_hd_keys_cubic(2.0f - t);
  return (int)f - 1;
}

/* Index i clamped to 0..n-1 (edge replication). */
static inline SF_HD long sf_hd_clampl(long i, long n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

/* Whether pixel (y, x) samples outside the h x w frame at (y+v, x+u) and so takes the
 * reference's value (spec §2, rule 39). */
static inline SF_HD int sf_hd_shift_outside(long y, long x, float u, float v, long h, long w) {
  float ys = (float)y + v, xs = (float)x + u;
  return ys < 0.0f || ys >= (float)h || xs < 0.0f || xs >= (float)w;
}

/* One output value of the shift warp: the horizontal taps of each of the ntap rows summed in
 * tap order, then the rows in tap order (the order of the CPU kernel's two passes), or the
 * reference where the position is outside. ox, oy, wx, wy from sf_hd_shift_taps. */
static inline SF_HD float sf_hd_warp_shift_px(const float *src, const float *ref, long h, long w,
                                              long ch, long y, long x, long c, long ox, long oy,
                                              const float wx[4], const float wy[4], int ntap,
                                              float u, float v) {
  if (sf_hd_shift_outside(y, x, u, v, h, w)) return ref[(y * w + x) * ch + c];
  float out = 0.0f;
  for (int k = 0; k < ntap; k++) {
    const float *row = src + sf_hd_clampl(y + oy + k, h) * w * ch;
    float acc = 0.0f;
    for (int q = 0; q < ntap; q++) acc += wx[q] * row[sf_hd_clampl(x + ox + q, w) * ch + c];
    out += wy[k] * acc;
  }
  return out;
}

#endif
