#include "kernels/xcorr_rigid.h"

/* complex.h first: fftwf_complex is then the C99 float complex type. */
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fftw_check.h"
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

/* Signed frequency of FFT bin k of an n-point transform. */
static inline double signed_freq(size_t k, size_t n) {
  return (k > n / 2) ? (double)k - (double)n : (double)k;
}

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
  p->n_up = 2 * (size_t)ceil(0.6 * up) + 1; /* +-0.6 px: the coarse peak is within 0.5 */
  p->win = fftwf_malloc(sizeof(float) * h * w);
  p->gain = fftwf_malloc(sizeof(float) * h * p->wc);
  p->ref = fftwf_malloc(sizeof(fftwf_complex) * h * p->wc);
  rbuf = fftwf_malloc(sizeof(float) * h * w);
  cbuf = fftwf_malloc(sizeof(fftwf_complex) * h * p->wc);
  if (!p->win || !p->gain || !p->ref || !rbuf || !cbuf) SF_FAIL_QUIET(SF_ERR_NOMEM);
  /* Symmetric Hann window 0.5 - 0.5 cos(2 pi n / (N-1)), outer product of rows and columns. */
  for (size_t y = 0; y < h; y++) {
    double wy = 0.5 - 0.5 * cos(2.0 * M_PI * (double)y / (double)(h - 1));
    for (size_t x = 0; x < w; x++) {
      double wx = 0.5 - 0.5 * cos(2.0 * M_PI * (double)x / (double)(w - 1));
      p->win[y * w + x] = (float)(wy * wx);
    }
  }
  /* Gaussian smoothing of the correlation surface = multiplying its spectrum by the
   * Gaussian's transform exp(-2 pi^2 sigma^2 f^2); the normalisation 1/(h w) of the
   * inverse transform is folded in. */
  for (size_t ky = 0; ky < h; ky++) {
    double fy = signed_freq(ky, h) / (double)h;
    for (size_t kx = 0; kx < p->wc; kx++) {
      double fx = (double)kx / (double)w;
      double g = exp(-2.0 * M_PI * M_PI * sigma * sigma * (fx * fx + fy * fy));
      p->gain[ky * p->wc + kx] = (float)(g / ((double)h * (double)w));
    }
  }
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
  for (size_t i = 0; i < n; i++) ws->real[i] = (img[i] - mean) * p->win[i];
  fftwf_execute_dft_r2c(p->fwd, ws->real, ws->spec);
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

/* Vertex offset in (-0.5, 0.5) of the parabola through (-1,a), (0,b), (1,c); 0 if flat. */
static float parabola_vertex(float a, float b, float c) {
  float d = a - 2.0f * b + c;
  if (!(d < 0.0f)) return 0.0f;
  float t = 0.5f * (a - c) / d;
  return t > 0.5f ? 0.5f : (t < -0.5f ? -0.5f : t);
}

/* Upsampled DFT of the smoothed cross-power spectrum in ws->spec on an n x n grid of spacing
 * 1/up centred on (px, py): c(y,x) = Re sum_ky e^{2 pi i ky y/h} sum_kx m_kx S e^{2 pi i kx x/w},
 * multiplicity m_kx = 2 for bins whose Hermitian twin is not stored. Writes the refined peak
 * (with a parabola fit below the grid spacing) and returns whether the best grid point was on
 * the window's edge. */
static int upsampled_peak(const sf_xcorr_plan *p, sf_xcorr_ws *ws, double px, double py,
                          double *bx, double *by) {
  const size_t h = p->h, w = p->w, wc = p->wc, n = p->n_up;
  const double half = (double)(n / 2), step = 1.0 / p->up;
  /* Twiddles by complex recurrence in double (exact enough, and no sin/cos per bin). */
  for (size_t j = 0; j < n; j++) {
    double xj = px + ((double)j - half) * step, yj = py + ((double)j - half) * step;
    double complex z = 1.0, r = cexp(I * 2.0 * M_PI * xj / (double)w);
    for (size_t kx = 0; kx < wc; kx++) {
      double m = (kx == 0 || (w % 2 == 0 && kx == w / 2)) ? 1.0 : 2.0;
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
  size_t best = argmax(surf, n * n);
  size_t bi = best / n, bj = best % n;
  double fy = 0.0, fx = 0.0;
  if (bi > 0 && bi + 1 < n)
    fy = parabola_vertex(surf[(bi - 1) * n + bj], surf[best], surf[(bi + 1) * n + bj]);
  if (bj > 0 && bj + 1 < n) fx = parabola_vertex(surf[best - 1], surf[best], surf[best + 1]);
  *bx = px + ((double)bj - half + fx) * step;
  *by = py + ((double)bi - half + fy) * step;
  return bi == 0 || bj == 0 || bi + 1 == n || bj + 1 == n;
}

/* Whether the normalised cross-power spectrum is zero everywhere: a frame or a reference
 * without contrast (never-written data at the fill value, say). Kept out of line so that
 * sf_xcorr_execute compiles to the same code, and its shifts to the same bytes, as before. */
__attribute__((noinline)) static int spectrum_is_flat(const float complex *spec, size_t n) {
  size_t i = 0;
  while (i < n && spec[i] == 0.0f) i++;
  return i == n;
}

void sf_xcorr_execute(const sf_xcorr_plan *p, sf_xcorr_ws *ws, const float *frame, float shift[2]) {
  const size_t h = p->h, w = p->w, wc = p->wc, nsp = h * wc;
  windowed_spectrum(p, ws, frame);
  /* Phase correlation: normalised cross-power spectrum F_mov conj(F_ref), smoothed. Its
   * inverse transform peaks at +d when frame(p) = ref(p - d), i.e. at (u, v). */
  for (size_t i = 0; i < nsp; i++) {
    float complex r = ws->spec[i] * conjf(p->ref[i]);
    double re = crealf(r), im = cimagf(r), m2 = re * re + im * im;
    r = (m2 > 0.0) ? r * (float)(p->gain[i] / sqrt(m2)) : 0.0f;
    ws->spec[i] = r;
    ws->spec2[i] = r;
  }
  fftwf_execute_dft_c2r(p->inv, ws->spec2, ws->real);
  size_t pk = argmax(ws->real, h * w);
  double py = signed_freq(pk / w, h), px = signed_freq(pk % w, w);
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
