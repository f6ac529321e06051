/* Upsampling by U and back by FFT, in thread-shared work items; see eeg_updown.h. */
#include "kernels/eeg_updown.h"

#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fftw_check.h"
#include "sf_error.h"

struct sf_updown {
  size_t n, U, L, pad0, pad1;
  fftw_plan fwd, inv; /* r2c and c2r of length L out of place, executed on new arrays (two
                       * plans only, out of place: planning a long transform costs about as
                       * much as running it, in place twice that) */
};

struct sf_updown_ws {
  size_t max_L;
  double *r; /* a row of stride(max_L) doubles: the padded input, the output's spectrum */
  fftw_complex *s;
};

struct sf_updown_buf {
  size_t max_L, max_U;
  fftw_complex *X; /* the input's spectrum (up), the summed spectrum (down) */
  double *Q;       /* per phase r a row of stride(L) doubles: its samples or its spectrum */
};

/* Row stride of the phase buffer: room for L/2 + 1 complex values, rows 32-byte aligned. */
static size_t row_stride(size_t L) { return L + 4; }

/* Phases are exact every this many bins; a rotation carries them in between. */
#define TWIDDLE_STRIDE 64

/* The smallest multiple of 4 at least m whose other factors are 2, 3 and 5 (FFTW's fast
 * sizes; a power of two, MNE's choice, can be up to twice as long). */
static size_t smooth_length(size_t m) {
  size_t best = 4;
  while (best < m) best <<= 1;
  for (size_t p2 = 4; p2 < best; p2 <<= 1)
    for (size_t p3 = p2; p3 < best; p3 *= 3)
      for (size_t p5 = p3; p5 < best; p5 *= 5)
        if (p5 >= m) best = p5;
  return best;
}

int sf_updown_plan(size_t n, size_t U, sf_updown **out) {
  int status = 0;
  sf_updown *p = NULL;
  double *r = NULL;
  fftw_complex *c = NULL;
  if (out) *out = NULL;
  if (!out || n < 2 || U < 2 || U > 64 || n > (size_t)INT_MAX / 128) SF_FAIL_QUIET(SF_ERR_INPUT);
  size_t min_add = (n / 8 < 100 ? n / 8 : 100) * 2, L = smooth_length(n + min_add);
  p = calloc(1, sizeof *p);
  if (!p) SF_FAIL_QUIET(SF_ERR_NOMEM);
  p->n = n, p->U = U, p->L = L;
  p->pad0 = (L - n) / 2, p->pad1 = L - n - p->pad0;
  r = fftw_malloc(row_stride(L) * sizeof *r);
  c = fftw_malloc((L / 2 + 1) * sizeof *c);
  if (!r || !c) SF_FAIL_QUIET(SF_ERR_NOMEM);
  p->fwd = fftw_plan_dft_r2c_1d((int)L, r, c, FFTW_ESTIMATE);
  SF_FFTW(p->fwd);
  p->inv = fftw_plan_dft_c2r_1d((int)L, c, r, FFTW_ESTIMATE);
  SF_FFTW(p->inv);
  *out = p;
  p = NULL;
cleanup:
  fftw_free(r);
  fftw_free(c);
  sf_updown_destroy(&p);
  return status;
}

size_t sf_updown_len_padded(const sf_updown *p) { return p->L; }
size_t sf_updown_len_up(const sf_updown *p) { return p->U * p->L; }
size_t sf_updown_offset(const sf_updown *p) { return p->U * p->pad0; }

int sf_updown_ws_create(size_t max_L, sf_updown_ws **out) {
  int status = 0;
  sf_updown_ws *w = calloc(1, sizeof *w);
  *out = NULL;
  if (!w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  w->max_L = max_L;
  w->r = fftw_malloc(row_stride(max_L) * sizeof *w->r);
  w->s = fftw_malloc((max_L / 2 + 1) * sizeof *w->s);
  if (!w->r || !w->s) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = w;
  w = NULL;
cleanup:
  sf_updown_ws_destroy(&w);
  return status;
}

int sf_updown_buf_create(size_t max_L, size_t max_U, sf_updown_buf **out) {
  int status = 0;
  sf_updown_buf *b = calloc(1, sizeof *b);
  *out = NULL;
  if (!b) SF_FAIL_QUIET(SF_ERR_NOMEM);
  b->max_L = max_L;
  b->max_U = max_U;
  b->X = fftw_malloc((max_L / 2 + 1) * sizeof *b->X);
  b->Q = fftw_malloc(max_U * row_stride(max_L) * sizeof *b->Q);
  if (!b->X || !b->Q) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = b;
  b = NULL;
cleanup:
  sf_updown_buf_destroy(&b);
  return status;
}

/* Samples per work item of the (de)interleaving passes. */
#define MBLOCK 512

/* exp(sign 2 pi i k r / (U L)) for k in [k0, k1), exact every TWIDDLE_STRIDE bins and
 * rotated in between, times spec[k] into out[k] (out may be spec). */
static void turn(const fftw_complex *spec, fftw_complex *out, size_t k0, size_t k1, size_t r,
                 size_t UL, double sign) {
  const double w = sign * 2.0 * M_PI / (double)UL;
  double sr, cr;
  sincos(w * (double)r, &sr, &cr);
  for (size_t kb = k0; kb < k1; kb += TWIDDLE_STRIDE) {
    size_t ke = kb + TWIDDLE_STRIDE < k1 ? kb + TWIDDLE_STRIDE : k1;
    double s, c;
    sincos(w * (double)((kb * r) % UL), &s, &c);
    for (size_t k = kb; k < ke; k++) {
      double a = spec[k][0], b = spec[k][1];
      out[k][0] = a * c - b * s;
      out[k][1] = a * s + b * c;
      double c2 = c * cr - s * sr;
      s = s * cr + c * sr;
      c = c2;
    }
  }
}

static int fits(const sf_updown *p, const sf_updown_buf *buf, const sf_updown_ws *ws) {
  return buf->max_L >= p->L && buf->max_U >= p->U && ws->max_L >= p->L;
}

int sf_updown_up(const sf_updown *p, const double *x, double *u, sf_updown_buf *buf,
                 sf_updown_ws *ws) {
  const size_t n = p->n, L = p->L, U = p->U, S = row_stride(L), nmb = (L + MBLOCK - 1) / MBLOCK;
  if (!fits(p, buf, ws)) return SF_ERR_INPUT;
#pragma omp single
  {
    /* _smart_pad(x, (pad0, pad1), 'reflect_limited') */
    double *xp = ws->r;
    size_t e0 = p->pad0 < n - 1 ? p->pad0 : n - 1, z0 = p->pad0 - e0;
    size_t e1 = p->pad1 < n - 1 ? p->pad1 : n - 1, z1 = p->pad1 - e1;
    size_t o = 0;
    for (size_t k = 0; k < z0; k++) xp[o++] = 0.0;
    for (size_t k = e0; k >= 1; k--) xp[o++] = 2.0 * x[0] - x[k];
    memcpy(xp + o, x, n * sizeof(double));
    o += n;
    for (size_t k = 1; k <= e1; k++) xp[o++] = 2.0 * x[n - 1] - x[n - 1 - k];
    for (size_t k = 0; k < z1; k++) xp[o++] = 0.0;
    fftw_execute_dft_r2c(p->fwd, xp, buf->X);
    buf->X[0][1] = 0.0;
    buf->X[L / 2][1] = 0.0;
  }
  /* phase r: the spectrum turned, its irfft of length L in place in row r */
#pragma omp for schedule(static)
  for (size_t r = 0; r < U; r++) {
    turn(buf->X, ws->s, 0, L / 2, r, U * L, 1.0);
    /* the Nyquist bin of L, halved and paired with its mirror: X cos(pi r / U) */
    ws->s[L / 2][0] = buf->X[L / 2][0] * cos(M_PI * (double)r / (double)U);
    ws->s[L / 2][1] = 0.0;
    fftw_execute_dft_c2r(p->inv, ws->s, buf->Q + r * S);
  }
  /* interleave: u[U m + r] = row r [m] / L */
  const double inv = 1.0 / (double)L;
#pragma omp for schedule(static)
  for (size_t b = 0; b < nmb; b++) {
    size_t m1 = (b + 1) * MBLOCK < L ? (b + 1) * MBLOCK : L;
    for (size_t r = 0; r < U; r++) {
      const double *q = buf->Q + r * S;
      for (size_t m = b * MBLOCK; m < m1; m++) u[U * m + r] = q[m] * inv;
    }
  }
  return 0;
}

int sf_updown_down(const sf_updown *p, const double *u, double *y, sf_updown_buf *buf,
                   sf_updown_ws *ws) {
  const size_t n = p->n, L = p->L, U = p->U, nb = L / 2 + 1, S = row_stride(L);
  const size_t nmb = (L + MBLOCK - 1) / MBLOCK;
  if (!fits(p, buf, ws)) return SF_ERR_INPUT;
  /* polyphase components: row r [m] = u[U m + r] (blocked, cache-friendly) */
#pragma omp for schedule(static)
  for (size_t b = 0; b < nmb; b++) {
    size_t m1 = (b + 1) * MBLOCK < L ? (b + 1) * MBLOCK : L;
    for (size_t r = 0; r < U; r++) {
      double *q = buf->Q + r * S;
      for (size_t m = b * MBLOCK; m < m1; m++) q[m] = u[U * m + r];
    }
  }
  /* each component's rfft, turned by its phase, back into its row */
#pragma omp for schedule(static)
  for (size_t r = 0; r < U; r++) {
    fftw_execute_dft_r2c(p->fwd, buf->Q + r * S, ws->s);
    turn(ws->s, (fftw_complex *)(buf->Q + r * S), 0, nb, r, U * L, -1.0);
  }
  /* summed over the phases in order */
#pragma omp for schedule(static)
  for (size_t b = 0; b < (nb + MBLOCK - 1) / MBLOCK; b++) {
    size_t k1 = (b + 1) * MBLOCK < nb ? (b + 1) * MBLOCK : nb;
    for (size_t k = b * MBLOCK; k < k1; k++) {
      double re = 0.0, im = 0.0;
      for (size_t r = 0; r < U; r++) {
        const fftw_complex *row = (const fftw_complex *)(buf->Q + r * S);
        re += row[k][0], im += row[k][1];
      }
      buf->X[k][0] = re, buf->X[k][1] = im;
    }
  }
#pragma omp single
  {
    /* MNE's fold of the shorter length's Nyquist bin; DC real */
    buf->X[L / 2][0] *= 2.0;
    buf->X[L / 2][1] = 0.0;
    buf->X[0][1] = 0.0;
    fftw_execute_dft_c2r(p->inv, buf->X, ws->r);
    const double inv = 1.0 / (double)(U * L);
    for (size_t i = 0; i < n; i++) y[i] = ws->r[p->pad0 + i] * inv;
  }
  return 0;
}

void sf_updown_ws_destroy(sf_updown_ws **ws) {
  if (!ws || !*ws) return;
  fftw_free((*ws)->r);
  fftw_free((*ws)->s);
  free(*ws);
  *ws = NULL;
}

void sf_updown_buf_destroy(sf_updown_buf **b) {
  if (!b || !*b) return;
  fftw_free((*b)->X);
  fftw_free((*b)->Q);
  free(*b);
  *b = NULL;
}

void sf_updown_destroy(sf_updown **p) {
  if (!p || !*p) return;
  if ((*p)->fwd) fftw_destroy_plan((*p)->fwd);
  if ((*p)->inv) fftw_destroy_plan((*p)->inv);
  free(*p);
  *p = NULL;
}
