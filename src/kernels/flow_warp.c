/* Dense backward warp with reference fill (spec register.md §2, slabflow decision 6) and the
 * per-frame flow statistics (spec §7 item 60.7). */
#include "kernels/flow_warp.h"
#include "kernels/flow_hd.h"

#include <math.h>

#include "kernels/simd_level.h"

/* The vector cubic path (AVX2) is built where the per-pixel path's multiply-adds are fused
 * too (WFMA below), and taken where sf_simd_best() says the CPU has AVX2. */
#if SF_SIMD_X86 && defined(__FMA__)
#include <immintrin.h>
#define SF_WARP_RUNS 1
#define WARP_AVX2 __attribute__((target("avx2,fma")))
#endif

/* Multiply-add with one rounding where the target has FMA, so the vector path below and the
 * per-pixel path give the same bytes for every pixel. */
#if defined(__FMA__)
#define WFMA(a, b, c) fmaf((a), (b), (c))
#else
#define WFMA(a, b, c) ((a) * (b) + (c))
#endif

static inline long clampl(long i, long n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

/* Pixels per pass: coordinates and weights of a run are computed in a vectorisable loop,
 * then the taps are gathered pixel by pixel. */
#define WARP_RUN 64

/* Per-run coordinate data. */
typedef struct warp_run {
  float wx[4][WARP_RUN], wy[4][WARP_RUN];
  int ix[WARP_RUN], iy[WARP_RUN];
  int ok[WARP_RUN];
} warp_run;

/* Positions, bounds test and tap weights of pixels x0 .. x0+n-1 of row y. Out-of-bounds and
 * NaN positions get ok = 0 and a harmless position 0 (no float-to-int conversion of them). */
static inline __attribute__((always_inline)) void
warp_coords(const float *restrict urow, const float *restrict vrow, long x0, long y, size_t n,
            float sx, float sy, float fw, float fh, int cubic, int quant, warp_run *restrict q) {
  const float xmax = fw - 1.0f, ymax = fh - 1.0f, a = -0.75f;
  const int xi0 = (int)x0;
  const float yf = (float)y;
  for (size_t i = 0; i < n; i++) {
    float xs = (float)(xi0 + (int)i) + sx * urow[i];
    float ys = yf + sy * vrow[i];
    const int inb = (xs >= 0.0f) & (xs < fw) & (ys >= 0.0f) & (ys < fh);
    /* The reference clips in-bounds positions to [0, n-1] before sampling (§2 item 39);
     * this only matters in the last interval (n-1, n). */
    float xc = xs < xmax ? xs : xmax, yc = ys < ymax ? ys : ymax; /* NaN -> max */
    xc = xc > 0.0f ? xc : 0.0f;                                   /* -inf -> 0 */
    yc = yc > 0.0f ? yc : 0.0f;
    /* Out of bounds: position 0 (a product, not a select, which keeps the loop
     * vectorisable); xc, yc are finite here. */
    xs = xc * (float)inb;
    ys = yc * (float)inb;
    if (quant) { /* OpenCV remap: round(pos * 32) / 32, exact in float */
      xs = rintf(xs * 32.0f) * (1.0f / 32.0f);
      ys = rintf(ys * 32.0f) * (1.0f / 32.0f);
    }
    /* xs, ys >= 0, so truncation is floor (floorf is a libm call on baseline x86-64). */
    const int ix = (int)xs, iy = (int)ys;
    const float tx = xs - (float)ix, ty = ys - (float)iy;
    q->ok[i] = inb;
    q->ix[i] = ix;
    q->iy[i] = iy;
    q->wx[0][i] = tx;
    q->wy[0][i] = ty;
  }
  if (!cubic) return; /* bilinear uses the fractions themselves */
  /* Keys (a = -0.75) weights of taps -1, 0, 1, 2: K(t+1), K(t), K(1-t), K(2-t) as
   * polynomials in t (the kernel of sf_keys_cubic, evaluated once per pixel and axis). */
  for (size_t i = 0; i < n; i++) {
    const float tx = q->wx[0][i], ty = q->wy[0][i];
    q->wx[0][i] = a * tx * (tx - 1.0f) * (tx - 1.0f);
    q->wx[1][i] = ((a + 2.0f) * tx - (a + 3.0f)) * tx * tx + 1.0f;
    q->wx[2][i] = ((-(a + 2.0f) * tx + (2.0f * a + 3.0f)) * tx - a) * tx;
    q->wx[3][i] = a * tx * tx * (1.0f - tx);
    q->wy[0][i] = a * ty * (ty - 1.0f) * (ty - 1.0f);
    q->wy[1][i] = ((a + 2.0f) * ty - (a + 3.0f)) * ty * ty + 1.0f;
    q->wy[2][i] = ((-(a + 2.0f) * ty + (2.0f * a + 3.0f)) * ty - a) * ty;
    q->wy[3][i] = a * ty * ty * (1.0f - ty);
  }
}

#ifdef SF_WARP_RUNS
/* The cubic sum of one group from its block at b0 (see warp_cubic_runs_avx2); blend = 0 when
 * every lane has the block's origin. */
WARP_AVX2 static inline __attribute__((always_inline)) __m256 group_taps(const float *b0, size_t w,
                                                               __m256 selx, __m256 sely, int blend,
                                                               const warp_run *q, size_t g) {
  const __m256 wy0 = _mm256_loadu_ps(q->wy[0] + g), wy1 = _mm256_loadu_ps(q->wy[1] + g);
  const __m256 wy2 = _mm256_loadu_ps(q->wy[2] + g), wy3 = _mm256_loadu_ps(q->wy[3] + g);
  __m256 res = _mm256_setzero_ps();
  for (int k = 0; k < 4; k++) {
    /* Tap column k: lane i reads block column k + i + dx_i of block rows dy_i .. dy_i + 3. */
    const float *p = b0 + k;
    __m256 h[5], v[4];
    for (int r = 0; r < 4 + blend; r++)
      h[r] = blend ? _mm256_blendv_ps(_mm256_loadu_ps(p + (size_t)r * w),
                                      _mm256_loadu_ps(p + (size_t)r * w + 1), selx)
                   : _mm256_loadu_ps(p + (size_t)r * w);
    for (int t = 0; t < 4; t++)
      v[t] = blend ? _mm256_blendv_ps(h[t], h[t + 1], sely) : h[t];
    __m256 col = _mm256_mul_ps(wy0, v[0]);
    col = _mm256_fmadd_ps(wy1, v[1], col);
    col = _mm256_fmadd_ps(wy2, v[2], col);
    col = _mm256_fmadd_ps(wy3, v[3], col);
    const __m256 wxk = _mm256_loadu_ps(q->wx[k] + g);
    res = k == 0 ? _mm256_mul_ps(wxk, col) : _mm256_fmadd_ps(wxk, col, res);
  }
  return res;
}

/* One channel, Keys cubic, 8 pixels at a time. A group qualifies when all its pixels are in
 * bounds and their integer tap origins lie within one step of a common (row, column - lane)
 * origin, which smooth flows give almost everywhere: then a 5x12 block of the interior holds
 * every tap, read with unaligned loads, and each lane picks its taps with blends (none when
 * all lanes share the origin). The arithmetic is the per-pixel path's, lane by lane (same
 * bytes). Marks the groups it did with ok = 2; the caller skips them. */
WARP_AVX2 static void warp_cubic_runs_avx2(const float *img, size_t w, long H, long W, long y,
                                           long x0, size_t n, warp_run *q, float *out) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), one = _mm256_set1_epi32(1);
  for (size_t g = 0; g + 8 <= n; g += 8) {
    const __m256i okv = _mm256_loadu_si256((const __m256i *)(q->ok + g));
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(okv, one)) != -1) continue;
    const __m256i cx = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(q->ix + g)), lane);
    const __m256i ry = _mm256_loadu_si256((const __m256i *)(q->iy + g));
    /* Lane minima of cx and ry (the origin), broadcast. */
    __m256i m = _mm256_min_epi32(cx, _mm256_permute2x128_si256(cx, cx, 1));
    m = _mm256_min_epi32(m, _mm256_shuffle_epi32(m, 0x4e));
    const __m256i bxv = _mm256_min_epi32(m, _mm256_shuffle_epi32(m, 0xb1));
    m = _mm256_min_epi32(ry, _mm256_permute2x128_si256(ry, ry, 1));
    m = _mm256_min_epi32(m, _mm256_shuffle_epi32(m, 0x4e));
    const __m256i byv = _mm256_min_epi32(m, _mm256_shuffle_epi32(m, 0xb1));
    const __m256i dx = _mm256_sub_epi32(cx, bxv), dy = _mm256_sub_epi32(ry, byv);
    const __m256i dxy = _mm256_or_si256(dx, dy);
    /* dx, dy >= 0; each must be 0 or 1 */
    if (!_mm256_testz_si256(dxy, _mm256_set1_epi32(~1))) continue;
    const long bx = _mm256_cvtsi256_si32(bxv), by = _mm256_cvtsi256_si32(byv);
    if (bx < 1 || bx + 10 >= W || by < 1 || by + 3 >= H) continue;
    /* 0 - 1 = all ones selects the next column / row */
    const __m256 selx = _mm256_castsi256_ps(_mm256_sub_epi32(_mm256_setzero_si256(), dx));
    const __m256 sely = _mm256_castsi256_ps(_mm256_sub_epi32(_mm256_setzero_si256(), dy));
    const float *b0 = img + (size_t)(by - 1) * w + (size_t)(bx - 1);
    const __m256 res = _mm256_testz_si256(dxy, dxy)
                           ? group_taps(b0, w, selx, sely, 0, q, g) /* one origin: no blends */
                           : group_taps(b0, w, selx, sely, 1, q, g);
    _mm256_storeu_ps(out + (size_t)y * w + (size_t)x0 + g, res);
    q->ok[g] = 2;
  }
}
#endif

/* The vector cubic path of one channel, per level (none: the per-pixel path does all). */
typedef void (*warp_runs_fn)(const float *img, size_t w, long H, long W, long y, long x0,
                             size_t n, warp_run *q, float *out);
static const warp_runs_fn warp_runs_impl[SF_SIMD_COUNT] = {
#ifdef SF_WARP_RUNS
    [SF_SIMD_AVX2] = warp_cubic_runs_avx2,
    [SF_SIMD_AVX512] = warp_cubic_runs_avx2,
#endif
};

void sf_warp_flow(const float *img, const float *fill, size_t h, size_t w, size_t c, const float *u,
                  const float *v, size_t flow_stride, float sx, float sy, sf_interp interp,
                  float *out, unsigned char *valid) {
  const long W = (long)w, H = (long)h;
  const size_t rs = w * c; /* row stride of img, fill and out */
  const int cubic = interp != SF_INTERP_LINEAR, quant = interp == SF_INTERP_CUBIC_Q32;
  const warp_runs_fn runs = cubic && c == 1 ? warp_runs_impl[sf_simd_best()] : NULL;
  warp_run q;
  for (long y = 0; y < H; y++) {
    const float *urow = u + (size_t)y * flow_stride, *vrow = v + (size_t)y * flow_stride;
    for (long x0 = 0; x0 < W; x0 += WARP_RUN) {
      const size_t n = (size_t)(W - x0 < WARP_RUN ? W - x0 : WARP_RUN);
      /* quant as a constant, so each instance keeps its loop vectorised */
      if (quant)
        warp_coords(urow + x0, vrow + x0, x0, y, n, sx, sy, (float)w, (float)h, cubic, 1, &q);
      else
        warp_coords(urow + x0, vrow + x0, x0, y, n, sx, sy, (float)w, (float)h, cubic, 0, &q);
      if (valid)
        for (size_t i = 0; i < n; i++)
          valid[(size_t)y * w + (size_t)x0 + i] = (unsigned char)q.ok[i];
      if (runs) runs(img, w, H, W, y, x0, n, &q, out);
      for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0 && q.ok[i] == 2) { /* done by runs */
          i += 7;
          continue;
        }
        const size_t o = (size_t)y * rs + ((size_t)x0 + i) * c;
        if (!q.ok[i]) {
          for (size_t k = 0; k < c; k++)
            out[o + k] = fill[o + k];
          continue;
        }
        const long ix = q.ix[i], iy = q.iy[i];
        if (cubic) {
          const float wx0 = q.wx[0][i], wx1 = q.wx[1][i], wx2 = q.wx[2][i], wx3 = q.wx[3][i];
          const float wy0 = q.wy[0][i], wy1 = q.wy[1][i], wy2 = q.wy[2][i], wy3 = q.wy[3][i];
          /* Columns first (sum over the rows of each tap column), then across. */
          const float *p[4];
          size_t cx[4];
          for (int j = 0; j < 4; j++) {
            p[j] = img + (size_t)clampl(iy - 1 + j, H) * rs;
            cx[j] = (size_t)clampl(ix - 1 + j, W) * c;
          }
          for (size_t k = 0; k < c; k++) {
            float col[4];
            for (int j = 0; j < 4; j++)
              col[j] = WFMA(
                  wy3, p[3][cx[j] + k],
                  WFMA(wy2, p[2][cx[j] + k], WFMA(wy1, p[1][cx[j] + k], wy0 * p[0][cx[j] + k])));
            out[o + k] = WFMA(wx3, col[3], WFMA(wx2, col[2], WFMA(wx1, col[1], wx0 * col[0])));
          }
        } else {
          /* xs <= w-1, so ix+1 passes the edge only when tx == 0 (weight 0): replicate. */
          const float tx = q.wx[0][i], ty = q.wy[0][i];
          const size_t c0 = (size_t)ix * c, c1 = (size_t)(ix + 1 < W ? ix + 1 : ix) * c;
          const float *r0 = img + (size_t)iy * rs,
                      *r1 = img + (size_t)(iy + 1 < H ? iy + 1 : iy) * rs;
          for (size_t k = 0; k < c; k++) {
            const float a0 = r0[c0 + k] + tx * (r0[c1 + k] - r0[c0 + k]);
            const float a1 = r1[c0 + k] + tx * (r1[c1 + k] - r1[c0 + k]);
            out[o + k] = a0 + ty * (a1 - a0);
          }
        }
      }
    }
  }
}

void sf_flow_stats(const float *u, const float *v, size_t h, size_t w, float out[4]) {
  double sum_mag = 0.0, max_mag = 0.0, sum_div = 0.0, sum_u = 0.0, sum_v = 0.0;
  for (size_t i = 0; i < h * w; i++) {
    const double m = sf_hd_flow_mag(u[i], v[i]);
    sum_mag += m;
    max_mag = m > max_mag ? m : max_mag;
    sum_u += u[i];
    sum_v += v[i];
  }
  for (size_t y = 0; y < h; y++)
    sum_div += sf_hd_grad_line_sum(u + y * w, 1, w);
  for (size_t x = 0; x < w; x++)
    sum_div += sf_hd_grad_line_sum(v + x, w, h);
  sf_hd_flow_stats_finish(sum_mag, max_mag, sum_div, sum_u, sum_v, (double)h * (double)w, out);
}
