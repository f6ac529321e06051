/* Per-element bodies of the flow path's simplest kernels, for the CUDA kernels (one thread
 * per pixel) and the host tests that run them over the CPU kernels' grids (issue 16 point 3):
 * the 5x5 median with "mirror" boundary (sf_median5, spec register.md §1.4 item 22) and the
 * dense backward warp with reference fill (sf_warp_flow, spec §2), the preprocessing's
 * normalisation and Gaussian taps (sf_smooth_execute), the pyramid resampling
 * (sf_resample_execute) and the final flow upsampling, the motion tensor (sf_tensor_compute)
 * and the per-frame statistics (sf_flow_stats). The solver's bodies are in flow_solver_hd.h.
 * The CPU median and statistics share these bodies; the other CPU kernels stay vectorised
 * loops that do the same operations in the same order (the host tests compare them). */
#ifndef SF_FLOW_HD_H
#define SF_FLOW_HD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- preprocessing (spec §3 item 44) ------------------------------------------------------ */

/* scipy "reflect" (edge-duplicating: d c b a | a b c d | d c b a), period 2n. */
static inline SF_HD long sf_hd_reflect_dup(long j, long n) {
  if (n <= 1) return 0;
  long period = 2 * n, m = j % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

/* One normalised value: (in - lo) * inv (sf_normalize_deinterleave). */
static inline SF_HD float sf_hd_normalize(float x, float lo, float inv) { return (x - lo) * inv; }

/* One output of a symmetric 1-D Gaussian (weights k[0..2r]) along a line: src(q) is the line's
 * sample q after reflection, read at base + reflect_dup(q) * step. The sum is folded as the
 * CPU's fold_taps: k[r] c + k0 (a0 + b0) + k1 (a1 + b1), then pairs of tap pairs, then the
 * last pair alone. */
static inline SF_HD float sf_hd_gauss_tap(const float *base, long step, long n, long q,
                                          const float *k, int r) {
  const float c = base[sf_hd_reflect_dup(q, n) * step];
#define SF_HD_PAIR(t) (base[sf_hd_reflect_dup(q - r + (t), n) * step] + \
                       base[sf_hd_reflect_dup(q + r - (t), n) * step])
  float d;
  int t = 0;
  if (r >= 2) {
    d = k[r] * c + k[0] * SF_HD_PAIR(0) + k[1] * SF_HD_PAIR(1);
    t = 2;
  } else {
    d = k[r] * c;
  }
  for (; t + 2 <= r; t += 2) d += k[t] * SF_HD_PAIR(t) + k[t + 1] * SF_HD_PAIR(t + 1);
  for (; t < r; t++) d += k[t] * SF_HD_PAIR(t);
#undef SF_HD_PAIR
  return d;
}

/* Vertical pass of sf_smooth_execute at (y, x) of an h x w plane (rows first, as scipy). */
static inline SF_HD float sf_hd_smooth_v_px(const float *in, long h, long w, const float *ky,
                                            int ry, long y, long x) {
  return ry > 0 ? sf_hd_gauss_tap(in + x, w, h, y, ky, ry) : in[y * w + x];
}

/* Horizontal pass at (y, x) of the vertical pass's output mid. */
static inline SF_HD float sf_hd_smooth_h_px(const float *mid, long w, const float *kx, int rx,
                                            long y, long x) {
  return rx > 0 ? sf_hd_gauss_tap(mid + y * w, 1, w, x, kx, rx) : mid[y * w + x];
}

/* One value of the temporal smoothing (post_unit): sum over the n taps t of
 * g[t] * frames[src[t] * fe + i], accumulated from 0 in tap order; n = 0: a copy of frame
 * src[0]. */
static inline SF_HD float sf_hd_temporal_px(const float *frames, size_t fe, const int *src,
                                            const float *g, int n, size_t i) {
  if (n == 0) return frames[(size_t)src[0] * fe + i];
  float d = 0.0f;
  for (int t = 0; t < n; t++) d += g[t] * frames[(size_t)src[t] * fe + i];
  return d;
}

/* ---- pyramid resampling (spec §1.3, sf_resample_execute) --------------------------------- */

/* The vertical pass of output row i at column x: sum over the ntap taps of row i (weights
 * wt, reflected rows idx, both at i * ntap) of in(row, x), grouped four taps at a time as the
 * CPU's vertical_row. */
static inline SF_HD float sf_hd_resample_v_px(const float *in, size_t in_stride,
                                              const int32_t *idx, const float *wt, int ntap,
                                              size_t i, size_t x) {
  const int32_t *ix = idx + i * (size_t)ntap;
  const float *w = wt + i * (size_t)ntap;
#define SF_HD_ROW(p) in[(size_t)ix[p] * in_stride + x]
  float d;
  int p;
  if (ntap >= 4) {
    d = w[0] * SF_HD_ROW(0) + w[1] * SF_HD_ROW(1) + w[2] * SF_HD_ROW(2) + w[3] * SF_HD_ROW(3);
    p = 4;
  } else {
    d = w[0] * SF_HD_ROW(0);
    p = 1;
  }
  for (; p + 4 <= ntap; p += 4)
    d += w[p] * SF_HD_ROW(p) + w[p + 1] * SF_HD_ROW(p + 1) + w[p + 2] * SF_HD_ROW(p + 2) +
         w[p + 3] * SF_HD_ROW(p + 3);
  for (; p < ntap; p++) d += w[p] * SF_HD_ROW(p);
#undef SF_HD_ROW
  return d;
}

/* Sample q of the CPU's padded row (pad_lo reflected samples, the in_len samples of row, pad_hi
 * reflected samples; pad_src as sf_resample_axis). */
static inline SF_HD float sf_hd_resample_row_at(const float *row, size_t in_len, size_t pad_lo,
                                                const int32_t *pad_src, size_t q) {
  if (q < pad_lo) return row[pad_src[q]];
  if (q >= pad_lo + in_len) return row[pad_src[q - in_len]];
  return row[q - pad_lo];
}

/* The horizontal pass of output column i from one row of the vertical pass (in_len values):
 * sum of the ntap taps from start[i], as the CPU's horizontal_row (one tap, three taps, four
 * partial sums when ntap is a multiple of 4, a running sum otherwise). */
static inline SF_HD float sf_hd_resample_h_px(const float *row, size_t in_len, size_t pad_lo,
                                              const int32_t *pad_src, const int32_t *start,
                                              const float *wt, int ntap, size_t i) {
  const size_t q0 = (size_t)start[i];
  const float *w = wt + i * (size_t)ntap;
#define SF_HD_AT(k) sf_hd_resample_row_at(row, in_len, pad_lo, pad_src, q0 + (size_t)(k))
  if (ntap == 1) return wt[i] * SF_HD_AT(0);
  if (ntap == 3) return w[0] * SF_HD_AT(0) + w[1] * SF_HD_AT(1) + w[2] * SF_HD_AT(2);
  if (ntap % 4 == 0) {
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    for (int k = 0; k < ntap; k += 4) {
      a0 += w[k] * SF_HD_AT(k);
      a1 += w[k + 1] * SF_HD_AT(k + 1);
      a2 += w[k + 2] * SF_HD_AT(k + 2);
      a3 += w[k + 3] * SF_HD_AT(k + 3);
    }
    return (a0 + a1) + (a2 + a3);
  }
  float acc = 0.0f;
  for (int k = 0; k < ntap; k++) acc += w[k] * SF_HD_AT(k);
#undef SF_HD_AT
  return acc;
}

/* Final bicubic upsampling of the flow (sf_flow_execute's upsample_final): across a source
 * row first with the 4 column taps (fx_i, fx_w at 4x), then down the columns of those rows
 * with the 4 row taps (fy_i, fy_w at 4y). */
static inline SF_HD float sf_hd_upsample_h_px(const float *src_row, const int *fx_i,
                                              const float *fx_w, size_t x) {
  const int *ix = fx_i + 4 * x;
  const float *wx = fx_w + 4 * x;
  return wx[0] * src_row[ix[0]] + wx[1] * src_row[ix[1]] + wx[2] * src_row[ix[2]] +
         wx[3] * src_row[ix[3]];
}
static inline SF_HD float sf_hd_upsample_v_px(const float *tmp, size_t W, const int *fy_i,
                                              const float *fy_w, size_t y, size_t x) {
  const int *iy = fy_i + 4 * y;
  const float *wy = fy_w + 4 * y;
  return wy[0] * tmp[(size_t)iy[0] * W + x] + wy[1] * tmp[(size_t)iy[1] * W + x] +
         wy[2] * tmp[(size_t)iy[2] * W + x] + wy[3] * tmp[(size_t)iy[3] * W + x];
}

/* Source of padded pixel (r, j) under edge replication into the frame (pad_edge): the
 * nearest interior pixel (corners included). */
static inline SF_HD size_t sf_hd_pad_edge_src(size_t r, size_t j, size_t h, size_t w) {
  size_t rr = r == 0 ? 1 : r > h ? h : r, jj = j == 0 ? 1 : j > w ? w : j;
  return rr * (w + 2) + jj;
}

/* ---- motion tensor (spec §1.5, sf_tensor_compute) ---------------------------------------- */

/* The tensor's constants from the spacings (as sf_tensor_compute): cx1, cy1, cx2, cy2, cxx,
 * cyy. */
static inline SF_HD void sf_hd_tensor_consts(double hy, double hx, float k[6]) {
  k[0] = (float)(0.25 / hx);
  k[1] = (float)(0.25 / hy);
  k[2] = (float)(0.5 / hx);
  k[3] = (float)(0.5 / hy);
  k[4] = (float)(0.5 / (hx * hx));
  k[5] = (float)(0.5 / (hy * hy));
}

/* fx at (i, j): the mean of both images' central differences, columns clamped to the image. */
static inline SF_HD float sf_hd_tensor_fx(const float *a, const float *b, long w, long i, long j,
                                          float cx1) {
  const long l = j > 0 ? j - 1 : 0, r = j + 1 < w ? j + 1 : w - 1;
  const float *ar = a + i * w, *br = b + i * w;
  return ((ar[r] - ar[l]) + (br[r] - br[l])) * cx1;
}

/* The six tensor entries J11, J22, J33, J12, J13, J23 of interior pixel (i, j) of an h x w
 * level from f1 (reference) and f2w (warped), neighbours clamped to the image (sym padding);
 * gray: brightness constancy, else gradient constancy. k from sf_hd_tensor_consts. */
static inline SF_HD void sf_hd_tensor_px(int gray, const float *f1, const float *f2w, long h,
                                         long w, long i, long j, const float k[6], float o[6]) {
  const long up = i > 0 ? i - 1 : 0, dn = i + 1 < h ? i + 1 : h - 1;
  const long l = j > 0 ? j - 1 : 0, r = j + 1 < w ? j + 1 : w - 1;
  const float al = f1[i * w + l], a0 = f1[i * w + j], ar = f1[i * w + r];
  const float au = f1[up * w + j], ad = f1[dn * w + j];
  const float bl = f2w[i * w + l], b0 = f2w[i * w + j], br = f2w[i * w + r];
  const float bu = f2w[up * w + j], bd = f2w[dn * w + j];
  if (gray) {
    float fx = ((ar - al) + (br - bl)) * k[0];
    float fy = ((ad - au) + (bd - bu)) * k[1];
    float ft = b0 - a0;
    o[0] = fx * fx;
    o[1] = fy * fy;
    o[2] = ft * ft;
    o[3] = fx * fy;
    o[4] = fx * ft;
    o[5] = fy * ft;
    return;
  }
  const float fxu = sf_hd_tensor_fx(f1, f2w, w, up, j, k[0]);
  const float fxd = sf_hd_tensor_fx(f1, f2w, w, dn, j, k[0]);
  float fxy = (fxd - fxu) * k[3];
  float fxt = ((br - ar) - (bl - al)) * k[2];
  float fyt = ((bd - ad) - (bu - au)) * k[3];
  float fxx = ((al + ar - (a0 + a0)) + (bl + br - (b0 + b0))) * k[4];
  float fyy = ((au + ad - (a0 + a0)) + (bu + bd - (b0 + b0))) * k[5];
  float rx = 1.0f / (fxx * fxx + fxy * fxy + 1e-6f);
  float ry = 1.0f / (fxy * fxy + fyy * fyy + 1e-6f);
  o[0] = rx * (fxx * fxx) + ry * (fxy * fxy);
  o[1] = rx * (fxy * fxy) + ry * (fyy * fyy);
  o[2] = rx * (fxt * fxt) + ry * (fyt * fyt);
  o[3] = rx * (fxx * fxy) + ry * (fxy * fyy);
  o[4] = rx * (fxx * fxt) + ry * (fxy * fyt);
  o[5] = rx * (fxy * fxt) + ry * (fyy * fyt);
}

/* ---- per-frame statistics (spec §7 item 60.7, sf_flow_stats) ----------------------------- */

/* |w| of one pixel in double. */
static inline SF_HD double sf_hd_flow_mag(float u, float v) {
  const double a = u, b = v;
  return sqrt(a * a + b * b);
}

/* Sum over one line of numpy.gradient with unit spacing (sf_flow_stats' grad_line_sum). */
static inline SF_HD double sf_hd_grad_line_sum(const float *p, size_t stride, size_t n) {
  if (n < 2) return 0.0;
  const double a = p[0], b = p[stride], y = p[(n - 2) * stride], z = p[(n - 1) * stride];
  return (b - a) + (z - y) + 0.5 * ((z + y) - (a + b));
}

/* The four statistics from the sums over n pixels (sf_flow_stats' last step). */
static inline SF_HD void sf_hd_flow_stats_finish(double sum_mag, double max_mag, double sum_div,
                                                 double sum_u, double sum_v, double n,
                                                 float out[4]) {
  if (n == 0.0) {
    out[0] = out[1] = out[2] = out[3] = 0.0f;
    return;
  }
  const double mu = sum_u / n, mv = sum_v / n;
  out[0] = (float)(sum_mag / n);
  out[1] = (float)max_mag;
  out[2] = (float)(sum_div / n);
  out[3] = (float)sqrt(mu * mu + mv * mv);
}

#endif
