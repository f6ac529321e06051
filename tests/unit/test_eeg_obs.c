/* Optimal basis set removal (specs/eeg.md section 3d, MATLAB FitOBS semantics, decision 1:
 * the projection onto the kept components is subtracted): a residual made of k known
 * waveforms with per-epoch amplitudes is removed, the 'auto' rule on known spectra, the noise
 * estimate takes what the channel loses, overlapping epochs are assigned once, the same bytes
 * twice, bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/eeg_obs.h"
#include "kernels/eeg_obs_impl.h"
#include "sf_cunit.h"
#include "sf_error.h"

#ifndef SF_EEG_FIRLS_REF
#define SF_EEG_FIRLS_REF "eeg_firls_ref.py"
#endif

static double rnd(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Reference eigenvalues by cyclic Jacobi (a different algorithm), ascending afterwards. */
static void jacobi_values(double *a, size_t s, double *out) {
  for (int sweep = 0; sweep < 60; sweep++) {
    double off = 0;
    for (size_t p = 0; p < s; p++)
      for (size_t q = p + 1; q < s; q++)
        off += a[p * s + q] * a[p * s + q];
    if (off < 1e-300) break;
    for (size_t p = 0; p + 1 < s; p++)
      for (size_t q = p + 1; q < s; q++) {
        double apq = a[p * s + q];
        if (apq == 0) continue;
        double th = (a[q * s + q] - a[p * s + p]) / (2 * apq);
        double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1)), c = 1 / sqrt(t * t + 1);
        double sn = t * c;
        for (size_t k = 0; k < s; k++) { /* columns */
          double x = a[k * s + p], y = a[k * s + q];
          a[k * s + p] = c * x - sn * y, a[k * s + q] = sn * x + c * y;
        }
        for (size_t k = 0; k < s; k++) { /* rows */
          double x = a[p * s + k], y = a[q * s + k];
          a[p * s + k] = c * x - sn * y, a[q * s + k] = sn * x + c * y;
        }
      }
  }
  for (size_t i = 0; i < s; i++)
    out[i] = a[i * s + i];
  for (size_t i = 1; i < s; i++) /* descending */
    for (size_t j = i; j > 0 && out[j - 1] < out[j]; j--) {
      double tmp = out[j];
      out[j] = out[j - 1], out[j - 1] = tmp;
    }
}

static void check_eig(const double *A, size_t s, size_t k) {
  double *a = malloc(s * s * sizeof(double)), *b = malloc(s * s * sizeof(double));
  double *lam = malloc(s * sizeof(double)), *ref = malloc(s * sizeof(double));
  double *vec = malloc((k ? k : 1) * s * sizeof(double)), *work = malloc(9 * s * sizeof(double));
  memcpy(a, A, s * s * sizeof(double));
  memcpy(b, A, s * s * sizeof(double));
  sf_obs_sym_eig(a, s, k, lam, vec, work);
  jacobi_values(b, s, ref);
  double scale = fmax(fabs(ref[0]), fabs(ref[s - 1])), err = 0, res = 0, orth = 0;
  for (size_t i = 0; i < s; i++)
    err = fmax(err, fabs(lam[i] - ref[i]));
  for (size_t q = 0; q < k; q++) {
    const double *v = vec + q * s;
    for (size_t i = 0; i < s; i++) {
      double acc = -lam[q] * v[i];
      for (size_t j = 0; j < s; j++)
        acc += A[i * s + j] * v[j];
      res = fmax(res, fabs(acc));
    }
    for (size_t r = 0; r <= q; r++) {
      double d = 0;
      for (size_t i = 0; i < s; i++)
        d += v[i] * vec[r * s + i];
      orth = fmax(orth, fabs(d - (r == q ? 1.0 : 0.0)));
    }
  }
  CU_ASSERT(err <= 1e-12 * scale * (double)s);
  CU_ASSERT(res <= 1e-11 * scale * (double)s);
  CU_ASSERT(orth <= 1e-10);
  if (!(err <= 1e-12 * scale * (double)s) || !(res <= 1e-11 * scale * (double)s) ||
      !(orth <= 1e-10))
    printf("\n  eig s %zu k %zu: value error %g, residual %g, orthogonality %g (scale %g)", s, k,
           err, res, orth, scale);
  free(a), free(b), free(lam), free(ref), free(vec), free(work);
}

static void test_eigen_solver(void) {
  unsigned long long st = 3;
  const size_t sizes[] = {1, 2, 3, 4, 7, 30, 120};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    size_t s = sizes[si];
    double *A = malloc(s * s * sizeof(double)), *X = malloc(s * 3 * sizeof(double));
    /* A random symmetric matrix. */
    for (size_t i = 0; i < s; i++)
      for (size_t j = 0; j <= i; j++)
        A[i * s + j] = A[j * s + i] = rnd(&st);
    check_eig(A, s, s < 6 ? s : 6);
    /* A Gram matrix of rank min(s, 3) with spread eigenvalues (PSD, zeros repeated). */
    for (size_t i = 0; i < s; i++)
      for (int r = 0; r < 3; r++)
        X[i * 3 + (size_t)r] = rnd(&st) * pow(10.0, -r);
    for (size_t i = 0; i < s; i++)
      for (size_t j = 0; j < s; j++) {
        double acc = 0;
        for (size_t r = 0; r < 3; r++)
          acc += X[i * 3 + r] * X[j * 3 + r];
        A[i * s + j] = acc;
      }
    check_eig(A, s, s < 3 ? s : 3);
    /* Already diagonal, with a repeated eigenvalue. */
    for (size_t i = 0; i < s * s; i++)
      A[i] = 0;
    for (size_t i = 0; i < s; i++)
      A[i * s + i] = (double)(i % 3);
    check_eig(A, s, 1);
    free(A), free(X);
  }
}

static void test_auto_rule(void) {
  /* slope: |diff| < 2 first at positions 5, 6, 7 -> 4; cumvar: 30+25+20+10 > 80 at 4; varexp:
   * first < 5 at 6 -> 5; floor(13/3) = 4. */
  const double a[] = {30, 25, 20, 10, 5, 4, 3, 1.5, 0.8, 0.4, 0.3};
  CU_ASSERT_EQUAL(sf_obs_auto_k(a, 11), 4);
  /* slope 4, cumvar 3 (35+30+20 = 85), varexp 4: floor(11/3) = 3. */
  const double b[] = {35, 30, 20, 8, 3, 2, 1, 0.6, 0.3, 0.1};
  CU_ASSERT_EQUAL(sf_obs_auto_k(b, 10), 3);
  /* One dominant component: slope 1 (diffs from position 2 on are small), cumvar 1, varexp 1. */
  const double c[] = {90, 3, 2, 1.5, 1, 0.8, 0.7, 0.5, 0.5};
  CU_ASSERT_EQUAL(sf_obs_auto_k(c, 9), 1);
  /* Flat spectrum of 5: slope 0, cumvar 5 (cumulative 100 > 80 first at 5), varexp 5 (never
   * below 5 -> s): floor(10/3) = 3. */
  const double d[] = {20, 20, 20, 20, 20};
  CU_ASSERT_EQUAL(sf_obs_auto_k(d, 5), 3);
  const double e[] = {100};
  CU_ASSERT_EQUAL(sf_obs_auto_k(e, 1), 1);
}

/* x = clean + sum_q amp[i][q] w_q over each epoch; clean = slow sine + small noise. */
typedef struct {
  size_t n, nt, L;
  long off;
  long long *t;
  double *x, *clean, *art;
} obs_case;

static void make_case(obs_case *c, size_t nt, size_t spacing, size_t L, long off, int k,
                      double noise_amp, unsigned long long seed) {
  c->nt = nt, c->L = L, c->off = off;
  c->n = spacing * (nt + 4);
  c->t = malloc(nt * sizeof(long long));
  c->x = calloc(c->n, sizeof(double));
  c->clean = calloc(c->n, sizeof(double));
  c->art = calloc(c->n, sizeof(double));
  unsigned long long s = seed;
  for (size_t i = 0; i < nt; i++)
    c->t[i] = (long long)(spacing * (i + 2));
  for (size_t j = 0; j < c->n; j++)
    c->clean[j] = 20 * sin(2 * M_PI * 3.0 * (double)j / 5000.0) + noise_amp * rnd(&s);
  for (size_t i = 0; i < nt; i++) {
    double amp[4];
    for (int q = 0; q < k; q++)
      amp[q] = (q == 0 ? 100.0 : 40.0) * (1.0 + 0.5 * rnd(&s));
    for (size_t j = 0; j < L; j++) {
      long long g = c->t[i] + off + (long long)j;
      if (g < 0 || g >= (long long)c->n) continue;
      double v = 0.0, ph = 2 * M_PI * (double)j / (double)L;
      for (int q = 0; q < k; q++)
        v += amp[q] * sin((double)(6 + 5 * q) * ph + 0.4 * q);
      c->art[g] = v; /* assigned: the last epoch covering g */
    }
  }
  for (size_t j = 0; j < c->n; j++)
    c->x[j] = c->clean[j] + c->art[j];
}

static void free_case(obs_case *c) { free(c->t), free(c->x), free(c->clean), free(c->art); }

static double rms_err(const obs_case *c, const double *y, size_t a, size_t b, double *ref) {
  double e = 0, r = 0;
  for (size_t j = a; j < b; j++) {
    e += (y[j] - c->clean[j]) * (y[j] - c->clean[j]);
    r += c->art[j] * c->art[j];
  }
  *ref = sqrt(r / (double)(b - a));
  return sqrt(e / (double)(b - a));
}

static void test_removes_k_waveforms(void) {
  for (int k = 1; k <= 3; k++) {
    obs_case c;
    make_case(&c, 120, 100, 100, 0, k, 0.5, 17 + (unsigned long long)k);
    double *x0 = malloc(c.n * sizeof(double)), *noise = calloc(c.n, sizeof(double));
    memcpy(x0, c.x, c.n * sizeof(double));
    int used = -1;
    CU_ASSERT_EQUAL(sf_obs_apply(c.x, noise, c.n, c.t, c.nt, c.off, c.L, k, 70, 5000, &used), 0);
    CU_ASSERT_EQUAL(used, k);
    double ref, err = rms_err(&c, c.x, (size_t)c.t[0], (size_t)c.t[c.nt - 1] + c.L, &ref);
    printf("\n  k %d: residual RMS %.3g of artifact RMS %.3g", k, err, ref);
    CU_ASSERT(err < 0.02 * ref);
    double moved = 0;
    for (size_t j = 0; j < c.n; j++)
      moved = fmax(moved, fabs(x0[j] - c.x[j] - noise[j]));
    CU_ASSERT(moved < 1e-9);
    /* Outside the epochs nothing changes. */
    for (size_t j = 0; j < (size_t)c.t[0]; j++)
      CU_ASSERT(c.x[j] == x0[j]);
    /* Fewer components than the residual has: clearly worse. */
    if (k > 1) {
      double *y = malloc(c.n * sizeof(double));
      memcpy(y, x0, c.n * sizeof(double));
      CU_ASSERT_EQUAL(sf_obs_apply(y, NULL, c.n, c.t, c.nt, c.off, c.L, k - 1, 70, 5000, &used), 0);
      double ref2, err2 = rms_err(&c, y, (size_t)c.t[0], (size_t)c.t[c.nt - 1] + c.L, &ref2);
      CU_ASSERT(err2 > 5 * err);
      free(y);
    }
    free(x0), free(noise);
    free_case(&c);
  }
}

/* More PCA epochs than samples per epoch (the L x L covariance path), 'auto', epochs clipped
 * at the ends, overlapping epochs (negative offset), and the same bytes twice. */
static void test_auto_overlap_deterministic(void) {
  obs_case c;
  make_case(&c, 200, 40, 60, -10, 2, 0.2, 99);
  c.t[0] = 5; /* the first epoch starts before sample 0 */
  double *x1 = malloc(c.n * sizeof(double)), *n1 = calloc(c.n, sizeof(double));
  double *n2 = calloc(c.n, sizeof(double));
  memcpy(x1, c.x, c.n * sizeof(double));
  int used = -1, used2 = -1;
  CU_ASSERT_EQUAL(sf_obs_apply(x1, n1, c.n, c.t, c.nt, c.off, c.L, 0, 300, 20000, &used), 0);
  CU_ASSERT(used >= 1 && used <= 60);
  printf("\n  auto k %d", used);
  for (size_t j = 0; j < c.n; j++)
    CU_ASSERT(fabs(c.x[j] - x1[j] - n1[j]) < 1e-9);
  memcpy(n2, c.x, c.n * sizeof(double));
  double *z = calloc(c.n, sizeof(double));
  CU_ASSERT_EQUAL(sf_obs_apply(n2, z, c.n, c.t, c.nt, c.off, c.L, 0, 300, 20000, &used2), 0);
  CU_ASSERT_EQUAL(used, used2);
  CU_ASSERT(memcmp(n2, x1, c.n * sizeof(double)) == 0);
  CU_ASSERT(memcmp(z, n1, c.n * sizeof(double)) == 0);
  free(x1), free(n1), free(n2), free(z);
  free_case(&c);
}

/* An artifact-free channel (pure high-frequency noise, no epoch structure): k components take
 * about k/L of the in-epoch power, no more. */
/* The same OBS written out with numpy over scipy's firls and filtfilt (eeg_firls_ref.py obs:
 * eigh of the epochs x epochs Gram matrix, pinv of the rescaled PCs, whatever the shape). */
static void check_obs_numpy(size_t nt, size_t spacing, size_t L, long off, int k, int kgen,
                            double hp, double fs) {
  obs_case c;
  make_case(&c, nt, spacing, L, off, kgen, 0.5, 123);
  char path[] = "/tmp/sf_eeg_obs_XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  fprintf(fp, "%.17g %.17g %d %ld %zu %zu %zu\n", fs, hp, k, off, L, nt, c.n);
  for (size_t i = 0; i < nt; i++)
    fprintf(fp, "%lld\n", c.t[i]);
  for (size_t i = 0; i < c.n; i++)
    fprintf(fp, "%.17g\n", c.x[i]);
  fclose(fp);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s obs %s 2>/dev/null", SF_EEG_FIRLS_REF, path);
  FILE *p = popen(cmd, "r");
  size_t nr = 0;
  double *ref = NULL;
  int ok = p && fscanf(p, "%zu", &nr) == 1 && nr == c.n + 1 && (ref = malloc(nr * sizeof(double)));
  for (size_t i = 0; ok && i < nr; i++)
    ok = fscanf(p, "%lf", &ref[i]) == 1;
  int rc = p ? pclose(p) : -1;
  unlink(path);
  if (!ok || rc != 0) {
    printf("\n  skipped: /usr/bin/python3 with numpy and scipy is unavailable (%s)", cmd);
  } else {
    int used = -1;
    CU_ASSERT_EQUAL(sf_obs_apply(c.x, NULL, c.n, c.t, nt, off, L, k, hp, fs, &used), 0);
    CU_ASSERT_EQUAL(used, (int)ref[0]);
    double err = 0, mx = 0;
    for (size_t i = 0; i < c.n; i++)
      err = fmax(err, fabs(c.x[i] - ref[1 + i])), mx = fmax(mx, fabs(ref[1 + i]));
    CU_ASSERT(err <= 1e-9 * mx);
    printf("\n  nt %zu L %zu off %ld k %d (used %d, numpy %d): max difference %.3g (max %.3g)", nt,
           L, off, k, used, (int)ref[0], err, mx);
  }
  free(ref);
  free_case(&c);
}

static void test_obs_numpy(void) {
  check_obs_numpy(120, 100, 100, 0, 2, 2, 70, 5000);   /* Gram path: 59 epochs < L */
  check_obs_numpy(120, 100, 100, 0, 0, 3, 70, 5000);   /* auto */
  check_obs_numpy(200, 40, 30, -5, 3, 2, 300, 20000);  /* covariance path: 99 epochs > L */
  check_obs_numpy(200, 40, 60, -10, 4, 3, 300, 20000); /* overlapping epochs */
}

static void test_projection_size(void) {
  size_t nt = 100, L = 50, n = 50 * 104;
  long long *t = malloc(nt * sizeof(long long));
  for (size_t i = 0; i < nt; i++)
    t[i] = (long long)(50 * (i + 2));
  double *x = malloc(n * sizeof(double)), *x0 = malloc(n * sizeof(double));
  unsigned long long s = 5;
  for (size_t j = 0; j < n; j++)
    x[j] = rnd(&s);
  memcpy(x0, x, n * sizeof(double));
  int used = 0;
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, n, t, nt, 0, L, 3, 70, 5000, &used), 0);
  double pr = 0, p0 = 0;
  for (size_t j = (size_t)t[0]; j < (size_t)t[nt - 1] + L; j++)
    pr += (x0[j] - x[j]) * (x0[j] - x[j]), p0 += x0[j] * x0[j];
  CU_ASSERT(pr / p0 < 0.2);
  free(t), free(x), free(x0);
}

/* One plan, a workspace per thread, a channel per iteration: the same bytes as one thread. */
static void test_threads_same_bytes(void) {
  enum { NCH = 6 };
  obs_case c[NCH];
  double *serial[NCH];
  for (int ch = 0; ch < NCH; ch++) {
    make_case(&c[ch], 150, 100, 100, -3, 2, 0.5, 40 + (unsigned long long)ch);
    serial[ch] = malloc(c[ch].n * sizeof(double));
    memcpy(serial[ch], c[ch].x, c[ch].n * sizeof(double));
  }
  sf_obs *o = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_obs_create(70, 5000, &o), 0);
  sf_obs_ws *w1 = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_obs_ws_create(o, c[0].n, 150, 100, &w1), 0);
  for (int ch = 0; ch < NCH; ch++)
    CU_ASSERT_EQUAL(
        sf_obs_execute(o, serial[ch], NULL, c[ch].n, c[ch].t, 150, -3, 100, 0, NULL, w1), 0);
  sf_obs_ws_destroy(&w1);
  int bad = 0;
#pragma omp parallel num_threads(3) reduction(+ : bad)
  {
    sf_obs_ws *w = NULL;
    if (sf_obs_ws_create(o, c[0].n, 150, 100, &w) != 0) bad++;
#pragma omp for schedule(dynamic, 1)
    for (int ch = 0; ch < NCH; ch++)
      if (!w || sf_obs_execute(o, c[ch].x, NULL, c[ch].n, c[ch].t, 150, -3, 100, 0, NULL, w) != 0)
        bad++;
    sf_obs_ws_destroy(&w);
  }
  CU_ASSERT_EQUAL(bad, 0);
  for (int ch = 0; ch < NCH; ch++) {
    CU_ASSERT(memcmp(serial[ch], c[ch].x, c[ch].n * sizeof(double)) == 0);
    free(serial[ch]);
    free_case(&c[ch]);
  }
  sf_obs_destroy(&o);
}

static void test_bad_input(void) {
  double x[1000] = {0};
  long long t[5] = {100, 200, 300, 400, 500}, bad[3] = {300, 200, 400};
  int used = 7;
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, 1000, t, 5, 0, 100, -1, 70, 5000, &used), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(used, 0);
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, 1000, bad, 3, 0, 100, 1, 70, 5000, &used), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, 1000, t, 2, 0, 100, 1, 70, 5000, &used), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, 1000, t, 5, 0, 100, 1, 10, 5000, &used), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, 1000, t, 5, 0, 100, 1, 2495, 5000, &used), SF_ERR_INPUT);
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, 1000, t, 5, 5000, 100, 1, 70, 5000, &used), SF_ERR_INPUT);
  /* All zero: nothing varies, nothing fitted. */
  CU_ASSERT_EQUAL(sf_obs_apply(x, NULL, 1000, t, 5, 0, 100, 1, 70, 5000, &used), 0);
  CU_ASSERT_EQUAL(used, 0);
  sf_obs *o = NULL;
  CU_ASSERT_EQUAL(sf_obs_create(70, 5000, &o), 0);
  CU_ASSERT_EQUAL(sf_obs_ntaps(o), 101); /* order round(6000 / 60) = 100 */
  sf_obs_destroy(&o);
  CU_ASSERT_PTR_NULL(o);
  CU_ASSERT_EQUAL(sf_obs_create(300, 20480, &o), 0);
  CU_ASSERT_EQUAL(sf_obs_ntaps(o), 87); /* order round(24576 / 290) = 85, made even: 86 */
  sf_obs_destroy(&o);
  sf_obs_destroy(NULL);
  sf_obs_ws_destroy(NULL);
}

int main(void) {
  const sf_test tests[] = {{"eigen-solver against Jacobi", test_eigen_solver},
                           {"auto rule on known spectra", test_auto_rule},
                           {"k known waveforms removed", test_removes_k_waveforms},
                           {"auto, overlap, clipping, same bytes", test_auto_overlap_deterministic},
                           {"equals the numpy reference", test_obs_numpy},
                           {"projection of plain noise is small", test_projection_size},
                           {"threads give the same bytes", test_threads_same_bytes},
                           {"bad input", test_bad_input},
                           {NULL, NULL}};
  return sf_cunit_run("eeg_obs", tests);
}
