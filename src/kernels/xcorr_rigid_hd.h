/* Per-element bodies of the rigid phase correlation (sf_xcorr_*, spec register.md §4):
 * window and normalisation, the smoothed cross-power spectrum, the upsampled-DFT
 * refinement's twiddles, sums and peak, shared by the CPU kernel (src/kernels/xcorr_rigid.c),
 * the CUDA kernels (src/gpu) and the host tests. Spectra are the r2c half spectra of FFTW and
 * cuFFT: h rows of wc = w/2+1 bins, complex values as interleaved (re, im) floats. Shifts are
 * [u=x, v=y] in the backward convention reference(y,x) ~ frame(y+v, x+u). */
#ifndef SF_XCORR_RIGID_HD_H
#define SF_XCORR_RIGID_HD_H

#include <math.h>
#include <stddef.h>

#include "kernels/sf_hd.h"

/* Signed frequency of FFT bin k of an n-point transform. */
static inline SF_HD double sf_hd_signed_freq(size_t k, size_t n) {
  return (k > n / 2) ? (double)k - (double)n : (double)k;
}

/* Weighted channel combination of pixel i of a frame with ch interleaved channels; wch sums
 * to 1. One channel: the value itself. */
static inline SF_HD float sf_hd_combine(const float *frame, size_t i, size_t ch, const float *wch) {
  if (ch == 1) return frame[i];
  float s = 0.0f;
  for (size_t k = 0; k < ch; k++) s += wch[k] * frame[i * ch + k];
  return s;
}

/* Symmetric Hann window 0.5 - 0.5 cos(2 pi n / (N-1)) at (y, x) of h x w, outer product. */
static inline SF_HD float sf_hd_hann2(size_t y, size_t x, size_t h, size_t w) {
  double wy = 0.5 - 0.5 * cos(2.0 * SF_HD_PI * (double)y / (double)(h - 1));
  double wx = 0.5 - 0.5 * cos(2.0 * SF_HD_PI * (double)x / (double)(w - 1));
  return (float)(wy * wx);
}

/* Spectral weight of bin (ky, kx): the Gaussian's transform exp(-2 pi^2 sigma^2 f^2), which
 * smooths the correlation by sigma px, with the inverse transform's 1/(h w) folded in. */
static inline SF_HD float sf_hd_xcorr_gain(size_t ky, size_t kx, size_t h, size_t w, float sigma) {
  double fy = sf_hd_signed_freq(ky, h) / (double)h;
  double fx = (double)kx / (double)w;
  double g = exp(-2.0 * SF_HD_PI * SF_HD_PI * sigma * sigma * (fx * fx + fy * fy));
  return (float)(g / ((double)h * (double)w));
}

/* Mean-removed, windowed sample. */
static inline SF_HD float sf_hd_xcorr_windowed(float v, float mean, float win) {
  return (v - mean) * win;
}

/* One bin of the phase correlation: a conj(b) normalised to unit magnitude and weighted by
 * gain, 0 where a conj(b) is 0. Its inverse transform peaks at +d when frame(p) = ref(p - d). */
static inline SF_HD void sf_hd_xcorr_cross_power(float ar, float ai, float br, float bi, float gain,
                                                 float *rr, float *ri) {
  float re = ar * br - ai * -bi, im = ar * -bi + ai * br;
  double dre = re, dim = im, m2 = dre * dre + dim * dim;
  if (m2 > 0.0) {
    float s = (float)(gain / sqrt(m2));
    *rr = re * s;
    *ri = im * s;
  } else {
    *rr = *ri = 0.0f;
  }
}

/* Whether value vb at index ib beats va at ia in an argmax that keeps the first index on ties
 * (any reduction order then finds the serial scan's answer). */
static inline SF_HD int sf_hd_argmax_better(float va, size_t ia, float vb, size_t ib) {
  return vb > va || (vb == va && ib < ia);
}

/* The coarse shift of the correlation's peak at row-major index pk of h x w. */
static inline SF_HD void sf_hd_xcorr_coarse(size_t pk, size_t h, size_t w, double *px, double *py) {
  *py = sf_hd_signed_freq(pk / w, h);
  *px = sf_hd_signed_freq(pk % w, w);
}

/* Points per axis of the upsampled window (odd): +-0.6 px, the coarse peak is within 0.5. */
static inline SF_HD size_t sf_hd_updft_points(int up) { return 2 * (size_t)ceil(0.6 * up) + 1; }

/* Position of grid point j of the upsampled window centred on c (n points, spacing 1/up):
 * c + (j - n/2) / up. */
static inline SF_HD double sf_hd_updft_pos(double c, size_t j, size_t n, int up) {
  return c + ((double)j - (double)(n / 2)) * (1.0 / up);
}

/* Multiplicity of r2c bin kx of a w-point row: 2 for bins whose Hermitian twin is not stored. */
static inline SF_HD double sf_hd_hermitian_mult(size_t kx, size_t w) {
  return (kx == 0 || (w % 2 == 0 && kx == w / 2)) ? 1.0 : 2.0;
}

/* x twiddle of bin kx at grid position xj, with its multiplicity: m e^{2 pi i kx xj / w},
 * computed directly (the CPU kernel runs the same values as a recurrence). */
static inline SF_HD void sf_hd_updft_twiddle_x(size_t kx, double xj, size_t w, float *er, float *ei) {
  double m = sf_hd_hermitian_mult(kx, w), a = 2.0 * SF_HD_PI * (double)kx * xj / (double)w;
  *er = (float)(m * cos(a));
  *ei = (float)(m * sin(a));
}

/* y twiddle of row ky at grid position yj: e^{2 pi i f(ky) yj / h}, f the signed frequency. */
static inline SF_HD void sf_hd_updft_twiddle_y(size_t ky, double yj, size_t h, float *er, float *ei) {
  double a = 2.0 * SF_HD_PI * sf_hd_signed_freq(ky, h) * yj / (double)h;
  *er = (float)cos(a);
  *ei = (float)sin(a);
}

/* First stage of the upsampled DFT for one spectrum row and grid column j:
 * s1 = sum_kx S(kx) ex(kx, j) in kx order, zero bins skipped. row holds wc interleaved
 * complex values; ex* hold wc x n twiddles (point j of bin kx at kx * n + j). */
static inline SF_HD void sf_hd_updft_s1(const float *row, const float *exr, const float *exi,
                                        size_t wc, size_t n, size_t j, float *sr, float *si) {
  float r = 0.0f, i = 0.0f;
  for (size_t kx = 0; kx < wc; kx++) {
    const float ar = row[2 * kx], ai = row[2 * kx + 1];
    if (ar == 0.0f && ai == 0.0f) continue;
    const float er = exr[kx * n + j], ei = exi[kx * n + j];
    r += ar * er - ai * ei;
    i += ar * ei + ai * er;
  }
  *sr = r;
  *si = i;
}

/* Second stage: the upsampled correlation at grid point (i, j),
 * Re sum_ky ey(ky, i) s1(ky, j) in ky order; s1* and ey* hold h x n values (row ky at ky * n). */
static inline SF_HD float sf_hd_updft_surf(const float *s1r, const float *s1i, const float *eyr,
                                           const float *eyi, size_t h, size_t n, size_t i, size_t j) {
  float s = 0.0f;
  for (size_t ky = 0; ky < h; ky++) s += eyr[ky * n + i] * s1r[ky * n + j] - eyi[ky * n + i] * s1i[ky * n + j];
  return s;
}

/* Vertex offset in (-0.5, 0.5) of the parabola through (-1,a), (0,b), (1,c); 0 if flat. */
static inline SF_HD float sf_hd_parabola_vertex(float a, float b, float c) {
  float d = a - 2.0f * b + c;
  if (!(d < 0.0f)) return 0.0f;
  float t = 0.5f * (a - c) / d;
  return t > 0.5f ? 0.5f : (t < -0.5f ? -0.5f : t);
}

/* The refined peak of an n x n upsampled surface centred on (px, py): the best grid point
 * (first on ties), a parabola fit below the grid spacing; returns whether that point lies on
 * the window's edge (the true peak is then outside it). */
static inline SF_HD int sf_hd_updft_peak(const float *surf, size_t n, int up, double px, double py,
                                         double *bx, double *by) {
  const double half = (double)(n / 2), step = 1.0 / up;
  size_t best = 0;
  for (size_t k = 1; k < n * n; k++)
    if (surf[k] > surf[best]) best = k;
  size_t bi = best / n, bj = best % n;
  double fy = 0.0, fx = 0.0;
  if (bi > 0 && bi + 1 < n)
    fy = sf_hd_parabola_vertex(surf[(bi - 1) * n + bj], surf[best], surf[(bi + 1) * n + bj]);
  if (bj > 0 && bj + 1 < n) fx = sf_hd_parabola_vertex(surf[best - 1], surf[best], surf[best + 1]);
  *bx = px + ((double)bj - half + fx) * step;
  *by = py + ((double)bi - half + fy) * step;
  return bi == 0 || bj == 0 || bi + 1 == n || bj + 1 == n;
}

/* The upsampled-DFT refinement as batched element steps over nf frames, element t of the
 * launch grid each (the rigid and the flow device pipelines run them; a host loop over t runs
 * them in the tests). Frames whose active flag is 0 are left alone. */

/* The twiddles of the upsampled DFT around each active frame's centre: wc x n for x, h x n
 * for y. */
static inline SF_HD void sf_hd_updft_step_twiddle(size_t t, const double *center, const int *active,
                                                  float *exr, float *exi, float *eyr, float *eyi,
                                                  size_t nf, size_t h, size_t w, size_t wc,
                                                  size_t n, int up) {
  size_t per = (wc + h) * n;
  if (t >= nf * per) return;
  size_t f = t / per, r = t % per;
  if (!active[f]) return;
  if (r < wc * n) {
    size_t kx = r / n, j = r % n;
    sf_hd_updft_twiddle_x(kx, sf_hd_updft_pos(center[2 * f], j, n, up), w, &exr[f * wc * n + r],
                          &exi[f * wc * n + r]);
  } else {
    r -= wc * n;
    size_t ky = r / n, i = r % n;
    sf_hd_updft_twiddle_y(ky, sf_hd_updft_pos(center[2 * f + 1], i, n, up), h, &eyr[f * h * n + r],
                          &eyi[f * h * n + r]);
  }
}

static inline SF_HD void sf_hd_updft_step_s1(size_t t, const float *spec, const float *exr,
                                             const float *exi, float *s1r, float *s1i,
                                             const int *active, size_t nf, size_t h, size_t wc,
                                             size_t n) {
  if (t >= nf * h * n) return;
  size_t f = t / (h * n), ky = (t / n) % h, j = t % n;
  if (!active[f]) return;
  sf_hd_updft_s1(spec + 2 * (f * h * wc + ky * wc), exr + f * wc * n, exi + f * wc * n, wc, n, j,
                 &s1r[t], &s1i[t]);
}

static inline SF_HD void sf_hd_updft_step_surf(size_t t, const float *s1r, const float *s1i,
                                               const float *eyr, const float *eyi, float *surf,
                                               const int *active, size_t nf, size_t h, size_t n) {
  if (t >= nf * n * n) return;
  size_t f = t / (n * n), r = t % (n * n), o = f * h * n;
  if (!active[f]) return;
  surf[t] = sf_hd_updft_surf(s1r + o, s1i + o, eyr + o, eyi + o, h, n, r / n, r % n);
}

/* One thread per frame: the refined peak; pass 0 keeps active (for a second pass centred there)
 * the frames whose best point was on the window's edge (the CPU's rule). */
static inline SF_HD void sf_hd_updft_step_peak(size_t t, const float *surf, double *center,
                                               double *best, int *active, size_t nf, size_t n,
                                               int up, int pass) {
  if (t >= nf || !active[t]) return;
  double bx, by;
  int edge = sf_hd_updft_peak(surf + t * n * n, n, up, center[2 * t], center[2 * t + 1], &bx, &by);
  best[2 * t] = bx;
  best[2 * t + 1] = by;
  if (pass == 0) {
    center[2 * t] = bx;
    center[2 * t + 1] = by;
  }
  active[t] = pass == 0 && edge;
}

/* The shift of frame t in grid px: the coarse one for up <= 1, else the refined one, 0 for a
 * flat spectrum (sf_xcorr_execute's rules). */
static inline SF_HD void sf_hd_updft_step_final(size_t t, const double *center, const double *best,
                                                const int *flat, float *shift, size_t nf, int up) {
  if (t >= nf) return;
  if (up <= 1) {
    shift[2 * t] = (float)center[2 * t];
    shift[2 * t + 1] = (float)center[2 * t + 1];
    return;
  }
  shift[2 * t] = flat[t] ? 0.0f : (float)best[2 * t];
  shift[2 * t + 1] = flat[t] ? 0.0f : (float)best[2 * t + 1];
}

#endif
