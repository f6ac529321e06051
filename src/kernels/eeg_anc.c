/* Adaptive noise cancellation (specs/eeg.md section 3e; MATLAB fastranc). */
#include "eeg_anc.h"

#include <math.h>
#include <stdlib.h>

#include "eeg_dot_impl.h"
#include "eeg_firls.h"
#include "sf_error.h"

struct sf_anc {
  double f_hp;
  size_t ntaps;
  double *h;
  sf_filtfilt *ff;
};

struct sf_anc_ws {
  size_t wmax;
  sf_filtfilt_ws *ffw;
  double *d, *r, *y, *w;
};

/* MATLAB FACET ANC and FACETpy cap the adaptive gain: a larger y means LMS diverged. */
static const double ANC_MAX_GAIN = 50.0;

double sf_anc_hp_freq(const long long *t, size_t nt, double fs) {
  size_t k = 0;
  for (size_t i = 1; i < nt; i++)
    if ((double)(t[i] - t[0]) >= fs) {
      k = i;
      break;
    }
  if (k == 0) k = nt > 2 ? nt - 1 : 1;
  return fmax(0.75 * (double)k, 0.5);
}

size_t sf_anc_hp_taps(double f_hp, double fs) {
  size_t m = (size_t)nearbyint(1.2 * fs / (0.85 * f_hp));
  return m + (1 - m % 2);
}

int sf_anc_create(const long long *t, size_t nt, double fs, sf_anc **out) {
  int status = 0;
  sf_anc *a = NULL;
  *out = NULL;
  if (!t || nt == 0 || !(isfinite(fs) && fs > 0.0)) SF_FAIL_QUIET(SF_ERR_INPUT);
  for (size_t i = 1; i < nt; i++)
    if (t[i] < t[i - 1]) SF_FAIL_QUIET(SF_ERR_INPUT);
  a = calloc(1, sizeof(*a));
  if (!a) SF_FAIL_QUIET(SF_ERR_NOMEM);
  a->f_hp = sf_anc_hp_freq(t, nt, fs);
  if (!(a->f_hp < fs / 2.0)) SF_FAIL_QUIET(SF_ERR_INPUT);
  a->ntaps = sf_anc_hp_taps(a->f_hp, fs);
  if (a->ntaps > 40001) SF_FAIL_QUIET(SF_ERR_INPUT); /* a 20000^2 Cholesky: not a sane rate */
  a->h = malloc(a->ntaps * sizeof(double));
  if (!a->h) SF_FAIL_QUIET(SF_ERR_NOMEM);
  const double bands[4] = {0.0, 0.85 * a->f_hp, a->f_hp, fs / 2.0}, gain[4] = {0, 0, 1, 1};
  SF_CALL(sf_firls_design(a->ntaps, bands, gain, 2, fs, a->h));
  SF_CALL(sf_filtfilt_create(a->h, a->ntaps, &a->ff));
  *out = a;
  a = NULL;
cleanup:
  sf_anc_destroy(&a);
  return status;
}

double sf_anc_f_hp(const sf_anc *a) { return a->f_hp; }
size_t sf_anc_ntaps(const sf_anc *a) { return a->ntaps; }
const double *sf_anc_taps(const sf_anc *a) { return a->h; }

int sf_anc_ws_create(const sf_anc *a, size_t wmax, sf_anc_ws **out) {
  int status = 0;
  sf_anc_ws *w = calloc(1, sizeof(*w));
  *out = NULL;
  if (!w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  w->wmax = wmax;
  SF_CALL(sf_filtfilt_ws_create(a->ff, wmax, &w->ffw));
  size_t m = wmax ? wmax : 1;
  w->d = malloc(m * sizeof(double));
  w->r = malloc(m * sizeof(double));
  w->y = malloc(m * sizeof(double));
  w->w = malloc(m * sizeof(double));
  if (!w->d || !w->r || !w->y || !w->w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = w;
  w = NULL;
cleanup:
  sf_anc_ws_destroy(&w);
  return status;
}

int sf_anc_execute(const sf_anc *a, double *eeg, double *noise, size_t w0, size_t w1,
                   size_t art_len, sf_anc_ws *ws) {
  if (w1 <= w0 || w1 - w0 < 2 || w1 - w0 > ws->wmax || art_len == 0) return SF_ERR_INPUT;
  size_t n = w1 - w0, N = art_len < n - 1 ? art_len : n - 1;
  double *d = ws->d, *r = ws->r, *y = ws->y, *w = ws->w;
  const double *x = eeg + w0, *nz = noise + w0;
  int status = sf_filtfilt_execute(a->ff, x, n, d, ws->ffw);
  if (status) return status;

  double dr = 0.0, rr = 0.0;
  for (size_t i = 0; i < n; i++)
    dr += d[i] * nz[i], rr += nz[i] * nz[i];
  if (!(rr > 0.0) || !isfinite(dr) || !isfinite(rr)) return 1;
  double alpha = dr / rr, mean = 0.0, var = 0.0;
  for (size_t i = 0; i < n; i++)
    r[i] = alpha * nz[i], mean += r[i];
  mean /= (double)n;
  for (size_t i = 0; i < n; i++)
    var += (r[i] - mean) * (r[i] - mean);
  var /= (double)(n - 1);
  if (!(var > 0.0) || !isfinite(var)) return 1;
  double mu = 0.05 / ((double)N * var), mu2 = 2.0 * mu;

  for (size_t j = 0; j <= N; j++)
    w[j] = 0.0;
  for (size_t i = 0; i < N; i++)
    y[i] = 0.0;
  for (size_t i = N; i < n; i++) {
    const double *ri = r + (i - N);
    double s = sf_eeg_dot8(w, ri, N + 1);
    y[i] = s;
    double g = mu2 * (d[i] - s);
    for (size_t j = 0; j <= N; j++)
      w[j] += g * ri[j];
  }

  double ymax = 0.0, xmax = 0.0;
  int finite = 1;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(y[i])) finite = 0;
    ymax = fmax(ymax, fabs(y[i]));
    xmax = fmax(xmax, fabs(x[i]));
  }
  if (!finite || ymax > ANC_MAX_GAIN * xmax) return 1;
  for (size_t i = 0; i < n; i++) {
    eeg[w0 + i] -= y[i];
    noise[w0 + i] += y[i];
  }
  return 0;
}

int sf_anc_apply(double *eeg, double *noise, size_t w0, size_t w1, const long long *t, size_t nt,
                 size_t art_len, double fs) {
  int status = 0;
  sf_anc *a = NULL;
  sf_anc_ws *ws = NULL;
  if (!eeg || !noise || w1 <= w0) SF_FAIL_QUIET(SF_ERR_INPUT);
  SF_CALL(sf_anc_create(t, nt, fs, &a));
  SF_CALL(sf_anc_ws_create(a, w1 - w0, &ws));
  status = sf_anc_execute(a, eeg, noise, w0, w1, art_len, ws);
cleanup:
  sf_anc_ws_destroy(&ws);
  sf_anc_destroy(&a);
  return status;
}

void sf_anc_ws_destroy(sf_anc_ws **ws) {
  if (!ws || !*ws) return;
  sf_filtfilt_ws_destroy(&(*ws)->ffw);
  free((*ws)->d);
  free((*ws)->r);
  free((*ws)->y);
  free((*ws)->w);
  free(*ws);
  *ws = NULL;
}

void sf_anc_destroy(sf_anc **a) {
  if (!a || !*a) return;
  sf_filtfilt_destroy(&(*a)->ff);
  free((*a)->h);
  free(*a);
  *a = NULL;
}
