/* Optimal basis set residual removal (specs/eeg.md section 3d; MATLAB FitOBS). */
#include "eeg_obs.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eeg_dot_impl.h"
#include "eeg_firls.h"
#include "eeg_obs_impl.h"
#include "sf_error.h"

struct sf_obs {
  size_t ntaps;
  sf_filtfilt *ff;
};

struct sf_obs_ws {
  size_t nmax, nt, L, smax;
  sf_filtfilt_ws *ffw;
  double *ipca;      /* nmax: the high-passed span */
  size_t *sel;       /* PCA epochs' starts, nt */
  double *mean;      /* their means, nt */
  double *a, *v;     /* smax x smax: Gram or covariance, eigenvectors (columns) */
  double *lam, *oev; /* smax */
  double *work;      /* 9 smax: the eigen-solver's */
  double *basis;     /* smax x L: PCs, then their orthonormal basis, one per row */
  double *ep, *coef; /* L, smax */
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
  w->work = malloc(9 * s * sizeof(double));
  w->basis = malloc(s * l * sizeof(double));
  w->ep = malloc(l * sizeof(double));
  w->coef = malloc(s * sizeof(double));
  if (!w->ipca || !w->sel || !w->mean || !w->a || !w->v || !w->lam || !w->oev || !w->work ||
      !w->basis || !w->ep || !w->coef)
    SF_FAIL_QUIET(SF_ERR_NOMEM);
  *out = w;
  w = NULL;
cleanup:
  sf_obs_ws_destroy(&w);
  return status;
}

/* Householder tridiagonalisation T = Q^T A Q in place: step k takes x = A[k][k+1..s) (row k,
 * by symmetry the column), v = x - alpha e1 with alpha = -sign(x0) |x|, beta = 1/(alpha (alpha -
 * x0)), and updates the trailing block A22 -= v w^T + w v^T with w = p - (beta p.v / 2) v, p =
 * beta A22 v. v stays in row k for the back-transformation. */
static void tridiagonalize(double *a, size_t s, double *d, double *e, double *beta, double *p) {
  for (size_t k = 0; k + 2 < s; k++) {
    double *v = a + k * s + k + 1;
    size_t m = s - k - 1;
    double nrm = 0.0;
    for (size_t i = 0; i < m; i++)
      nrm += v[i] * v[i];
    nrm = sqrt(nrm);
    d[k] = a[k * s + k];
    if (nrm == 0.0) {
      e[k] = 0.0, beta[k] = 0.0;
      continue;
    }
    double x0 = v[0], alpha = x0 >= 0.0 ? -nrm : nrm;
    v[0] = x0 - alpha;
    double b = 1.0 / (alpha * (alpha - x0));
    e[k] = alpha, beta[k] = b;
    double pv = 0.0;
    for (size_t i = 0; i < m; i++) {
      const double *row = a + (k + 1 + i) * s + k + 1;
      p[i] = b * sf_eeg_dot8(row, v, m);
      pv += p[i] * v[i];
    }
    double K = 0.5 * b * pv;
    for (size_t i = 0; i < m; i++)
      p[i] -= K * v[i]; /* w */
    for (size_t i = 0; i < m; i++) {
      double *row = a + (k + 1 + i) * s + k + 1, vi = v[i], wi = p[i];
      for (size_t j = 0; j < m; j++)
        row[j] -= vi * p[j] + wi * v[j];
    }
  }
  if (s >= 2) {
    d[s - 2] = a[(s - 2) * s + s - 2];
    e[s - 2] = a[(s - 2) * s + s - 1];
    beta[s - 2] = 0.0;
  }
  if (s >= 1) d[s - 1] = a[(s - 1) * s + s - 1];
}

/* Number of eigenvalues of T (d, e) below x: negatives of the Sturm sequence. */
static size_t sturm_count(const double *d, const double *e, size_t s, double x, double tiny) {
  size_t c = 0;
  double q = d[0] - x;
  if (q == 0.0) q = -tiny;
  if (q < 0.0) c++;
  for (size_t i = 1; i < s; i++) {
    q = d[i] - x - e[i - 1] * e[i - 1] / q;
    if (q == 0.0) q = -tiny;
    if (q < 0.0) c++;
  }
  return c;
}

/* Solves (T - mu I) z = b in place (b in z) by Gaussian elimination with partial pivoting;
 * tiny pivots become eps ||T|| (inverse iteration wants the near-singular solve). */
static void tri_solve(const double *d, const double *e, size_t s, double mu, double tnorm,
                      double *z, double *u0, double *u1, double *u2) {
  double floor_piv = tnorm > 0.0 ? DBL_EPSILON * tnorm : 1.0; /* T = 0: any vector */
  double p = d[0] - mu, q = s > 1 ? e[0] : 0.0, r = 0.0;
  for (size_t i = 0; i + 1 < s; i++) {
    double a = e[i], b = d[i + 1] - mu, c = i + 2 < s ? e[i + 1] : 0.0;
    if (fabs(p) >= fabs(a)) {
      if (p == 0.0) p = floor_piv;
      double m = a / p;
      u0[i] = p, u1[i] = q, u2[i] = r;
      z[i + 1] -= m * z[i];
      p = b - m * q, q = c - m * r, r = 0.0;
    } else {
      double m = p / a, zi = z[i];
      u0[i] = a, u1[i] = b, u2[i] = c;
      z[i] = z[i + 1];
      z[i + 1] = zi - m * z[i + 1];
      p = q - m * b, q = r - m * c, r = 0.0;
    }
  }
  if (fabs(p) < floor_piv) p = p < 0.0 ? -floor_piv : floor_piv;
  u0[s - 1] = p;
  for (size_t i = s; i-- > 0;) {
    double acc = z[i];
    if (i + 1 < s) acc -= u1[i] * z[i + 1];
    if (i + 2 < s) acc -= u2[i] * z[i + 2];
    double piv = u0[i];
    if (fabs(piv) < floor_piv) piv = piv < 0.0 ? -floor_piv : floor_piv;
    z[i] = acc / piv;
  }
}

/* Tridiagonalises a and puts every eigenvalue, descending, into lam (sf_obs_sym_eig's first
 * half; T and the reflectors stay in work and a for eig_vectors). */
static void eig_values(double *a, size_t s, double *lam, double *work) {
  double *d = work, *e = d + s, *beta = e + s, *p = beta + s;
  tridiagonalize(a, s, d, e, beta, p);
  /* Gershgorin bounds and the scale of T. */
  double lo = INFINITY, hi = -INFINITY, tnorm = 0.0;
  for (size_t i = 0; i < s; i++) {
    double r = (i > 0 ? fabs(e[i - 1]) : 0.0) + (i + 1 < s ? fabs(e[i]) : 0.0);
    lo = fmin(lo, d[i] - r), hi = fmax(hi, d[i] + r);
    tnorm = fmax(tnorm, fabs(d[i]) + r);
  }
  double tiny = DBL_MIN + DBL_EPSILON * tnorm * 1e-3;
  for (size_t j = 0; j < s; j++) { /* lam[j]: the (s-1-j)-th smallest */
    size_t r = s - 1 - j;
    double l = lo - DBL_EPSILON * tnorm, h = hi + DBL_EPSILON * tnorm;
    if (j > 0) h = fmin(h, lam[j - 1] + DBL_EPSILON * tnorm);
    for (int it = 0; it < 200; it++) {
      double mid = 0.5 * (l + h);
      if (!(mid > l && mid < h) || h - l <= 2.0 * DBL_EPSILON * fmax(fabs(l), fabs(h))) break;
      if (sturm_count(d, e, s, mid, tiny) > r)
        h = mid;
      else
        l = mid;
    }
    lam[j] = 0.5 * (l + h);
  }
}

/* The eigenvectors of the k largest eigenvalues after eig_values, into the rows of vec. */
static void eig_vectors(const double *a, size_t s, size_t k, const double *lam, double *vec,
                        double *work) {
  double *d = work, *e = d + s, *beta = e + s, *p = beta + s, *u0 = p + s, *u1 = u0 + s;
  double *u2 = u1 + s, *z = u2 + s, tnorm = 0.0;
  (void)p;
  for (size_t i = 0; i < s; i++)
    tnorm =
        fmax(tnorm, fabs(d[i]) + (i > 0 ? fabs(e[i - 1]) : 0.0) + (i + 1 < s ? fabs(e[i]) : 0.0));
  for (size_t q = 0; q < k && q < s; q++) {
    double *y = vec + q * s;
    unsigned long long st = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < s; i++) {
      st = st * 6364136223846793005ULL + 1442695040888963407ULL;
      y[i] = 0.5 + (double)(st >> 11) / 9007199254740992.0;
    }
    for (int it = 0; it < 4; it++) {
      memcpy(z, y, s * sizeof(double));
      tri_solve(d, e, s, lam[q], tnorm, z, u0, u1, u2);
      double zmax = 0.0; /* rescale first: the near-singular solve can be huge */
      for (size_t i = 0; i < s; i++)
        zmax = fmax(zmax, fabs(z[i]));
      if (!(zmax > 0.0) || !isfinite(zmax)) break;
      for (size_t i = 0; i < s; i++)
        z[i] /= zmax;
      for (size_t b = 0; b < q; b++) { /* against the earlier ones, still in T's basis */
        const double *yb = vec + b * s;
        double dt = 0.0;
        for (size_t i = 0; i < s; i++)
          dt += yb[i] * z[i];
        for (size_t i = 0; i < s; i++)
          z[i] -= dt * yb[i];
      }
      double nz = 0.0;
      for (size_t i = 0; i < s; i++)
        nz += z[i] * z[i];
      nz = sqrt(nz);
      if (!(nz > 0.0)) break;
      for (size_t i = 0; i < s; i++)
        y[i] = z[i] / nz;
    }
  }
  /* Back-transformation y = H_0 H_1 ... H_{s-3} y, after every vector is done in T's basis. */
  for (size_t q = 0; q < k && q < s; q++) {
    double *y = vec + q * s;
    for (size_t kk = s >= 3 ? s - 2 : 0; kk-- > 0;) {
      if (beta[kk] == 0.0) continue;
      const double *v = a + kk * s + kk + 1;
      double dt = 0.0;
      for (size_t i = 0; i < s - kk - 1; i++)
        dt += v[i] * y[kk + 1 + i];
      dt *= beta[kk];
      for (size_t i = 0; i < s - kk - 1; i++)
        y[kk + 1 + i] -= dt * v[i];
    }
  }
}

void sf_obs_sym_eig(double *a, size_t s, size_t k, double *lam, double *vec, double *work) {
  if (s == 0) return;
  eig_values(a, s, lam, work);
  eig_vectors(a, s, k, lam, vec, work);
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
    for (size_t j = 0; j < L; j++)
      mu += ip[s0 + (long long)j];
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
        for (size_t j = 0; j < L; j++)
          acc += (xp[j] - mp) * (xq[j] - mq);
        a[p * s + q] = a[q * s + p] = acc;
      }
    }
  } else {
    memset(a, 0, s * s * sizeof(double));
    for (size_t p = 0; p < m; p++) {
      const double *xp = ip + ws->sel[p];
      for (size_t j = 0; j < L; j++)
        ep[j] = xp[j] - ws->mean[p];
      for (size_t i = 0; i < L; i++)
        for (size_t j = i; j < L; j++)
          a[i * s + j] += ep[i] * ep[j];
    }
    for (size_t i = 0; i < L; i++)
      for (size_t j = 0; j < i; j++)
        a[i * s + j] = a[j * s + i];
  }
  double *lam = ws->lam, total = 0.0;
  eig_values(a, s, lam, ws->work);
  for (size_t i = 0; i < s; i++)
    lam[i] = fmax(lam[i], 0.0), total += lam[i];
  size_t rank = 0;
  while (rank < s && lam[rank] > (double)s * DBL_EPSILON * lam[0])
    rank++;
  if (rank == 0 || !(total > 0.0)) return 0; /* nothing varies: nothing to fit */
  int kk = k;
  if (kk == 0) {
    for (size_t i = 0; i < s; i++)
      ws->oev[i] = 100.0 * lam[i] / total;
    kk = sf_obs_auto_k(ws->oev, s);
  }
  if ((size_t)kk > rank) kk = (int)rank;
  eig_vectors(a, s, (size_t)kk, lam, v, ws->work);

  /* PCs as time courses, PCs 2..k rescaled to the range of PC1 (MATLAB), then an orthonormal
   * basis of their span: P pinv(P) is the projector onto it. */
  double *B = ws->basis, range1 = 0.0, nmaxpc = 0.0;
  for (int q = 0; q < kk; q++) {
    double *bq = B + (size_t)q * L;
    const double *vq = v + (size_t)q * s;
    if (dual) {
      memset(bq, 0, L * sizeof(double));
      for (size_t p = 0; p < m; p++) {
        const double *xp = ip + ws->sel[p];
        double w = vq[p], mp = ws->mean[p];
        for (size_t j = 0; j < L; j++)
          bq[j] += w * (xp[j] - mp);
      }
    } else {
      memcpy(bq, vq, L * sizeof(double));
    }
    double mn = bq[0], mx = bq[0];
    for (size_t j = 1; j < L; j++)
      mn = fmin(mn, bq[j]), mx = fmax(mx, bq[j]);
    if (q == 0)
      range1 = mx - mn;
    else if (mx - mn > 0.0)
      for (size_t j = 0; j < L; j++)
        bq[j] *= range1 / (mx - mn);
    double nq = 0.0;
    for (size_t j = 0; j < L; j++)
      nq += bq[j] * bq[j];
    nmaxpc = fmax(nmaxpc, sqrt(nq));
  }
  double tol = (double)(L > (size_t)kk ? L : (size_t)kk) * DBL_EPSILON * nmaxpc;
  size_t nb = 0;
  for (int q = 0; q < kk; q++) {
    double *bq = B + (size_t)q * L, *dst = B + nb * L;
    for (size_t b = 0; b < nb; b++) {
      const double *bb = B + b * L;
      double d = 0.0;
      for (size_t j = 0; j < L; j++)
        d += bb[j] * bq[j];
      for (size_t j = 0; j < L; j++)
        bq[j] -= d * bb[j];
    }
    double nq = 0.0;
    for (size_t j = 0; j < L; j++)
      nq += bq[j] * bq[j];
    nq = sqrt(nq);
    if (!(nq > tol)) continue;
    for (size_t j = 0; j < L; j++)
      dst[j] = bq[j] / nq;
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
      for (size_t j = 0; j < L; j++)
        d += bb[j] * ep[j];
      ws->coef[b] = d;
    }
    for (long long g = c0; g < a1; g++) {
      size_t j = (size_t)(g - s0);
      double f = 0.0;
      for (size_t b = 0; b < nb; b++)
        f += ws->coef[b] * B[b * L + j];
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
  free(w->oev), free(w->work), free(w->basis), free(w->ep), free(w->coef);
  free(w);
  *ws = NULL;
}

void sf_obs_destroy(sf_obs **o) {
  if (!o || !*o) return;
  sf_filtfilt_destroy(&(*o)->ff);
  free(*o);
  *o = NULL;
}
