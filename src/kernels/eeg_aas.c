/* Averaged artifact subtraction (specs/eeg.md 2.2, 2.6, 3a); see eeg_aas.h. */
#include "kernels/eeg_aas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sf_error.h"

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

/* numpy's median of a sorted array (mean of the middle two for even counts). */
static double median_sorted(const long long *v, size_t n) {
  return n % 2 ? (double)v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + (double)v[n / 2]);
}

int sf_eeg_artifact_length(const long long *t, size_t n, size_t *L, int *volume_gaps,
                           size_t *slices_per_volume, double *gap_threshold) {
  int status = 0;
  long long *d = NULL;
  size_t *runs = NULL;
  if (n < 2) return SF_ERR_INPUT;
  d = malloc((n - 1) * sizeof *d);
  runs = malloc(n * sizeof *runs);
  if (!d || !runs) SF_FAIL_QUIET(SF_ERR_NOMEM);
  long long dmin = 0, dmax = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    d[i] = t[i + 1] - t[i];
    if (d[i] <= 0) SF_FAIL_QUIET(SF_ERR_INPUT);
    if (i == 0 || d[i] < dmin) dmin = d[i];
    if (i == 0 || d[i] > dmax) dmax = d[i];
  }
  size_t len = (size_t)dmax, spv = n;
  int gaps = 0;
  double thr = INFINITY;
  if (dmax - dmin > 3) {
    long long *s = malloc((n - 1) * sizeof *s);
    if (!s) SF_FAIL_QUIET(SF_ERR_NOMEM);
    memcpy(s, d, (n - 1) * sizeof *s);
    qsort(s, n - 1, sizeof *s, cmp_ll);
    double m = 0.5 * (median_sorted(s, n - 1) + (double)dmax);
    free(s);
    thr = m;
    long long best = 0;
    size_t nr = 0, run = 1;
    for (size_t i = 0; i + 1 < n; i++) {
      if ((double)d[i] < m) {
        if (d[i] > best) best = d[i];
        run++;
      } else {
        runs[nr++] = run;
        run = 1;
      }
    }
    runs[nr++] = run;
    gaps = 1;
    len = (size_t)(best > 0 ? best : dmax);
    /* median run length (sorted insertion: few runs) */
    for (size_t i = 1; i < nr; i++)
      for (size_t k = i; k > 0 && runs[k - 1] > runs[k]; k--) {
        size_t tmp = runs[k];
        runs[k] = runs[k - 1];
        runs[k - 1] = tmp;
      }
    spv = nr % 2 ? runs[nr / 2] : (runs[nr / 2 - 1] + runs[nr / 2]) / 2;
  }
  if (L) *L = len;
  if (volume_gaps) *volume_gaps = gaps;
  if (slices_per_volume) *slices_per_volume = spv;
  if (gap_threshold) *gap_threshold = thr;
cleanup:
  free(d);
  free(runs);
  return status;
}

long sf_eeg_xcorr_shift(const double *x, size_t nx, long long s, const double *y, size_t ly,
                        long sw) {
  long best = 0;
  double cbest = -INFINITY, cfirst = NAN;
  int flat = 1;
  for (long l = -sw; l <= sw; l++) {
    long long j0 = s + l;
    /* u range where 0 <= j0 + u < nx */
    long long u0 = j0 < 0 ? -j0 : 0;
    long long u1 = (long long)nx - j0;
    if (u1 > (long long)ly) u1 = (long long)ly;
    double c = 0.0;
    const double *xs = x + j0;
    /* a vector reduction: its order is fixed by the build, not by the threads */
#pragma omp simd reduction(+ : c)
    for (long long u = u0; u < u1; u++) c += y[u] * xs[u];
    if (!isfinite(c)) return 0;
    if (l == -sw) cfirst = c;
    else if (c != cfirst) flat = 0;
    if (c > cbest) cbest = c, best = l;
  }
  return flat ? 0 : best;
}

size_t sf_aas_block_template(const double *x, size_t n, double mean, const long long *t,
                             size_t nt, long off, size_t L, size_t W, double thr, size_t b,
                             double *tmpl) {
  size_t i0 = b * W, i1 = i0 + W < nt ? i0 + W : nt, chosen = 0;
  memset(tmpl, 0, L * sizeof *tmpl);
  if (i0 >= nt) return 0;
  /* running sum of the chosen raw epochs in tmpl, its sum and sum of squares */
  double ss = 0.0, ss2 = 0.0;
  for (size_t i = i0; i < i1; i++) {
    if (!sf_aas_epoch_inside(t[i], off, L, n)) continue;
    const double *e = x + t[i] + off;
    if (i < i0 + 5) {
      for (size_t j = 0; j < L; j++) tmpl[j] += e[j];
      chosen++;
      continue;
    }
    /* Pearson(tmpl / chosen, e) = Pearson(tmpl, e) */
    ss = ss2 = 0.0;
    double se = 0.0, se2 = 0.0, sse = 0.0;
    for (size_t j = 0; j < L; j++) {
      double a = tmpl[j], v = e[j];
      ss += a, ss2 += a * a, se += v, se2 += v * v, sse += a * v;
    }
    double dL = (double)L;
    double cov = sse - ss * se / dL, va = ss2 - ss * ss / dL, ve = se2 - se * se / dL;
    double r = va > 0.0 && ve > 0.0 ? cov / sqrt(va * ve) : 0.0;
    if (chosen > 0 && r > thr) {
      for (size_t j = 0; j < L; j++) tmpl[j] += e[j];
      chosen++;
    }
  }
  if (chosen) {
    double inv = 1.0 / (double)chosen;
    for (size_t j = 0; j < L; j++) tmpl[j] = tmpl[j] * inv - mean;
  }
  return chosen;
}

double sf_aas_alpha(const double *x, size_t n, double mean, long long s, const double *a,
                    size_t L) {
  double num = 0.0, den = 0.0;
  for (size_t j = 0; j < L; j++) {
    long long k = s + (long long)j;
    double v = k >= 0 && (unsigned long long)k < n ? x[k] - mean : 0.0;
    num += v * a[j];
    den += a[j] * a[j];
  }
  double al = num / den;
  return den > 0.0 && isfinite(al) ? al : 1.0;
}

void sf_aas_subtract(double *x, double *noise, size_t n, long long s, long long e, double alpha,
                     const double *a, size_t L) {
  long long j0 = s < 0 ? 0 : s, j1 = s + (long long)L;
  if (e < j1) j1 = e;
  if (j1 > (long long)n) j1 = (long long)n;
  for (long long j = j0; j < j1; j++) {
    double v = alpha * a[j - s];
    x[j] -= v;
    if (noise) noise[j] += v;
  }
}
