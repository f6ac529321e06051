/* The resampling operator R of the flow pyramid (spec register.md §1.3 items 11-15): fused
 * anti-alias Gaussian + Keys cubic, separable, tap tables planned once per shape pair. */
#include "kernels/flow_resample.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sf_error.h"

/* One axis: output i reads taps start[i] .. start[i]+ntap-1 with weights wt[i*ntap ..]. For
 * the vertical axis the taps are looked up through idx (reflected row numbers); for the
 * horizontal axis start[] indexes a row padded by pad_lo/pad_hi reflected samples, so every
 * tap run is contiguous. */
typedef struct axis_table {
  size_t in_len, out_len;
  int ntap;
  float *wt;      /* out_len * ntap */
  int32_t *idx;   /* out_len * ntap, reflected source indices */
  int32_t *start; /* out_len: first tap, relative to the padded row */
  size_t pad_lo, pad_hi;
  int32_t *pad_src; /* pad_lo + pad_hi: reflected source of each pad sample (lo, then hi) */
} axis_table;

struct sf_resample {
  axis_table y, x;
  size_t row_len; /* pad_lo + in_w + pad_hi */
};

/* Keys cubic, a = -0.75 (§1.3 item 14), in double for the tables. */
static double keys(double t) {
  const double a = -0.75;
  t = fabs(t);
  if (t < 1.0) return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
  if (t < 2.0) return ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a;
  return 0.0;
}

/* Edge-duplicating reflection (-1 -> 0, n -> n-1), repeated for taps far outside. */
static long reflect_dup(long j, long n) {
  if (n <= 1) return 0;
  long period = 2 * n;
  long m = j % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

static void axis_free(axis_table *a) {
  free(a->wt);
  free(a->idx);
  free(a->start);
  free(a->pad_src);
  a->wt = NULL;
  a->idx = NULL;
  a->start = NULL;
  a->pad_src = NULL;
}

/* Builds the table of one axis for Gaussian sigma (0: pure Keys). The reference's window,
 * P = 2R+4 taps from floor(x-2)-R, is kept as specified, including its renormalisation;
 * taps whose weight is exactly 0 for every output (e.g. the first one) are trimmed. */
static int axis_plan(size_t in_len, size_t out_len, double sigma, int round4, axis_table *a) {
  int status = 0;
  double *g = NULL, *full = NULL;
  long *first = NULL;
  a->in_len = in_len;
  a->out_len = out_len;
  const int R = sigma > 0.0 ? (int)ceil(2.0 * sigma) : 0;
  const int P = 2 * R + 4;
  g = malloc(sizeof(double) * (size_t)(2 * R + 1));
  full = malloc(sizeof(double) * out_len * (size_t)P);
  first = malloc(sizeof(long) * out_len);
  if (!g || !full || !first) SF_FAIL_QUIET(SF_ERR_NOMEM);
  if (R == 0) {
    g[0] = 1.0;
  } else {
    double sum = 0.0;
    for (int k = -R; k <= R; k++) {
      g[k + R] = exp(-0.5 * ((double)k / sigma) * ((double)k / sigma));
      sum += g[k + R];
    }
    for (int k = 0; k <= 2 * R; k++)
      g[k] /= sum;
  }
  const double s = (double)out_len / (double)in_len;
  int pmin = P, pmax = -1;
  for (size_t i = 0; i < out_len; i++) {
    const double x = ((double)i + 0.5) / s - 0.5;
    const long left = (long)floor(x - 2.0) - R;
    double *wi = full + i * (size_t)P, sum = 0.0;
    first[i] = left;
    for (int p = 0; p < P; p++) {
      const double d = x - (double)(left + p);
      double acc = 0.0;
      for (int k = -R; k <= R; k++)
        acc += g[k + R] * keys(d - (double)k);
      wi[p] = acc;
      sum += acc;
    }
    if (sum != 0.0)
      for (int p = 0; p < P; p++)
        wi[p] /= sum;
    for (int p = 0; p < P; p++)
      if ((float)wi[p] != 0.0f) {
        if (p < pmin) pmin = p;
        if (p > pmax) pmax = p;
      }
  }
  if (pmax < pmin) pmin = pmax = 0; /* cannot happen (weights sum to 1); stay well-formed */
  /* round4: pad the taps with zero weights to a multiple of 4 (see horizontal_row). */
  int ntap = pmax - pmin + 1;
  if (round4 && ntap >= 4) ntap = (ntap + 3) / 4 * 4;
  a->ntap = ntap;
  a->wt = malloc(sizeof(float) * out_len * (size_t)ntap);
  a->idx = malloc(sizeof(int32_t) * out_len * (size_t)ntap);
  a->start = malloc(sizeof(int32_t) * out_len);
  if (!a->wt || !a->idx || !a->start) SF_FAIL_QUIET(SF_ERR_NOMEM);
  long lo = 0, hi = (long)in_len - 1;
  for (size_t i = 0; i < out_len; i++) {
    const long j0 = first[i] + pmin;
    if (j0 < lo) lo = j0;
    if (j0 + ntap - 1 > hi) hi = j0 + ntap - 1;
    for (int p = 0; p < ntap; p++) {
      a->wt[i * (size_t)ntap + (size_t)p] =
          pmin + p <= pmax ? (float)full[i * (size_t)P + (size_t)(pmin + p)] : 0.0f;
      a->idx[i * (size_t)ntap + (size_t)p] = (int32_t)reflect_dup(j0 + p, (long)in_len);
    }
  }
  a->pad_lo = (size_t)(-lo);
  a->pad_hi = (size_t)(hi - ((long)in_len - 1));
  for (size_t i = 0; i < out_len; i++)
    a->start[i] = (int32_t)(first[i] + pmin + (long)a->pad_lo);
  a->pad_src = malloc(sizeof(int32_t) * (a->pad_lo + a->pad_hi + 1));
  if (!a->pad_src) SF_FAIL_QUIET(SF_ERR_NOMEM);
  for (size_t k = 0; k < a->pad_lo; k++)
    a->pad_src[k] = (int32_t)reflect_dup((long)k - (long)a->pad_lo, (long)in_len);
  for (size_t k = 0; k < a->pad_hi; k++)
    a->pad_src[a->pad_lo + k] = (int32_t)reflect_dup((long)in_len + (long)k, (long)in_len);
cleanup:
  free(g);
  free(full);
  free(first);
  return status;
}

int sf_resample_create(size_t in_h, size_t in_w, size_t out_h, size_t out_w, sf_resample **out) {
  int status = 0;
  sf_resample *r = NULL;
  if (!out) return SF_ERR_USAGE;
  *out = NULL;
  /* Tap indices are stored as int32; keep every size far below that. */
  const size_t lim = (size_t)1 << 28;
  if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 || in_h > lim || in_w > lim || out_h > lim ||
      out_w > lim)
    SF_FAIL_QUIET(SF_ERR_USAGE);
  r = calloc(1, sizeof *r);
  if (!r) SF_FAIL_QUIET(SF_ERR_NOMEM);
  const double sy = (double)out_h / (double)in_h, sx = (double)out_w / (double)in_w;
  const double smin = sy < sx ? sy : sx;
  /* Isotropic blur from the stronger shrink (§1.3 item 13). */
  const double sigma = smin < 1.0 ? 0.6 / smin : 0.0;
  if (2.0 * sigma > 1e6) SF_FAIL_QUIET(SF_ERR_USAGE);
  SF_CALL(axis_plan(in_h, out_h, sigma, 0, &r->y));
  SF_CALL(axis_plan(in_w, out_w, sigma, 1, &r->x));
  r->row_len = r->x.pad_lo + in_w + r->x.pad_hi;
  *out = r;
  r = NULL;
cleanup:
  sf_resample_destroy(&r);
  return status;
}

size_t sf_resample_scratch(const sf_resample *r) { return r->row_len; }

/* dst = sum_p w[p] * rows[p][0..n), four taps per pass so dst is loaded and stored
 * ceil(ntap/4) times instead of ntap times. */
static void vertical_row(const float *in, size_t in_stride, const int32_t *restrict idx,
                         const float *restrict w, int ntap, size_t n, float *restrict dst) {
  int p = 0;
  if (ntap >= 4) {
    const float *restrict r0 = in + (size_t)idx[0] * in_stride;
    const float *restrict r1 = in + (size_t)idx[1] * in_stride;
    const float *restrict r2 = in + (size_t)idx[2] * in_stride;
    const float *restrict r3 = in + (size_t)idx[3] * in_stride;
    const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    for (size_t x = 0; x < n; x++)
      dst[x] = w0 * r0[x] + w1 * r1[x] + w2 * r2[x] + w3 * r3[x];
    p = 4;
  } else {
    const float *restrict r0 = in + (size_t)idx[0] * in_stride;
    const float w0 = w[0];
    for (size_t x = 0; x < n; x++)
      dst[x] = w0 * r0[x];
    p = 1;
  }
  for (; p + 4 <= ntap; p += 4) {
    const float *restrict r0 = in + (size_t)idx[p] * in_stride;
    const float *restrict r1 = in + (size_t)idx[p + 1] * in_stride;
    const float *restrict r2 = in + (size_t)idx[p + 2] * in_stride;
    const float *restrict r3 = in + (size_t)idx[p + 3] * in_stride;
    const float w0 = w[p], w1 = w[p + 1], w2 = w[p + 2], w3 = w[p + 3];
    for (size_t x = 0; x < n; x++)
      dst[x] += w0 * r0[x] + w1 * r1[x] + w2 * r2[x] + w3 * r3[x];
  }
  for (; p < ntap; p++) {
    const float *restrict r0 = in + (size_t)idx[p] * in_stride;
    const float w0 = w[p];
    for (size_t x = 0; x < n; x++)
      dst[x] += w0 * r0[x];
  }
}

/* out[i] = sum_p wt[i][p] * row[start[i] + p]; the row is padded, so no index is clamped. */
static void horizontal_row(const float *restrict row, const int32_t *restrict start,
                           const float *restrict wt, int ntap, size_t n, float *restrict out) {
  switch (ntap) {
  case 1:
    for (size_t i = 0; i < n; i++)
      out[i] = wt[i] * row[start[i]];
    return;
  case 3:
    for (size_t i = 0; i < n; i++) {
      const float *p = row + start[i], *w = wt + 3 * i;
      out[i] = w[0] * p[0] + w[1] * p[1] + w[2] * p[2];
    }
    return;
  default:
    if (ntap % 4 == 0) {
      /* Four partial sums, one per lane: gcc turns the body into vector operations. */
      for (size_t i = 0; i < n; i++) {
        const float *p = row + start[i], *w = wt + i * (size_t)ntap;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (int k = 0; k < ntap; k += 4) {
          a0 += w[k] * p[k];
          a1 += w[k + 1] * p[k + 1];
          a2 += w[k + 2] * p[k + 2];
          a3 += w[k + 3] * p[k + 3];
        }
        out[i] = (a0 + a1) + (a2 + a3);
      }
      return;
    }
    for (size_t i = 0; i < n; i++) {
      const float *p = row + start[i], *w = wt + i * (size_t)ntap;
      float acc = 0.0f;
      for (int k = 0; k < ntap; k++)
        acc += w[k] * p[k];
      out[i] = acc;
    }
  }
}

/* Vertical pass first, one output row at a time, into a padded row buffer; then the
 * horizontal pass from that buffer. The spec orders them the other way; only float rounding
 * differs. */
void sf_resample_execute(const sf_resample *r, const float *in, size_t in_stride, float *out,
                         size_t out_stride, float *scratch) {
  const axis_table *ay = &r->y, *ax = &r->x;
  const size_t in_w = ax->in_len, lo = ax->pad_lo, hi = ax->pad_hi;
  float *restrict row = scratch;
  for (size_t i = 0; i < ay->out_len; i++) {
    vertical_row(in, in_stride, ay->idx + i * (size_t)ay->ntap, ay->wt + i * (size_t)ay->ntap,
                 ay->ntap, in_w, row + lo);
    for (size_t k = 0; k < lo; k++)
      row[k] = row[lo + (size_t)ax->pad_src[k]];
    for (size_t k = 0; k < hi; k++)
      row[lo + in_w + k] = row[lo + (size_t)ax->pad_src[lo + k]];
    horizontal_row(row, ax->start, ax->wt, ax->ntap, ax->out_len, out + i * out_stride);
  }
}

static void axis_view(const axis_table *a, sf_resample_axis *v) {
  v->in_len = a->in_len;
  v->out_len = a->out_len;
  v->ntap = a->ntap;
  v->wt = a->wt;
  v->idx = a->idx;
  v->start = a->start;
  v->pad_src = a->pad_src;
  v->pad_lo = a->pad_lo;
  v->pad_hi = a->pad_hi;
}

void sf_resample_axes(const sf_resample *r, sf_resample_axis *y, sf_resample_axis *x) {
  axis_view(&r->y, y);
  axis_view(&r->x, x);
}

void sf_resample_destroy(sf_resample **r) {
  if (!r || !*r) return;
  axis_free(&(*r)->y);
  axis_free(&(*r)->x);
  free(*r);
  *r = NULL;
}
