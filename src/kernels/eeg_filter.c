/* MNE-style zero-phase FIR filters (specs/eeg.md decision 3, section 4.1). */
#include "eeg_filter.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft_conv.h"
#include "sf_error.h"

struct sf_fir {
  size_t ntaps;
  double *h;
  sf_fftconv conv; /* block = nfft - ntaps + 1 input samples per FFT */
};

struct sf_fir_ws {
  sf_fftconv_buf b;
};

/* MNE's _length_factors['hamming']. */
static const double FIR_LENGTH_FACTOR = 3.3;

/* Adds sign * scipy.signal.firwin(m, cutoff, window='hamming', pass_zero=True, fs=2) (cutoff
 * relative to Nyquist), centred in h (length n >= m, both odd). firwin scales the low-pass
 * to unit gain at DC: the taps are divided by their sum. */
static void add_firwin_lowpass(double *h, size_t n, size_t m, double cutoff, double sign,
                               double *tmp) {
  double alpha = 0.5 * (double)(m - 1), s = 0.0;
  for (size_t i = 0; i < m; i++) {
    double t = (double)i - alpha, x = cutoff * t;
    double sinc = x == 0.0 ? 1.0 : sin(M_PI * x) / (M_PI * x);
    /* scipy's general_hamming, symmetric: 0.54 - 0.46 cos(2 pi i / (m - 1)) */
    double w = m > 1 ? 0.54 - 0.46 * cos(2.0 * M_PI * (double)i / (double)(m - 1)) : 1.0;
    tmp[i] = cutoff * sinc * w;
    s += tmp[i];
  }
  size_t off = (n - m) / 2;
  for (size_t i = 0; i < m; i++) h[off + i] += sign * (tmp[i] / s);
}

/* Odd length of one edge's low-pass: int(round(3.3 / transition)) with transition half the
 * band in Nyquist units, made odd (MNE's _firwin_design; Python rounds half to even). */
static size_t edge_taps(double f_lo, double f_hi) {
  double tr = (f_hi - f_lo) / 2.0;
  size_t m = (size_t)nearbyint(FIR_LENGTH_FACTOR / tr);
  return m + (1 - m % 2);
}

int sf_fir_design(double fs, double l_freq, double h_freq, sf_fir **out) {
  int status = 0;
  sf_fir *f = NULL;
  double *tmp = NULL;
  *out = NULL;
  int hp = !isnan(l_freq), lp = !isnan(h_freq);
  double nyq = fs / 2.0;
  if (!(isfinite(fs) && fs > 0.0) || (!hp && !lp)) SF_FAIL_QUIET(SF_ERR_INPUT);
  if (hp && !(isfinite(l_freq) && l_freq > 0.0 && l_freq < nyq)) SF_FAIL_QUIET(SF_ERR_INPUT);
  if (lp && !(isfinite(h_freq) && h_freq > 0.0 && h_freq < nyq)) SF_FAIL_QUIET(SF_ERR_INPUT);
  if (hp && lp && !(l_freq < h_freq)) SF_FAIL_QUIET(SF_ERR_INPUT);

  double l_tb = hp ? fmin(fmax(0.25 * l_freq, 2.0), l_freq) : INFINITY;
  double h_tb = lp ? fmin(fmax(0.25 * h_freq, 2.0), nyq - h_freq) : INFINITY;
  double seconds = FIR_LENGTH_FACTOR / fmin(l_tb, h_tb);
  double len = ceil(seconds * fs);
  if (!(len >= 1.0 && len < 1e8)) SF_FAIL_QUIET(SF_ERR_INPUT);
  size_t n = (size_t)len;
  n += (n - 1) % 2;

  f = calloc(1, sizeof(*f));
  if (!f) SF_FAIL_QUIET(SF_ERR_NOMEM);
  f->ntaps = n;
  f->h = calloc(n, sizeof(double));
  tmp = calloc(n, sizeof(double));
  if (!f->h || !tmp) SF_FAIL_QUIET(SF_ERR_NOMEM);

  /* MNE's _firwin_design walks the gain breakpoints from Nyquist down, in Nyquist units:
   * start "all up" for a high-pass, add a low-pass at a 0->1 step, subtract at a 1->0 step. */
  if (!lp) f->h[n / 2] = 1.0;
  if (lp) {
    double lo = h_freq / nyq, hi = (h_freq + h_tb) / nyq;
    size_t m = edge_taps(lo, hi);
    if (m > n) SF_FAIL_QUIET(SF_ERR_INTERNAL);
    add_firwin_lowpass(f->h, n, m, (lo + hi) / 2.0, 1.0, tmp);
  }
  if (hp) {
    double lo = (l_freq - l_tb) / nyq, hi = l_freq / nyq;
    size_t m = edge_taps(lo, hi);
    if (m > n) SF_FAIL_QUIET(SF_ERR_INTERNAL);
    add_firwin_lowpass(f->h, n, m, (lo + hi) / 2.0, -1.0, tmp);
  }

  /* Overlap-add FFT length: the power of two >= 2n - 1 (one doubling range like MNE's
   * search) with the least FFT work per output sample. */
  if (sf_fftconv_init(&f->conv, f->h, n, 2 * n - 1, 1) < 0) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = f;
  f = NULL;
cleanup:
  free(tmp);
  sf_fir_destroy(&f);
  return status;
}

size_t sf_fir_ntaps(const sf_fir *f) { return f->ntaps; }
const double *sf_fir_taps(const sf_fir *f) { return f->h; }
size_t sf_fir_nfft(const sf_fir *f) { return f->conv.nfft; }

int sf_fir_ws_create(const sf_fir *f, sf_fir_ws **out) {
  int status = 0;
  sf_fir_ws *w = calloc(1, sizeof(*w));
  *out = NULL;
  if (!w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  if (sf_fftconv_buf_init(&f->conv, &w->b) < 0) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = w;
  w = NULL;
cleanup:
  sf_fir_ws_destroy(&w);
  return status;
}

/* Sample j of the reflect_limited padded signal (e samples each side, zeros beyond). */
static inline double padded(const double *x, size_t n, size_t e, size_t j) {
  if (j < e) return 2.0 * x[0] - x[e - j];
  if (j < e + n) return x[j - e];
  size_t k = j - e - n;
  return k < e ? 2.0 * x[n - 1] - x[n - 2 - k] : 0.0;
}

int sf_fir_apply_zero_phase(const sf_fir *f, const double *x, size_t n, double *y,
                            sf_fir_ws *ws) {
  if (n == 0) return 0;
  if (x == y) return SF_ERR_INPUT;
  size_t N = f->ntaps, nfft = f->conv.nfft, L = f->conv.block;
  size_t e = (N < n ? N : n) - 1, npad = n + 2 * e;
  size_t lo = e + (N - 1) / 2; /* full-convolution index of y[0] */
  memset(y, 0, n * sizeof(double));
  /* Only blocks whose output [j0, j0 + nfft) meets [lo, lo + n) matter. */
  size_t j0 = lo + 1 > nfft ? (lo + 1 - nfft) / L * L : 0;
  for (; j0 < npad && j0 < lo + n; j0 += L) {
    size_t m = npad - j0 < L ? npad - j0 : L;
    for (size_t t = 0; t < m; t++) ws->b.buf[t] = padded(x, n, e, j0 + t);
    sf_fftconv_block(&f->conv, &ws->b, m, ws->b.buf);
    size_t t0 = j0 < lo ? lo - j0 : 0, t1 = lo + n - j0 < nfft ? lo + n - j0 : nfft;
    for (size_t t = t0; t < t1; t++) y[j0 + t - lo] += ws->b.buf[t];
  }
  return 0;
}

/* The blocks of sf_fir_apply_zero_phase for n samples: the first block start j0 and count. */
static void team_blocks(const sf_fir *f, size_t n, size_t *j0, size_t *nb) {
  size_t N = f->ntaps, nfft = f->conv.nfft, L = f->conv.block;
  size_t e = (N < n ? N : n) - 1, npad = n + 2 * e, lo = e + (N - 1) / 2;
  size_t first = lo + 1 > nfft ? (lo + 1 - nfft) / L * L : 0, c = 0;
  for (size_t j = first; j < npad && j < lo + n; j += L) c++;
  *j0 = first;
  *nb = c;
}

size_t sf_fir_team_scratch(const sf_fir *f, size_t n) {
  size_t j0, nb;
  if (n == 0) return 0;
  team_blocks(f, n, &j0, &nb);
  return nb * f->conv.nfft;
}

int sf_fir_apply_zero_phase_team(const sf_fir *f, const double *x, size_t n, double *y,
                                 sf_fir_ws *ws, double *scratch) {
  if (n == 0) return 0;
  if (x == y) return SF_ERR_INPUT;
  size_t N = f->ntaps, nfft = f->conv.nfft, L = f->conv.block;
  size_t e = (N < n ? N : n) - 1, npad = n + 2 * e;
  size_t lo = e + (N - 1) / 2, first, nb;
  team_blocks(f, n, &first, &nb);
#pragma omp for schedule(static)
  for (size_t b = 0; b < nb; b++) {
    size_t j0 = first + b * L, m = npad - j0 < L ? npad - j0 : L;
    double *out = scratch + b * nfft;
    for (size_t t = 0; t < m; t++) ws->b.buf[t] = padded(x, n, e, j0 + t);
    sf_fftconv_block(&f->conv, &ws->b, m, out);
  }
  /* y[i] at padded convolution index J = i + lo: 0 + the blocks covering J, in order */
#pragma omp for schedule(static)
  for (size_t c0 = 0; c0 < n; c0 += 4096) {
    size_t c1 = c0 + 4096 < n ? c0 + 4096 : n;
    for (size_t i = c0; i < c1; i++) {
      size_t J = i + lo, bh = J < first ? 0 : (J - first) / L;
      if (bh >= nb) bh = nb - 1;
      double acc = 0.0;
      size_t bl = bh > 0 ? bh - 1 : 0;
      for (size_t b = bl; b <= bh; b++) {
        size_t j0 = first + b * L;
        if (J >= j0 && J < j0 + nfft) acc += scratch[b * nfft + (J - j0)];
      }
      y[i] = acc;
    }
  }
  return 0;
}

void sf_fir_ws_destroy(sf_fir_ws **ws) {
  if (!ws || !*ws) return;
  sf_fftconv_buf_free(&(*ws)->b);
  free(*ws);
  *ws = NULL;
}

void sf_fir_destroy(sf_fir **f) {
  if (!f || !*f) return;
  sf_fftconv_free(&(*f)->conv);
  free((*f)->h);
  free(*f);
  *f = NULL;
}
