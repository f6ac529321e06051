#include "kernels/warp_shift.h"

#include <math.h>

float sf_keys_cubic(float t) {
  const float a = -0.75f;
  t = fabsf(t);
  if (t < 1.0f) return ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
  if (t < 2.0f) return ((a * t - 5.0f * a) * t + 8.0f * a) * t - 4.0f * a;
  return 0.0f;
}

/* Tap weights and first tap offset for sampling at integer position + d (d = u or v). */
static int shift_taps(float d, sf_interp interp, float wt[4]) {
  float f = floorf(d), t = d - f;
  if (interp == SF_INTERP_LINEAR) {
    wt[0] = 1.0f - t;
    wt[1] = t;
    wt[2] = wt[3] = 0.0f;
    return (int)f;
  }
  wt[0] = sf_keys_cubic(t + 1.0f);
  wt[1] = sf_keys_cubic(t);
  wt[2] = sf_keys_cubic(1.0f - t);
  wt[3] = sf_keys_cubic(2.0f - t);
  return (int)f - 1;
}

static inline long clampl(long i, long n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

void sf_warp_shift(const float *restrict src, const float *restrict ref, size_t h, size_t w,
                   size_t ch, float u, float v, sf_interp interp, float *restrict tmp,
                   float *restrict out) {
  const int ntap = interp == SF_INTERP_LINEAR ? 2 : 4;
  float wx[4], wy[4];
  const long ox = shift_taps(u, interp, wx), oy = shift_taps(v, interp, wy);
  const long W = (long)w, H = (long)h, C = (long)ch;
  /* Horizontal pass on every row into tmp, vertical pass into out (separable, since the
   * fractional offset is the same for every pixel). */
  for (long y = 0; y < H; y++) {
    const float *row = src + (size_t)y * w * ch;
    float *trow = tmp + (size_t)y * w * ch;
    for (long x = 0; x < W; x++) {
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
    for (long i = 0; i < W * C; i++) {
      float acc = 0.0f;
      for (int k = 0; k < ntap; k++) acc += wy[k] * r[k][i];
      orow[i] = acc;
    }
  }
  /* Out-of-bounds sampling positions take the reference value (spec §2, rule 39). */
  for (long y = 0; y < H; y++) {
    float ys = (float)y + v;
    int row_out = ys < 0.0f || ys >= (float)H;
    float *orow = out + (size_t)y * w * ch;
    const float *rrow = ref + (size_t)y * w * ch;
    for (long x = 0; x < W; x++) {
      float xs = (float)x + u;
      if (row_out || xs < 0.0f || xs >= (float)W)
        for (long c = 0; c < C; c++) orow[x * C + c] = rrow[x * C + c];
    }
  }
}
