/* FACET evaluation metrics (specs/eeg.md section 5). */
#include "eeg_metrics.h"

#include <math.h>
#include <stdlib.h>

#include "sf_error.h"

/* MATLAB/FACETpy floor of the SNR denominator. */
static const double METRICS_SNR_FLOOR = 1e-10;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t k) {
  if (k == 0) return NAN;
  qsort(v, k, sizeof(double), cmp_double);
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

static double p2p(const double *x, size_t k) {
  double mn = x[0], mx = x[0];
  for (size_t i = 1; i < k; i++)
    mn = fmin(mn, x[i]), mx = fmax(mx, x[i]);
  return mx - mn;
}

int sf_eeg_metrics_compute(const double *orig, const double *corr, size_t n, double fs,
                           const long long *t, size_t nt, size_t L, long off, sf_eeg_metrics *m) {
  int status = 0;
  double *buf = NULL;
  if (m) m->snr = m->rms_ratio = m->rms_residual = m->median_p2p = m->median_p2p_ref = NAN;
  if (!orig || !corr || !t || !m || n == 0 || nt == 0 || L == 0 || !(isfinite(fs) && fs > 0.0))
    SF_FAIL_QUIET(SF_ERR_INPUT);
  for (size_t i = 1; i < nt; i++)
    if (t[i] < t[i - 1]) SF_FAIL_QUIET(SF_ERR_INPUT);
  long long nn = (long long)n, LL = (long long)L, t0 = t[0], te = t[nt - 1];

  /* A, half-open, clipped. */
  long long a0 = t0 - LL / 2, a1 = te + (3 * LL) / 2;
  if (a0 < 0) a0 = 0;
  if (a1 > nn) a1 = nn;
  /* Ref = [0, r0) and [r1, n): i < t0 - 0.1 fs and i > t_end + L + 0.1 fs. */
  double x0 = (double)t0 - 0.1 * fs, x1 = (double)(te + LL) + 0.1 * fs;
  long long r0 = x0 <= 0.0 ? 0 : (long long)ceil(x0);
  long long r1 = x1 < 0.0 ? 0 : (long long)floor(x1) + 1;
  if (r0 > nn) r0 = nn;
  if (r1 > nn) r1 = nn;
  if (r1 < r0) r1 = r0;
  size_t nref = (size_t)(r0 + (nn - r1));

  double var_ref = NAN, var_a = NAN;
  if (nref > 0) {
    double s = 0.0, q = 0.0;
    for (long long i = 0; i < r0; i++)
      s += corr[i];
    for (long long i = r1; i < nn; i++)
      s += corr[i];
    double mu = s / (double)nref;
    for (long long i = 0; i < r0; i++)
      q += (corr[i] - mu) * (corr[i] - mu);
    for (long long i = r1; i < nn; i++)
      q += (corr[i] - mu) * (corr[i] - mu);
    var_ref = q / (double)nref;
  }
  if (a1 > a0) {
    double s = 0.0, q = 0.0, so = 0.0, sc = 0.0;
    for (long long i = a0; i < a1; i++)
      s += corr[i];
    double mu = s / (double)(a1 - a0);
    for (long long i = a0; i < a1; i++) {
      q += (corr[i] - mu) * (corr[i] - mu);
      so += orig[i] * orig[i];
      sc += corr[i] * corr[i];
    }
    var_a = q / (double)(a1 - a0);
    if (sc > 0.0) m->rms_ratio = sqrt(so / sc);
  }
  if (nref > 0 && a1 > a0) {
    m->snr = var_ref / fmax(var_a - var_ref, METRICS_SNR_FLOOR);
    if (var_ref > 0.0) m->rms_residual = sqrt(var_a) / sqrt(var_ref);
  }

  size_t nchunk = nref / L, nb = nt > nchunk ? nt : nchunk;
  buf = malloc((nb ? nb : 1) * sizeof(double));
  if (!buf) SF_FAIL_QUIET(SF_ERR_NOMEM);
  size_t k = 0;
  for (size_t i = 0; i < nt; i++) {
    long long s0 = t[i] + off, e0 = s0 + LL;
    if (s0 < 0) s0 = 0;
    if (e0 > nn) e0 = nn;
    if (e0 > s0) buf[k++] = p2p(corr + s0, (size_t)(e0 - s0));
  }
  m->median_p2p = median(buf, k);
  /* Ref chunks: the j-th Ref sample is j < r0 ? j : r1 + (j - r0). */
  for (size_t c = 0; c < nchunk; c++) {
    double mn = INFINITY, mx = -INFINITY;
    for (size_t j = c * L; j < (c + 1) * L; j++) {
      long long g = (long long)j < r0 ? (long long)j : r1 + ((long long)j - r0);
      mn = fmin(mn, corr[g]), mx = fmax(mx, corr[g]);
    }
    buf[c] = mx - mn;
  }
  m->median_p2p_ref = median(buf, nchunk);
cleanup:
  free(buf);
  return status;
}
