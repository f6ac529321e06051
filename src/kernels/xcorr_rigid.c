#include "kernels/xcorr_rigid.h"

/* complex.h first: fftwf_complex is then the C99 float complex type. */
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fftw_check.h"
#include "kernels/xcorr_rigid_hd.h"
#include "sf_error.h"

struct sf_xcorr_plan {
  size_t h, w, wc;      /* image size; wc = w/2+1 spectrum columns */
  int up;               /* upsampling factor */
  size_t n_up;          /* points per axis of the upsampled window (odd) */
  float *win;           /* h*w Hann window */
  float *gain;          /* h*wc spectral Gaussian weight */
  fftwf_complex *ref;   /* h*wc reference spectrum */
  fftwf_plan fwd, inv;
};

struct sf_xcorr_ws {
  float *real;          /* h*w */
  fftwf_complex *spec;  /* h*wc */
  fftwf_complex *spec2; /* h*wc, destroyed by c2r */
  float *exr, *exi;     /* wc x n_up   x twiddles (with Hermitian multiplicity) */
  float *eyr, *eyi;     /* h x n_up    y twiddles */
  float *s1r, *s1i;     /* n_up        first-stage sums of one spectrum row */
  float *surf;          /* n_up * n_up upsampled correlation */
};

int sf_xcorr_plan_create(size_t h, size_t w, int up, float sigma, sf_xcorr_plan **out) {
  int status = 0;
  sf_xcorr_plan *p = NULL;
  float *rbuf = NULL;
  fftwf_complex *cbuf = NULL;
  *out = NULL;
  if (h < 4 || w < 4 || up < 1 || !(sigma >= 0)) SF_FAIL_QUIET(SF_ERR_USAGE);
  p = calloc(1, sizeof *p);
  if (!p) SF_FAIL_QUIET(SF_ERR_NOMEM);
  p->h = h;
  p->w = w;
  p->wc = w / 2 + 1;
  p->up = up;
  p->n_up = sf_hd_updft_points(up);
  p->win = fftwf_malloc(sizeof(float) * h * w);
  p->gain = fftwf_malloc(sizeof(float) * h * p->wc);
  p->ref = fftwf_malloc(sizeof(fftwf_complex) * h * p->wc);
  rbuf = fftwf_malloc(sizeof(float) * h * w);
  cbuf = fftwf_malloc(sizeof(fftwf_complex) * h * p->wc);
  if (!p->win || !p->gain || !p->ref || !rbuf || !cbuf) SF_FAIL_QUIET(SF_ERR_NOMEM);
  /* Hann window, and the Gaussian smoothing of the correlation surface as a weight of its
   * spectrum (the bodies in xcorr_rigid_hd.h, shared with the device). */
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) p->win[y * w + x] = sf_hd_hann2(y, x, h, w);
  for (size_t ky = 0; ky < h; ky++)
    for (size_t kx = 0; kx < p->wc; kx++) p->gain[ky * p->wc + kx] = sf_hd_xcorr_gain(ky, kx, h, w, sigma);
  p->fwd = fftwf_plan_dft_r2c_2d((int)h, (int)w, rbuf, cbuf, FFTW_ESTIMATE);
  SF_FFTW(p->fwd);
  p->inv = fftwf_plan_dft_c2r_2d((int)h, (int)w, cbuf, rbuf, FFTW_ESTIMATE);
  SF_FFTW(p->inv);
  *out = p;
  p = NULL;
cleanup:
  fftwf_free(rbuf);
  fftwf_free(cbuf);
  sf_xcorr_plan_destroy(&p);
  return status;
}

void sf_xcorr_plan_destroy(sf_xcorr_plan **pp) {
  if (!pp || !*pp) return;
  sf_xcorr_plan *p = *pp;
  if (p->fwd) fftwf_destroy_plan(p->fwd);
  if (p->inv) fftwf_destroy_plan(p->inv);
  fftwf_free(p->win);
  fftwf_free(p->gain);
  fftwf_free(p->ref);
  free(p);
  *pp = NULL;
}

int sf_xcorr_ws_create(const sf_xcorr_plan *p, sf_xcorr_ws **out) {
  int status = 0;
  sf_xcorr_ws *ws = calloc(1, sizeof *ws);
  *out = NULL;
  if (!ws) SF_FAIL_QUIET(SF_ERR_NOMEM);
  size_t n = p->n_up;
  ws->real = fftwf_malloc(sizeof(float) * p->h * p->w);
  ws->spec = fftwf_malloc(sizeof(fftwf_complex) * p->h * p->wc);
  ws->spec2 = fftwf_malloc(sizeof(fftwf_complex) * p->h * p->wc);
  ws->exr = fftwf_malloc(sizeof(float) * n * p->wc);
  ws->exi = fftwf_malloc(sizeof(float) * n * p->wc);
  ws->eyr = fftwf_malloc(sizeof(float) * n * p->h);
  ws->eyi = fftwf_malloc(sizeof(float) * n * p->h);
  ws->s1r = fftwf_malloc(sizeof(float) * n);
  ws->s1i = fftwf_malloc(sizeof(float) * n);
  ws->surf = fftwf_malloc(sizeof(float) * n * n);
  if (!ws->real || !ws->spec || !ws->spec2 || !ws->exr || !ws->exi || !ws->eyr || !ws->eyi ||
      !ws->s1r || !ws->s1i || !ws->surf)
    SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = ws;
  ws = NULL;
cleanup:
  sf_xcorr_ws_destroy(&ws);
  return status;
}

void sf_xcorr_ws_destroy(sf_xcorr_ws **pws) {
  if (!pws || !*pws) return;
  sf_xcorr_ws *ws = *pws;
  fftwf_free(ws->real);
  fftwf_free(ws->spec);
  fftwf_free(ws->spec2);
  fftwf_free(ws->exr);
  fftwf_free(ws->exi);
  fftwf_free(ws->eyr);
  fftwf_free(ws->eyi);
  fftwf_free(ws->s1r);
  fftwf_free(ws->s1i);
  fftwf_free(ws->surf);
  free(ws);
  *pws = NULL;
}

/* Mean-removed, windowed copy of img into ws->real, then its spectrum into ws->spec. */
static void windowed_spectrum(const sf_xcorr_plan *p, sf_xcorr_ws *ws, const float *img) {
  size_t n = p->h * p->w;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += img[i];
  float mean = (float)(sum / (double)n);
  for (size_t i = 0; i < n; i++) ws->real[i] = sf_hd_xcorr_windowed(img[i], mean, p->win[i]);
  fftwf_execute_dft_r2c(p->fwd, ws->real, ws->spec);
}

void sf_xcorr_plan_tables(const sf_xcorr_plan *p, const float **win, const float **gain,
                          const float **ref_spec, int *up) {
  *win = p->win;
  *gain = p->gain;
  *ref_spec = (const float *)p->ref;
  *up = p->up;
}

int sf_xcorr_set_reference(sf_xcorr_plan *p, sf_xcorr_ws *ws, const float *ref) {
  windowed_spectrum(p, ws, ref);
  memcpy(p->ref, ws->spec, sizeof(fftwf_complex) * p->h * p->wc);
  return 0;
}

/* Index of the largest value (first one in row-major order on ties). */
static size_t argmax(const float *a, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; i++)
    if (a[i] > a[best]) best = i;
  return best;
}

/* Upsampled DFT of the smoothed cross-power spectrum in ws->spec on an n x n grid of spacing
 * 1/up centred on (px, py): c(y,x) = Re sum_ky e^{2 pi i ky y/h} sum_kx m_kx S e^{2 pi i kx x/w},
 * multiplicity m_kx = 2 for bins whose Hermitian twin is not stored. Writes the refined peak
 * (with a parabola fit below the grid spacing) and returns whether the best grid point was on
 * the window's edge. */
static int upsampled_peak(const sf_xcorr_plan *p, sf_xcorr_ws *ws, double px, double py,
                          double *bx, double *by) {
  const size_t h = p->h, w = p->w, wc = p->wc, n = p->n_up;
  /* Twiddles by complex recurrence in double (exact enough, and no sin/cos per bin; the
   * device computes each directly, sf_hd_updft_twiddle_x/_y). */
  for (size_t j = 0; j < n; j++) {
    double xj = sf_hd_updft_pos(px, j, n, p->up), yj = sf_hd_updft_pos(py, j, n, p->up);
    double complex z = 1.0, r = cexp(I * 2.0 * M_PI * xj / (double)w);
    for (size_t kx = 0; kx < wc; kx++) {
      double m = sf_hd_hermitian_mult(kx, w);
      ws->exr[kx * n + j] = (float)(m * creal(z));
      ws->exi[kx * n + j] = (float)(m * cimag(z));
      z *= r;
    }
    double complex ry = cexp(I * 2.0 * M_PI * yj / (double)h), zp = 1.0, zn = 1.0;
    for (size_t k = 0; k <= h / 2; k++) { /* ky = k and ky = h - k (frequency -k) */
      ws->eyr[k * n + j] = (float)creal(zp);
      ws->eyi[k * n + j] = (float)cimag(zp);
      if (k > 0 && k < h - k) {
        ws->eyr[(h - k) * n + j] = (float)creal(zn);
        ws->eyi[(h - k) * n + j] = (float)cimag(zn);
      }
      zp *= ry;
      zn *= conj(ry);
    }
  }
  /* Loops ordered so the innermost runs over the n grid points with no reduction, which
   * vectorises without reassociating sums (the order of every sum is fixed). */
  const float complex *spec = (const float complex *)ws->spec;
  float *restrict s1r = ws->s1r, *restrict s1i = ws->s1i, *restrict surf = ws->surf;
  for (size_t i = 0; i < n * n; i++) surf[i] = 0.0f;
  for (size_t ky = 0; ky < h; ky++) {
    const float complex *row = spec + ky * wc;
    for (size_t j = 0; j < n; j++) s1r[j] = s1i[j] = 0.0f;
    for (size_t kx = 0; kx < wc; kx++) {
      const float ar = crealf(row[kx]), ai = cimagf(row[kx]);
      if (ar == 0.0f && ai == 0.0f) continue;
      const float *restrict er = ws->exr + kx * n, *restrict ei = ws->exi + kx * n;
      for (size_t j = 0; j < n; j++) {
        s1r[j] += ar * er[j] - ai * ei[j];
        s1i[j] += ar * ei[j] + ai * er[j];
      }
    }
    const float *restrict yr = ws->eyr + ky * n, *restrict yi = ws->eyi + ky * n;
    for (size_t i = 0; i < n; i++) {
      const float cr = yr[i], ci = yi[i];
      float *restrict srow = surf + i * n;
      for (size_t j = 0; j < n; j++) srow[j] += cr * s1r[j] - ci * s1i[j];
    }
  }
  return sf_hd_updft_peak(surf, n, p->up, px, py, bx, by);
}

/* Whether the normalised cross-power spectrum is zero everywhere: a frame or a reference
 * without contrast (never-written data at the fill value, say). Kept out of line so that
 * sf_xcorr_execute compiles to the same code, and its shifts to the same bytes, as before. */
__attribute__((noinline)) static int spectrum_is_flat(const float complex *spec, size_t n) {
  size_t i = 0;
  while (i < n && spec[i] == 0.0f) i++;
  return i == n;
}

/* No contraction into FMAs here: the cross-power's products are rounded to float before they
 * are summed, as in the C complex product this loop computed before the body was shared
 * (GCC does not contract its lowering), so that the shifts keep their bytes. */
#if defined(__GNUC__) && !defined(__clang__)
#define SF_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define SF_NO_CONTRACT
#endif

/* The normalised, smoothed cross-power spectrum of ws->spec and the reference into ws->spec
 * and ws->spec2 (the copy the c2r transform destroys). */
SF_NO_CONTRACT static void cross_power(const sf_xcorr_plan *p, sf_xcorr_ws *ws, size_t nsp) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  float *spec = (float *)ws->spec, *spec2 = (float *)ws->spec2;
  const float *ref = (const float *)p->ref;
  for (size_t i = 0; i < nsp; i++) {
    sf_hd_xcorr_cross_power(spec[2 * i], spec[2 * i + 1], ref[2 * i], ref[2 * i + 1], p->gain[i],
                            &spec[2 * i], &spec[2 * i + 1]);
    spec2[2 * i] = spec[2 * i];
    spec2[2 * i + 1] = spec[2 * i + 1];
  }
}

void sf_xcorr_execute(const sf_xcorr_plan *p, sf_xcorr_ws *ws, const float *frame, float shift[2]) {
  const size_t h = p->h, w = p->w, wc = p->wc, nsp = h * wc;
  windowed_spectrum(p, ws, frame);
  /* Phase correlation: normalised cross-power spectrum F_mov conj(F_ref), smoothed. Its
   * inverse transform peaks at +d when frame(p) = ref(p - d), i.e. at (u, v). */
  cross_power(p, ws, nsp);
  fftwf_execute_dft_c2r(p->inv, ws->spec2, ws->real);
  size_t pk = argmax(ws->real, h * w);
  double px, py;
  sf_hd_xcorr_coarse(pk, h, w, &px, &py);
  if (p->up <= 1) {
    shift[0] = (float)px;
    shift[1] = (float)py;
    return;
  }
  /* Refine around the coarse peak; if the best grid point lies on the window's edge, the
   * true peak is outside it (noise moved the coarse argmax), so refine once more there. */
  double bx, by;
  int edge = upsampled_peak(p, ws, px, py, &bx, &by);
  if (edge) upsampled_peak(p, ws, bx, by, &bx, &by);
  shift[0] = (float)bx;
  shift[1] = (float)by;
  /* No contrast, no shift: over a flat correlation the peak search would return a corner
   * of the refinement grid (-1.2 px). */
  if (spectrum_is_flat(ws->spec, nsp)) shift[0] = shift[1] = 0.0f;
}
