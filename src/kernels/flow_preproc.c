/* Preprocessing for flow estimation (spec register.md §3 item 44): normalisation by the
 * reference range and scipy.ndimage.gaussian_filter-compatible separable smoothing. */
#include "kernels/flow_preproc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sf_error.h"

int sf_gauss_weights(double sigma, double *k) {
  if (isnan(sigma)) return -1;
  if (!(sigma > 0.0)) {
    k[0] = 1.0;
    return 0;
  }
  /* scipy: radius = int(truncate * sigma + 0.5), truncate = 4; test before converting. */
  const double rr = 4.0 * sigma + 0.5;
  if (!(rr < (double)SF_GAUSS_MAX_RADIUS + 1.0)) return -1;
  const int r = (int)rr;
  if (r == 0) {
    k[0] = 1.0;
    return 0;
  }
  /* scipy's _gaussian_kernel1d: exp(-0.5 / sigma^2 * x^2), then divided by the sum. */
  const double c = -0.5 / (sigma * sigma);
  double sum = 0.0;
  for (int i = -r; i <= r; i++) {
    k[i + r] = exp(c * (double)(i * i));
    sum += k[i + r];
  }
  for (int i = 0; i <= 2 * r; i++)
    k[i] /= sum;
  return r;
}

struct sf_smooth {
  size_t h, w;
  int ry, rx;
  float *ky, *kx;   /* 2r+1 weights each (symmetric) */
  int32_t *pad_src; /* 2*rx: reflected column of each pad sample (left, then right) */
};

/* scipy "reflect" (edge-duplicating, d c b a | a b c d | d c b a), repeated with period 2n. */
static long reflect_dup(long j, long n) {
  if (n <= 1) return 0;
  long period = 2 * n, m = j % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

int sf_smooth_create(size_t h, size_t w, double sigma_y, double sigma_x, sf_smooth **out) {
  int status = 0;
  sf_smooth *s = NULL;
  double *k = NULL;
  if (!out) return SF_ERR_USAGE;
  *out = NULL;
  if (h < 1 || w < 1 || h > ((size_t)1 << 30) || w > ((size_t)1 << 30)) SF_FAIL_QUIET(SF_ERR_USAGE);
  s = calloc(1, sizeof *s);
  k = malloc(sizeof(double) * (2 * SF_GAUSS_MAX_RADIUS + 1));
  if (!s || !k) SF_FAIL_QUIET(SF_ERR_NOMEM);
  s->h = h;
  s->w = w;
  s->ry = sf_gauss_weights(sigma_y, k);
  if (s->ry < 0) SF_FAIL_QUIET(SF_ERR_USAGE);
  s->ky = malloc(sizeof(float) * (size_t)(2 * s->ry + 1));
  if (!s->ky) SF_FAIL_QUIET(SF_ERR_NOMEM);
  for (int i = 0; i <= 2 * s->ry; i++)
    s->ky[i] = (float)k[i];
  s->rx = sf_gauss_weights(sigma_x, k);
  if (s->rx < 0) SF_FAIL_QUIET(SF_ERR_USAGE);
  s->kx = malloc(sizeof(float) * (size_t)(2 * s->rx + 1));
  s->pad_src = malloc(sizeof(int32_t) * (size_t)(2 * s->rx + 1));
  if (!s->kx || !s->pad_src) SF_FAIL_QUIET(SF_ERR_NOMEM);
  for (int i = 0; i <= 2 * s->rx; i++)
    s->kx[i] = (float)k[i];
  for (int i = 0; i < s->rx; i++) {
    s->pad_src[i] = (int32_t)reflect_dup((long)i - s->rx, (long)w);
    s->pad_src[s->rx + i] = (int32_t)reflect_dup((long)w + i, (long)w);
  }
  *out = s;
  s = NULL;
cleanup:
  free(k);
  sf_smooth_destroy(&s);
  return status;
}

size_t sf_smooth_scratch(const sf_smooth *s) { return s->h * s->w + s->w + 2 * (size_t)s->rx; }

/* dst = k[r]*c[x] + sum_{t<r} k[t]*(a_t[x] + b_t[x]): the symmetric kernel folded, two
 * tap pairs per pass. rows[t] for t = 0..2r are the sources of taps -r..r (rows for the
 * vertical pass, shifted views of one padded row for the horizontal pass). */
static void fold_taps(const float *const *rows, const float *restrict k, int r, size_t n,
                      float *restrict dst) {
  const float *restrict c = rows[r];
  const float kc = k[r];
  int t = 0;
  if (r >= 2) {
    const float *restrict a0 = rows[0], *restrict b0 = rows[2 * r];
    const float *restrict a1 = rows[1], *restrict b1 = rows[2 * r - 1];
    const float k0 = k[0], k1 = k[1];
    for (size_t x = 0; x < n; x++)
      dst[x] = kc * c[x] + k0 * (a0[x] + b0[x]) + k1 * (a1[x] + b1[x]);
    t = 2;
  } else {
    for (size_t x = 0; x < n; x++)
      dst[x] = kc * c[x];
  }
  for (; t + 2 <= r; t += 2) {
    const float *restrict a0 = rows[t], *restrict b0 = rows[2 * r - t];
    const float *restrict a1 = rows[t + 1], *restrict b1 = rows[2 * r - t - 1];
    const float k0 = k[t], k1 = k[t + 1];
    for (size_t x = 0; x < n; x++)
      dst[x] += k0 * (a0[x] + b0[x]) + k1 * (a1[x] + b1[x]);
  }
  for (; t < r; t++) {
    const float *restrict a0 = rows[t], *restrict b0 = rows[2 * r - t];
    const float k0 = k[t];
    for (size_t x = 0; x < n; x++)
      dst[x] += k0 * (a0[x] + b0[x]);
  }
}

void sf_smooth_execute(const sf_smooth *s, const float *in, float *out, float *scratch) {
  const size_t h = s->h, w = s->w;
  const int ry = s->ry, rx = s->rx;
  const float *mid = in;
  /* Vertical pass (scipy filters axis 0 first) into scratch, so in == out is safe. */
  if (ry > 0) {
    const float *rows[2 * SF_GAUSS_MAX_RADIUS + 1];
    float *tmp = scratch;
    for (size_t y = 0; y < h; y++) {
      for (int t = 0; t <= 2 * ry; t++)
        rows[t] = in + (size_t)reflect_dup((long)y - ry + t, (long)h) * w;
      fold_taps(rows, s->ky, ry, w, tmp + y * w);
    }
    mid = tmp;
  }
  if (rx > 0) {
    float *restrict prow = scratch + h * w;
    for (size_t y = 0; y < h; y++) {
      const float *src = mid + y * w;
      memcpy(prow + rx, src, sizeof(float) * w);
      for (int i = 0; i < rx; i++) {
        prow[i] = src[s->pad_src[i]];
        prow[(size_t)rx + w + (size_t)i] = src[s->pad_src[rx + i]];
      }
      /* Horizontal taps are shifted views of the padded row: same folded kernel code. */
      const float *cols[2 * SF_GAUSS_MAX_RADIUS + 1];
      for (int t = 0; t <= 2 * rx; t++)
        cols[t] = prow + t;
      fold_taps(cols, s->kx, rx, w, out + y * w);
    }
  } else if (mid != out) {
    memmove(out, mid, sizeof(float) * h * w);
  }
}

void sf_smooth_taps(const sf_smooth *s, const float **ky, int *ry, const float **kx, int *rx) {
  *ky = s->ky;
  *ry = s->ry;
  *kx = s->kx;
  *rx = s->rx;
}

void sf_smooth_destroy(sf_smooth **s) {
  if (!s || !*s) return;
  free((*s)->ky);
  free((*s)->kx);
  free((*s)->pad_src);
  free(*s);
  *s = NULL;
}

void sf_normalize_deinterleave(const float *in, size_t hw, size_t c, const float *lo,
                               const float *inv, float *out) {
  if (c == 1) {
    const float l = lo[0], v = inv[0];
    for (size_t i = 0; i < hw; i++)
      out[i] = (in[i] - l) * v;
    return;
  }
  for (size_t k = 0; k < c; k++) {
    const float l = lo[k], v = inv[k];
    float *restrict o = out + k * hw;
    for (size_t i = 0; i < hw; i++)
      o[i] = (in[i * c + k] - l) * v;
  }
}
