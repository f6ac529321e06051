#include "kernels/warp_shift.h"

#include <math.h>

#include "kernels/warp_shift_hd.h"

/* The per-element bodies are in warp_shift_hd.h, shared with the device and the host tests. */
float sf_keys_cubic(float t) { return sf_hd_keys_cubic(t); }

static int shift_taps(float d, sf_interp interp, float wt[4]) {
  return sf_hd_shift_taps(d, interp == SF_INTERP_LINEAR, wt);
}

static inline long clampl(long i, long n) { return sf_hd_clampl(i, n); }

void sf_warp_shift(const float *restrict src, const float *restrict ref, size_t h, size_t w,
                   size_t ch, float u, float v, sf_interp interp, float *restrict tmp,
                   float *restrict out) {
  const int ntap = interp == SF_INTERP_LINEAR ? 2 : 4;
  float wx[4], wy[4];
  const long ox = shift_taps(u, interp, wx), oy = shift_taps(v, interp, wy);
  const long W = (long)w, H = (long)h, C = (long)ch;
  /* Horizontal pass on every row into tmp, vertical pass into out (separable, since the
   * fractional offset is the same for every pixel). */
  /* Columns whose taps all fall inside the row need no clamping. */
  long xa = -ox, xb = W - ox - ntap + 1;
  xa = xa < 0 ? 0 : (xa > W ? W : xa);
  xb = xb < xa ? xa : (xb > W ? W : xb);
  for (long y = 0; y < H; y++) {
    const float *row = src + (size_t)y * w * ch;
    float *trow = tmp + (size_t)y * w * ch;
    for (long x = 0; x < W; x++) {
      if (x == xa && xb > xa) {
        if (ntap == 4) {
          const float *p = row + (xa + ox) * C;
          float *t = trow + xa * C;
          for (long i = 0; i < (xb - xa) * C; i++)
            t[i] = wx[0] * p[i] + wx[1] * p[i + C] + wx[2] * p[i + 2 * C] + wx[3] * p[i + 3 * C];
        } else {
          const float *p = row + (xa + ox) * C;
          float *t = trow + xa * C;
          for (long i = 0; i < (xb - xa) * C; i++) t[i] = wx[0] * p[i] + wx[1] * p[i + C];
        }
        x = xb - 1;
        continue;
      }
      for (long c = 0; c < C; c++) {
        float acc = 0.0f;
        for (int k = 0; k < ntap; k++) acc += wx[k] * row[clampl(x + ox + k, W) * C + c];
        trow[x * C + c] = acc;
      }
    }
  }
  for (long y = 0; y < H; y++) {
    float *orow = out + (size_t)y * w * ch;
    const float *r[4];
    for (int k = 0; k < ntap; k++) r[k] = tmp + (size_t)clampl(y + oy + k, H) * w * ch;
    if (ntap == 4) {
      for (long i = 0; i < W * C; i++)
        orow[i] = wy[0] * r[0][i] + wy[1] * r[1][i] + wy[2] * r[2][i] + wy[3] * r[3][i];
    } else {
      for (long i = 0; i < W * C; i++) orow[i] = wy[0] * r[0][i] + wy[1] * r[1][i];
    }
  }
  /* Out-of-bounds sampling positions take the reference value (spec §2, rule 39). */
  for (long y = 0; y < H; y++) {
    float *orow = out + (size_t)y * w * ch;
    const float *rrow = ref + (size_t)y * w * ch;
    for (long x = 0; x < W; x++)
      if (sf_hd_shift_outside(y, x, u, v, H, W))
        for (long c = 0; c < C; c++) orow[x * C + c] = rrow[x * C + c];
  }
}
