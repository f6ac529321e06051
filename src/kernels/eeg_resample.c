/* MNE-style FFT resampling (specs/eeg.md section 4.4); see eeg_resample.h. */
#include "eeg_resample.h"

#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fftw_check.h"
#include "sf_error.h"

struct sf_resample_fft {
  size_t n, n_out;   /* input and output lengths */
  size_t L, M;       /* padded lengths before and after resampling */
  size_t pad0, pad1; /* padding before and after the input */
  size_t rm0;        /* samples removed at the start of the resampled padded signal */
  double scale;      /* boxcar window M / L times numpy's irfft normalisation 1 / M */
  fftw_plan fwd, inv;
};

struct sf_resample_fft_ws {
  double *xp, *yp;
  fftw_complex *spec;
};

/* Python's int(round(v)) for v >= 0: half to even (rint in the default rounding mode). */
static double round_half_even(double v) {
  double f = floor(v), d = v - f;
  if (d > 0.5) return f + 1.0;
  if (d < 0.5) return f;
  return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

int sf_resample_fft_plan(size_t n, double ratio, sf_resample_fft **out) {
  int status = SF_OK;
  sf_resample_fft *p = NULL;
  double *rbuf = NULL;
  fftw_complex *cbuf = NULL;
  if (out) *out = NULL;
  if (!out || n == 0 || n > (size_t)INT_MAX / 4 || !(isfinite(ratio) && ratio > 0.0))
    SF_FAIL_QUIET(SF_ERR_INPUT);
  /* npad='auto' (mne.filter.resample) */
  size_t min_add = (n / 8 < 100 ? n / 8 : 100) * 2, L = 1;
  while (L < n + min_add) L <<= 1;
  size_t npad = L - n;
  double Md = round_half_even(ratio * (double)L);
  double Fd = round_half_even(ratio * (double)n);
  double R0 = round_half_even(ratio * (double)(npad / 2));
  if (Md < 1.0) Md = 1.0;
  if (Fd < 1.0) Fd = 1.0;
  if (!(Md <= (double)(INT_MAX / 2))) SF_FAIL_QUIET(SF_ERR_INPUT);
  size_t M = (size_t)Md, F = (size_t)Fd, R = (size_t)R0;
  if (R + F > M) SF_FAIL_QUIET(SF_ERR_INPUT); /* MNE would fail too (negative removal) */
  p = calloc(1, sizeof *p);
  if (!p) SF_FAIL_QUIET(SF_ERR_NOMEM);
  p->n = n, p->n_out = F, p->L = L, p->M = M;
  p->pad0 = npad / 2, p->pad1 = npad - npad / 2, p->rm0 = R;
  p->scale = ((double)M / (double)L) / (double)M;
  size_t big = L > M ? L : M;
  rbuf = fftw_malloc(big * sizeof(double));
  cbuf = fftw_malloc((big / 2 + 1) * sizeof(fftw_complex));
  if (!rbuf || !cbuf) SF_FAIL_QUIET(SF_ERR_NOMEM);
  p->fwd = fftw_plan_dft_r2c_1d((int)L, rbuf, cbuf, FFTW_ESTIMATE);
  SF_FFTW(p->fwd);
  p->inv = fftw_plan_dft_c2r_1d((int)M, cbuf, rbuf, FFTW_ESTIMATE);
  SF_FFTW(p->inv);
  *out = p;
  p = NULL;
cleanup:
  fftw_free(rbuf);
  fftw_free(cbuf);
  sf_resample_fft_destroy(&p);
  return status;
}

size_t sf_resample_fft_n_in(const sf_resample_fft *p) { return p->n; }
size_t sf_resample_fft_n_out(const sf_resample_fft *p) { return p->n_out; }
size_t sf_resample_fft_len_padded(const sf_resample_fft *p) { return p->L; }
size_t sf_resample_fft_len_padded_out(const sf_resample_fft *p) { return p->M; }
size_t sf_resample_fft_pad_before(const sf_resample_fft *p) { return p->pad0; }
size_t sf_resample_fft_remove_before(const sf_resample_fft *p) { return p->rm0; }

int sf_resample_fft_ws_create(const sf_resample_fft *p, sf_resample_fft_ws **out) {
  int status = SF_OK;
  sf_resample_fft_ws *w = NULL;
  if (out) *out = NULL;
  if (!p || !out) SF_FAIL_QUIET(SF_ERR_INPUT);
  size_t big = p->L > p->M ? p->L : p->M;
  w = calloc(1, sizeof *w);
  if (!w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  w->xp = fftw_malloc(p->L * sizeof(double));
  w->yp = fftw_malloc(p->M * sizeof(double));
  w->spec = fftw_malloc((big / 2 + 1) * sizeof(fftw_complex));
  if (!w->xp || !w->yp || !w->spec) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = w;
  w = NULL;
cleanup:
  sf_resample_fft_ws_destroy(&w);
  return status;
}

int sf_resample_fft_execute(const sf_resample_fft *p, const double *x, double *y,
                            sf_resample_fft_ws *ws) {
  if (!p || !x || !y || !ws || (const double *)y == x) return SF_ERR_INPUT;
  const size_t n = p->n, L = p->L, M = p->M;
  double *xp = ws->xp;
  fftw_complex *s = ws->spec;
  /* _smart_pad(x, (pad0, pad1), 'reflect_limited') */
  size_t e0 = p->pad0 < n - 1 ? p->pad0 : n - 1, z0 = p->pad0 - e0;
  size_t e1 = p->pad1 < n - 1 ? p->pad1 : n - 1, z1 = p->pad1 - e1;
  size_t o = 0;
  for (size_t k = 0; k < z0; k++) xp[o++] = 0.0;
  for (size_t k = e0; k >= 1; k--) xp[o++] = 2.0 * x[0] - x[k];
  memcpy(xp + o, x, n * sizeof(double));
  o += n;
  for (size_t k = 1; k <= e1; k++) xp[o++] = 2.0 * x[n - 1] - x[n - 1 - k];
  for (size_t k = 0; k < z1; k++) xp[o++] = 0.0;
  fftw_execute_dft_r2c(p->fwd, xp, s);
  /* _fft_resample: Nyquist bin of the shorter length */
  int shorter = M < L;
  size_t use = shorter ? M : L;
  if (use % 2 == 0) {
    double f = shorter ? 2.0 : 0.5;
    s[use / 2][0] *= f;
    s[use / 2][1] *= f;
  }
  /* numpy irfft(.., M): keep M/2 + 1 bins, zero-extended; DC and even-M Nyquist real */
  size_t nin = L / 2 + 1, nout = M / 2 + 1;
  for (size_t k = nin; k < nout; k++) s[k][0] = s[k][1] = 0.0;
  s[0][1] = 0.0;
  if (M % 2 == 0) s[M / 2][1] = 0.0;
  fftw_execute_dft_c2r(p->inv, s, ws->yp);
  const double *yp = ws->yp + p->rm0;
  for (size_t i = 0; i < p->n_out; i++) y[i] = yp[i] * p->scale;
  return SF_OK;
}

void sf_resample_fft_ws_destroy(sf_resample_fft_ws **ws) {
  if (!ws || !*ws) return;
  fftw_free((*ws)->xp);
  fftw_free((*ws)->yp);
  fftw_free((*ws)->spec);
  free(*ws);
  *ws = NULL;
}

void sf_resample_fft_destroy(sf_resample_fft **p) {
  if (!p || !*p) return;
  if ((*p)->fwd) fftw_destroy_plan((*p)->fwd);
  if ((*p)->inv) fftw_destroy_plan((*p)->inv);
  free(*p);
  *p = NULL;
}
