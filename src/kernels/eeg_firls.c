/* firls design and filtfilt (specs/eeg.md sections 3d, 3e). */
#include "eeg_firls.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eeg_dot_impl.h"
#include "fft_conv.h"
#include "sf_error.h"

static double sinc(double x) { return x == 0.0 ? 1.0 : sin(M_PI * x) / (M_PI * x); }

/* In-place Cholesky A = L L^T of the n x n row-major a (lower triangle used and replaced),
 * Crout's dot-product form: L[i][j] = (A[i][j] - <L[i][0..j), L[j][0..j)>) / L[j][j]. Rows are
 * done in blocks of CHOL_BLOCK that share each pass over the rows above them (a design of 9413
 * taps streams the 88 MB triangle n/CHOL_BLOCK times, not n times); the dot products in a fixed
 * order: deterministic. Returns 0, or -1 when a pivot is not positive (not positive definite). */
enum { CHOL_BLOCK = 32 };

static int cholesky(double *a, size_t n) {
  for (size_t i0 = 0; i0 < n; i0 += CHOL_BLOCK) {
    size_t i1 = i0 + CHOL_BLOCK < n ? i0 + CHOL_BLOCK : n;
    for (size_t j = 0; j < i1; j++) {
      const double *rj = a + j * n;
      for (size_t i = j > i0 ? j : i0; i < i1; i++) {
        double *ri = a + i * n;
        double s = ri[j] - sf_eeg_dot8(ri, rj, j);
        if (j < i) {
          ri[j] = s / rj[j];
        } else {
          if (!(s > 0.0)) return -1;
          ri[i] = sqrt(s);
        }
      }
    }
  }
  return 0;
}

int sf_firls_design(size_t ntaps, const double *bands, const double *desired, size_t nbands,
                    double fs, double *h) {
  int status = 0;
  double *q = NULL, *Q = NULL, *b = NULL;
  if (ntaps == 0 || ntaps % 2 == 0 || nbands == 0 || !(isfinite(fs) && fs > 0.0))
    SF_FAIL_QUIET(SF_ERR_INPUT);
  double nyq = fs / 2.0;
  for (size_t i = 0; i < 2 * nbands; i++) {
    if (!(bands[i] >= 0.0 && bands[i] <= nyq) || !isfinite(desired[i]) || desired[i] < 0.0)
      SF_FAIL_QUIET(SF_ERR_INPUT);
    if (i % 2 == 1 && !(bands[i] > bands[i - 1])) SF_FAIL_QUIET(SF_ERR_INPUT);
    if (i % 2 == 0 && i > 0 && bands[i] < bands[i - 1]) SF_FAIL_QUIET(SF_ERR_INPUT);
  }
  size_t M = (ntaps - 1) / 2, n = M + 1;
  q = malloc(ntaps * sizeof(double));
  b = calloc(n, sizeof(double));
  Q = malloc(n * n * sizeof(double));
  if (!q || !b || !Q) SF_FAIL_QUIET(SF_ERR_NOMEM);
  /* q[k] = sum over bands of [f sinc(f k)] from f0 to f1 (f relative to Nyquist). */
  for (size_t k = 0; k < ntaps; k++) {
    double s = 0.0;
    for (size_t j = 0; j < nbands; j++) {
      double f0 = bands[2 * j] / nyq, f1 = bands[2 * j + 1] / nyq;
      s += f1 * sinc(f1 * (double)k) - f0 * sinc(f0 * (double)k);
    }
    q[k] = s;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j <= i; j++)
      Q[i * n + j] = q[i - j] + q[i + j];
  /* b[k] = sum over bands of the integral of D(f) cos(pi k f) (scipy's closed form). */
  for (size_t j = 0; j < nbands; j++) {
    double f[2] = {bands[2 * j] / nyq, bands[2 * j + 1] / nyq};
    double m = (desired[2 * j + 1] - desired[2 * j]) / (f[1] - f[0]);
    double c = desired[2 * j] - f[0] * m;
    for (size_t k = 0; k < n; k++) {
      double t[2];
      for (int e = 0; e < 2; e++) {
        double v = f[e] * (m * f[e] + c) * sinc(f[e] * (double)k);
        if (k == 0) {
          v -= m * f[e] * f[e] / 2.0;
        } else {
          double pk = M_PI * (double)k;
          v += m * cos(pk * f[e]) / (pk * pk);
        }
        t[e] = v;
      }
      b[k] += t[1] - t[0];
    }
  }
  if (cholesky(Q, n) != 0) SF_FAIL_QUIET(SF_ERR_INPUT);
  /* L z = b, then L^T a = z (a in b). */
  for (size_t i = 0; i < n; i++) {
    double s = b[i];
    for (size_t k = 0; k < i; k++)
      s -= Q[i * n + k] * b[k];
    b[i] = s / Q[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; k++)
      s -= Q[k * n + i] * b[k];
    b[i] = s / Q[i * n + i];
  }
  h[M] = 2.0 * b[0];
  for (size_t k = 1; k <= M; k++)
    h[M + k] = h[M - k] = b[k];
cleanup:
  free(q);
  free(b);
  free(Q);
  return status;
}

struct sf_filtfilt {
  size_t ntaps;
  double *h;
  sf_fftconv conv; /* block = nfft - ntaps + 1 outputs per FFT */
};

struct sf_filtfilt_ws {
  size_t nmax;
  double *ext; /* (ntaps - 1) + nmax + 2 padlen */
  sf_fftconv_buf b;
};

int sf_filtfilt_create(const double *h, size_t ntaps, sf_filtfilt **out) {
  int status = 0;
  sf_filtfilt *f = NULL;
  *out = NULL;
  if (ntaps == 0 || ntaps > (size_t)1 << 26) SF_FAIL_QUIET(SF_ERR_INPUT);
  for (size_t i = 0; i < ntaps; i++)
    if (!isfinite(h[i])) SF_FAIL_QUIET(SF_ERR_INPUT);
  f = calloc(1, sizeof(*f));
  if (!f) SF_FAIL_QUIET(SF_ERR_NOMEM);
  f->ntaps = ntaps;
  f->h = malloc(ntaps * sizeof(double));
  if (!f->h) SF_FAIL_QUIET(SF_ERR_NOMEM);
  memcpy(f->h, h, ntaps * sizeof(double));
  /* The power of two >= 2 ntaps with the least FFT work per output sample. */
  if (sf_fftconv_init(&f->conv, h, ntaps, 2 * ntaps, 16) < 0) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = f;
  f = NULL;
cleanup:
  sf_filtfilt_destroy(&f);
  return status;
}

size_t sf_filtfilt_ntaps(const sf_filtfilt *f) { return f->ntaps; }

int sf_filtfilt_ws_create(const sf_filtfilt *f, size_t nmax, sf_filtfilt_ws **out) {
  int status = 0;
  sf_filtfilt_ws *w = calloc(1, sizeof(*w));
  *out = NULL;
  if (!w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  w->nmax = nmax;
  w->ext = malloc((f->ntaps - 1 + nmax + 6 * f->ntaps + 1) * sizeof(double));
  if (!w->ext || sf_fftconv_buf_init(&f->conv, &w->b) < 0) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = w;
  w = NULL;
cleanup:
  sf_filtfilt_ws_destroy(&w);
  return status;
}

/* In-place causal FIR by overlap-save: on entry e[0 .. ntaps-1+m) is the input with ntaps-1
 * samples of history first; on return e[i] = sum_k h[k] e_in[i + ntaps-1 - k] for i < m. A
 * block reads e[o, o + nfft) before writing e[o, o + block), and the next block reads from
 * o + block on, so no input is overwritten before it is used. */
static void convolve_inplace(const sf_filtfilt *f, double *e, size_t m, sf_filtfilt_ws *ws) {
  size_t N = f->ntaps, nfft = f->conv.nfft, L = f->conv.block, T = N - 1 + m;
  for (size_t o = 0; o < m; o += L) {
    size_t r = T - o < nfft ? T - o : nfft;
    memcpy(ws->b.buf, e + o, r * sizeof(double));
    sf_fftconv_block(&f->conv, &ws->b, r, ws->b.buf);
    size_t cnt = m - o < L ? m - o : L;
    memcpy(e + o, ws->b.buf + (N - 1), cnt * sizeof(double));
  }
}

int sf_filtfilt_execute(const sf_filtfilt *f, const double *x, size_t n, double *y,
                        sf_filtfilt_ws *ws) {
  if (n == 0) return 0;
  if (n > ws->nmax) return SF_ERR_INPUT;
  size_t N = f->ntaps, h0 = N - 1;
  size_t p = 3 * N < n - 1 ? 3 * N : n - 1, m = n + 2 * p;
  double *e = ws->ext, *ex = e + h0;
  for (size_t j = 0; j < p; j++)
    ex[j] = 2.0 * x[0] - x[p - j];
  memmove(ex + p, x, n * sizeof(double));
  for (size_t j = 0; j < p; j++)
    ex[p + n + j] = 2.0 * x[n - 1] - x[n - 2 - j];
  for (size_t j = 0; j < h0; j++)
    e[j] = ex[0];
  convolve_inplace(f, e, m, ws);
  /* Backward pass: the time-reversed forward output, again from a constant past. */
  for (size_t i = 0, j = m - 1; i < j; i++, j--) {
    double t = e[i];
    e[i] = e[j];
    e[j] = t;
  }
  memmove(e + h0, e, m * sizeof(double));
  for (size_t j = 0; j < h0; j++)
    e[j] = e[h0];
  convolve_inplace(f, e, m, ws);
  for (size_t i = 0; i < n; i++)
    y[i] = e[m - 1 - p - i];
  return 0;
}

void sf_filtfilt_ws_destroy(sf_filtfilt_ws **ws) {
  if (!ws || !*ws) return;
  free((*ws)->ext);
  sf_fftconv_buf_free(&(*ws)->b);
  free(*ws);
  *ws = NULL;
}

void sf_filtfilt_destroy(sf_filtfilt **f) {
  if (!f || !*f) return;
  sf_fftconv_free(&(*f)->conv);
  free((*f)->h);
  free(*f);
  *f = NULL;
}
