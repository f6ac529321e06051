/* Optimal basis set residual removal (specs/eeg.md section 3d; MATLAB FitOBS). */
#include "eeg_obs.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eeg_firls.h"
#include "sf_error.h"

struct sf_obs {
  size_t ntaps;
  sf_filtfilt *ff;
};

struct sf_obs_ws {
  size_t nmax, nt, L, smax;
  sf_filtfilt_ws *ffw;
  double *ipca;        /* nmax: the high-passed span */
  size_t *sel;         /* PCA epochs' starts, nt */
  double *mean;        /* their means, nt */
  double *a, *v;       /* smax x smax: Gram or covariance, eigenvectors (columns) */
  double *lam, *oev;   /* smax */
  size_t *order;       /* smax */
  double *basis;       /* smax x L: PCs, then their orthonormal basis, one per row */
  double *ep, *coef;   /* L, smax */
};

/* MATLAB FitOBS's 'auto' thresholds (percent of variance). */
static const double OBS_TH_SLOPE = 2.0, OBS_TH_CUMVAR = 80.0, OBS_TH_VAREXP = 5.0;

int sf_obs_auto_k(const double *oev, size_t s) {
  if (s == 0) return 1;
  size_t slope = s, cumvar = s, varexp = s;
  for (size_t j = 0; j + 3 < s; j++) /* 0-based j: position j + 1 */
    if (fabs(oev[j + 1] - oev[j]) < OBS_TH_SLOPE && fabs(oev[j + 2] - oev[j + 1]) < OBS_TH_SLOPE &&
        fabs(oev[j + 3] - oev[j + 2]) < OBS_TH_SLOPE) {
      slope = j;
      break;
    }
  double c = 0.0;
  for (size_t j = 0; j < s; j++) {
    c += oev[j];
    if (c > OBS_TH_CUMVAR) {
      cumvar = j + 1;
      break;
    }
  }
  for (size_t j = 0; j < s; j++)
    if (oev[j] < OBS_TH_VAREXP) {
      varexp = j;
      break;
    }
  double k = floor(((double)slope + (double)cumvar + (double)varexp) / 3.0);
  if (k < 1.0) k = 1.0;
  if (k > (double)s) k = (double)s;
  return (int)k;
}

int sf_obs_create(double hp, double fs, sf_obs **out) {
  int status = 0;
  sf_obs *o = NULL;
  double *h = NULL;
  *out = NULL;
  if (!(isfinite(fs) && fs > 0.0 && isfinite(hp) && hp > 10.0 && hp + 10.0 < fs / 2.0))
    SF_FAIL_QUIET(SF_ERR_INPUT);
  double order = round(1.2 * fs / (hp - 10.0)); /* MATLAB round: half away from zero */
  if (!(order <= 40000.0)) SF_FAIL_QUIET(SF_ERR_INPUT);
  size_t ord = (size_t)order;
  ord += ord % 2;
  if (ord == 0) ord = 2;
  o = calloc(1, sizeof(*o));
  if (!o) SF_FAIL_QUIET(SF_ERR_NOMEM);
  o->ntaps = ord + 1;
  h = malloc(o->ntaps * sizeof(double));
  if (!h) SF_FAIL_QUIET(SF_ERR_NOMEM);
  const double bands[4] = {0.0, hp - 10.0, hp + 10.0, fs / 2.0}, gain[4] = {0, 0, 1, 1};
  SF_CALL(sf_firls_design(o->ntaps, bands, gain, 2, fs, h));
  SF_CALL(sf_filtfilt_create(h, o->ntaps, &o->ff));
  *out = o;
  o = NULL;
cleanup:
  free(h);
  sf_obs_destroy(&o);
  return status;
}

size_t sf_obs_ntaps(const sf_obs *o) { return o->ntaps; }

int sf_obs_ws_create(const sf_obs *o, size_t nmax, size_t nt, size_t L, sf_obs_ws **out) {
  int status = 0;
  sf_obs_ws *w = calloc(1, sizeof(*w));
  *out = NULL;
  if (!w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  size_t mmax = nt >= 3 ? (nt - 1) / 2 : 0;
  w->nmax = nmax, w->nt = nt, w->L = L;
  w->smax = mmax < L ? mmax : L;
  size_t s = w->smax ? w->smax : 1, l = L ? L : 1;
  SF_CALL(sf_filtfilt_ws_create(o->ff, nmax, &w->ffw));
  w->ipca = malloc((nmax ? nmax : 1) * sizeof(double));
  w->sel = malloc((nt ? nt : 1) * sizeof(size_t));
  w->mean = malloc((nt ? nt : 1) * sizeof(double));
  w->a = malloc(s * s * sizeof(double));
  w->v = malloc(s * s * sizeof(double));
  w->lam = malloc(s * sizeof(double));
  w->oev = malloc(s * sizeof(double));
  w->order = malloc(s * sizeof(size_t));
  w->basis = malloc(s * l * sizeof(double));
  w->ep = malloc(l * sizeof(double));
  w->coef = malloc(s * sizeof(double));
  if (!w->ipca || !w->sel || !w->mean || !w->a || !w->v || !w->lam || !w->oev || !w->order ||
      !w->basis || !w->ep || !w->coef)
    SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = w;
  w = NULL;
cleanup:
  sf_obs_ws_destroy(&w);
  return status;
}

/* Cyclic Jacobi eigen-decomposition of the symmetric s x s row-major a: on return the diagonal
 * of a holds the eigenvalues and column q of v the eigenvector of a[q][q]. Rotations in a fixed
 * order (deterministic); an off-diagonal entry below 1e-17 of ||A||_F, or negligible next to
 * its diagonal pair, is set to zero; stops after a sweep without rotations. */
static void jacobi_eig(double *a, double *v, size_t s) {
  double norm = 0.0;
  for (size_t i = 0; i < s * s; i++) norm += a[i] * a[i];
  norm = sqrt(norm);
  for (size_t i = 0; i < s; i++)
    for (size_t j = 0; j < s; j++) v[i * s + j] = i == j ? 1.0 : 0.0;
  for (int sweep = 0; sweep < 100; sweep++) {
    size_t rotations = 0;
    for (size_t p = 0; p + 1 < s; p++)
      for (size_t q = p + 1; q < s; q++) {
        double apq = a[p * s + q], app = a[p * s + p], aqq = a[q * s + q];
        if (apq == 0.0) continue;
        if (fabs(apq) <= 1e-17 * norm || (fabs(app) + 1e17 * fabs(apq) == fabs(app) &&
                                          fabs(aqq) + 1e17 * fabs(apq) == fabs(aqq))) {
          a[p * s + q] = a[q * s + p] = 0.0;
          continue;
        }
        rotations++;
        double theta = (aqq - app) / (2.0 * apq), t;
        if (fabs(theta) > 1e150)
          t = 0.5 / theta;
        else
          t = (theta >= 0.0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        double c = 1.0 / sqrt(t * t + 1.0), sn = t * c;
        for (size_t k = 0; k < s; k++) {
          if (k == p || k == q) continue;
          double akp = a[p * s + k], akq = a[q * s + k];
          double nkp = c * akp - sn * akq, nkq = sn * akp + c * akq;
          a[p * s + k] = a[k * s + p] = nkp;
          a[q * s + k] = a[k * s + q] = nkq;
        }
        a[p * s + p] = app - t * apq;
        a[q * s + q] = aqq + t * apq;
        a[p * s + q] = a[q * s + p] = 0.0;
        for (size_t k = 0; k < s; k++) {
          double vkp = v[k * s + p], vkq = v[k * s + q];
          v[k * s + p] = c * vkp - sn * vkq;
          v[k * s + q] = sn * vkp + c * vkq;
        }
      }
    if (rotations == 0) break;
  }
}

int sf_obs_execute(const sf_obs *o, double *x, double *noise, size_t n, const long long *t,
                   size_t nt, long off, size_t L, int k, int *k_used, sf_obs_ws *ws) {
  if (k_used) *k_used = 0;
  if (!x || !t || nt == 0 || L == 0 || k < 0 || n > ws->nmax || nt > ws->nt || L != ws->L)
    return SF_ERR_INPUT;
  for (size_t i = 1; i < nt; i++)
    if (t[i] < t[i - 1]) return SF_ERR_INPUT;
  long long nn = (long long)n, LL = (long long)L;
  long long lo = t[0] + off, hi = t[nt - 1] + off + LL;
  if (lo < 0) lo = 0;
  if (hi > nn) hi = nn;
  if (hi <= lo) return SF_ERR_INPUT;
  int status = sf_filtfilt_execute(o->ff, x + lo, (size_t)(hi - lo), ws->ipca, ws->ffw);
  if (status) return status;
  const double *ip = ws->ipca - lo; /* ip[j] = Ipca at sample j, lo <= j < hi */

  /* PCA epochs: every second one from 1 to nt - 2, whole inside [0, n). */
  size_t m = 0;
  for (size_t i = 1; i + 1 < nt; i += 2) {
    long long s0 = t[i] + off;
    if (s0 < 0 || s0 + LL > nn) continue;
    double mu = 0.0;
    for (size_t j = 0; j < L; j++) mu += ip[s0 + (long long)j];
    ws->sel[m] = (size_t)s0;
    ws->mean[m] = mu / (double)L;
    m++;
  }
  if (m == 0) return SF_ERR_INPUT;
  int dual = m <= L; /* epochs x epochs Gram, else L x L covariance */
  size_t s = dual ? m : L;
  double *a = ws->a, *v = ws->v, *ep = ws->ep;
  if (dual) {
    for (size_t p = 0; p < m; p++) {
      const double *xp = ip + ws->sel[p];
      for (size_t q = p; q < m; q++) {
        const double *xq = ip + ws->sel[q];
        double acc = 0.0, mp = ws->mean[p], mq = ws->mean[q];
        for (size_t j = 0; j < L; j++) acc += (xp[j] - mp) * (xq[j] - mq);
        a[p * s + q] = a[q * s + p] = acc;
      }
    }
  } else {
    memset(a, 0, s * s * sizeof(double));
    for (size_t p = 0; p < m; p++) {
      const double *xp = ip + ws->sel[p];
      for (size_t j = 0; j < L; j++) ep[j] = xp[j] - ws->mean[p];
      for (size_t i = 0; i < L; i++)
        for (size_t j = i; j < L; j++) a[i * s + j] += ep[i] * ep[j];
    }
    for (size_t i = 0; i < L; i++)
      for (size_t j = 0; j < i; j++) a[i * s + j] = a[j * s + i];
  }
  jacobi_eig(a, v, s);

  /* Descending eigenvalues (ties by index: deterministic). */
  double *lam = ws->lam, total = 0.0, lmax = 0.0;
  size_t *ord = ws->order;
  for (size_t i = 0; i < s; i++) {
    lam[i] = fmax(a[i * s + i], 0.0);
    total += lam[i];
    lmax = fmax(lmax, lam[i]);
    size_t j = i;
    for (; j > 0 && lam[ord[j - 1]] < lam[i]; j--) ord[j] = ord[j - 1];
    ord[j] = i;
  }
  size_t rank = 0;
  while (rank < s && lam[ord[rank]] > (double)s * DBL_EPSILON * lmax) rank++;
  if (rank == 0 || !(total > 0.0)) return 0; /* nothing varies: nothing to fit */
  int kk = k;
  if (kk == 0) {
    for (size_t i = 0; i < s; i++) ws->oev[i] = 100.0 * lam[ord[i]] / total;
    kk = sf_obs_auto_k(ws->oev, s);
  }
  if ((size_t)kk > rank) kk = (int)rank;

  /* PCs as time courses, PCs 2..k rescaled to the range of PC1 (MATLAB), then an orthonormal
   * basis of their span: P pinv(P) is the projector onto it. */
  double *B = ws->basis, range1 = 0.0, nmaxpc = 0.0;
  for (int q = 0; q < kk; q++) {
    double *bq = B + (size_t)q * L;
    size_t c = ord[q];
    if (dual) {
      memset(bq, 0, L * sizeof(double));
      for (size_t p = 0; p < m; p++) {
        const double *xp = ip + ws->sel[p];
        double w = v[p * s + c], mp = ws->mean[p];
        for (size_t j = 0; j < L; j++) bq[j] += w * (xp[j] - mp);
      }
    } else {
      for (size_t j = 0; j < L; j++) bq[j] = v[j * s + c];
    }
    double mn = bq[0], mx = bq[0];
    for (size_t j = 1; j < L; j++) mn = fmin(mn, bq[j]), mx = fmax(mx, bq[j]);
    if (q == 0)
      range1 = mx - mn;
    else if (mx - mn > 0.0)
      for (size_t j = 0; j < L; j++) bq[j] *= range1 / (mx - mn);
    double nq = 0.0;
    for (size_t j = 0; j < L; j++) nq += bq[j] * bq[j];
    nmaxpc = fmax(nmaxpc, sqrt(nq));
  }
  double tol = (double)(L > (size_t)kk ? L : (size_t)kk) * DBL_EPSILON * nmaxpc;
  size_t nb = 0;
  for (int q = 0; q < kk; q++) {
    double *bq = B + (size_t)q * L, *dst = B + nb * L;
    for (size_t b = 0; b < nb; b++) {
      const double *bb = B + b * L;
      double d = 0.0;
      for (size_t j = 0; j < L; j++) d += bb[j] * bq[j];
      for (size_t j = 0; j < L; j++) bq[j] -= d * bb[j];
    }
    double nq = 0.0;
    for (size_t j = 0; j < L; j++) nq += bq[j] * bq[j];
    nq = sqrt(nq);
    if (!(nq > tol)) continue;
    for (size_t j = 0; j < L; j++) dst[j] = bq[j] / nq;
    nb++;
  }

  /* Fit every epoch; a sample takes the fit of the last epoch that covers it. */
  for (size_t i = 0; i < nt; i++) {
    long long s0 = t[i] + off, e0 = s0 + LL;
    long long c0 = s0 < 0 ? 0 : s0, c1 = e0 > nn ? nn : e0;
    if (c1 <= c0) continue;
    long long a1 = i + 1 < nt && t[i + 1] + off < c1 ? t[i + 1] + off : c1;
    if (a1 <= c0) continue;
    for (size_t j = 0; j < L; j++) {
      long long g = s0 + (long long)j;
      ep[j] = g >= c0 && g < c1 ? ip[g] : 0.0;
    }
    for (size_t b = 0; b < nb; b++) {
      const double *bb = B + b * L;
      double d = 0.0;
      for (size_t j = 0; j < L; j++) d += bb[j] * ep[j];
      ws->coef[b] = d;
    }
    for (long long g = c0; g < a1; g++) {
      size_t j = (size_t)(g - s0);
      double f = 0.0;
      for (size_t b = 0; b < nb; b++) f += ws->coef[b] * B[b * L + j];
      x[g] -= f;
      if (noise) noise[g] += f;
    }
  }
  if (k_used) *k_used = kk;
  return 0;
}

int sf_obs_apply(double *x, double *noise, size_t n, const long long *t, size_t nt, long off,
                 size_t L, int k, double hp, double fs, int *k_used) {
  int status = 0;
  sf_obs *o = NULL;
  sf_obs_ws *ws = NULL;
  if (k_used) *k_used = 0;
  if (!x || n == 0 || L == 0) SF_FAIL_QUIET(SF_ERR_INPUT);
  SF_CALL(sf_obs_create(hp, fs, &o));
  SF_CALL(sf_obs_ws_create(o, n, nt, L, &ws));
  status = sf_obs_execute(o, x, noise, n, t, nt, off, L, k, k_used, ws);
cleanup:
  sf_obs_ws_destroy(&ws);
  sf_obs_destroy(&o);
  return status;
}

void sf_obs_ws_destroy(sf_obs_ws **ws) {
  if (!ws || !*ws) return;
  sf_obs_ws *w = *ws;
  sf_filtfilt_ws_destroy(&w->ffw);
  free(w->ipca), free(w->sel), free(w->mean), free(w->a), free(w->v), free(w->lam);
  free(w->oev), free(w->order), free(w->basis), free(w->ep), free(w->coef);
  free(w);
  *ws = NULL;
}

void sf_obs_destroy(sf_obs **o) {
  if (!o || !*o) return;
  sf_filtfilt_destroy(&(*o)->ff);
  free(*o);
  *o = NULL;
}
