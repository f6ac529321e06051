/* CUnit tests of the slices kernels against known answers: the spec's context index maps,
 * numpy's legacy permutation, pooled moments, float keys, the normalised stack. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/slice_ops.h"
#include "sf_cunit.h"

static void test_pad_table(void) {
  /* spec B5.30: k = 2, D = 4, centres 0 and 3, offsets -2..+2 (-1: a zero channel) */
  static const long want[4][2][5] = {
      {{-1, -1, 0, 1, 2}, {1, 2, 3, -1, -1}}, /* zero */
      {{0, 0, 0, 1, 2}, {1, 2, 3, 3, 3}},     /* replicate */
      {{2, 1, 0, 1, 2}, {1, 2, 3, 2, 1}},     /* reflect */
      {{1, 0, 0, 1, 2}, {1, 2, 3, 3, 2}},     /* symmetric */
  };
  for (int m = 0; m < 4; m++)
    for (int c = 0; c < 2; c++)
      for (int o = -2; o <= 2; o++) {
        long t = c ? 3 : 0;
        CU_ASSERT_EQUAL(sf_pad_index((sf_pad_mode)m, t + o, 4), want[m][c][o + 2]);
      }
}

static void test_pad_thin(void) {
  /* volumes thinner than the window: every index stays inside [0, d) (or is zero) */
  for (int m = 0; m < 4; m++)
    for (long d = 1; d < 4; d++)
      for (long u = -6; u < d + 6; u++) {
        long s = sf_pad_index((sf_pad_mode)m, u, d);
        if (m == SF_PAD_ZERO && (u < 0 || u >= d)) {
          CU_ASSERT_EQUAL(s, -1);
        } else {
          CU_ASSERT(s >= 0 && s < d);
        }
      }
  CU_ASSERT_EQUAL(sf_pad_index(SF_PAD_REFLECT, -1, 1), 0);
  CU_ASSERT_EQUAL(sf_pad_index(SF_PAD_REFLECT, -2, 2), 1); /* mirrored to 2, clamped */
  CU_ASSERT_EQUAL(sf_pad_index(SF_PAD_SYMMETRIC, 2, 2), 1);
}

static void test_numpy_permutation(void) {
  /* np.random.seed(42); np.random.permutation(10) (spec B1.10) */
  static const size_t want[10] = {8, 1, 5, 0, 7, 2, 9, 4, 3, 6};
  size_t p[10];
  sf_numpy_permutation(42, 10, p);
  for (int i = 0; i < 10; i++) CU_ASSERT_EQUAL(p[i], want[i]);
  /* a permutation for every n */
  for (size_t n = 0; n < 300; n += 7) {
    size_t *q = malloc((n + 1) * sizeof *q);
    int *seen = calloc(n + 1, sizeof *seen);
    sf_numpy_permutation(7, n, q);
    for (size_t i = 0; i < n; i++) seen[q[i]]++;
    for (size_t i = 0; i < n; i++) CU_ASSERT_EQUAL(seen[i], 1);
    free(q);
    free(seen);
  }
}

static void test_moments(void) {
  /* pooled parts equal the moments of the whole, for clipped values and the above-min set */
  enum { N = 1000 };
  float x[N];
  unsigned s = 1;
  for (int i = 0; i < N; i++) {
    s = s * 1103515245u + 12345u;
    x[i] = (float)((s >> 8) % 2000) * 0.25f - 100.0f;
  }
  double lo = -50, hi = 300;
  sf_moments all, above, pa = {0, 0, 0}, pb = {0, 0, 0};
  sf_moments_clamped(x, N, lo, hi, lo, &all, &above);
  for (int part = 0; part < N; part += 137) {
    int n = part + 137 <= N ? 137 : N - part;
    sf_moments a, b;
    sf_moments_clamped(x + part, (size_t)n, lo, hi, lo, &a, &b);
    sf_moments_merge(&pa, &a);
    sf_moments_merge(&pb, &b);
  }
  double sum = 0, sq = 0, n_ab = 0, s_ab = 0, q_ab = 0;
  for (int i = 0; i < N; i++) sum += fmin(fmax(x[i], lo), hi);
  double mean = sum / N;
  for (int i = 0; i < N; i++) {
    double v = fmin(fmax(x[i], lo), hi);
    sq += (v - mean) * (v - mean);
    if (v > lo) { n_ab++; s_ab += v; }
  }
  double m_ab = s_ab / n_ab;
  for (int i = 0; i < N; i++) {
    double v = fmin(fmax(x[i], lo), hi);
    if (v > lo) q_ab += (v - m_ab) * (v - m_ab);
  }
  CU_ASSERT_EQUAL(all.n, N);
  CU_ASSERT_DOUBLE_EQUAL(all.mean, mean, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(all.m2, sq, 1e-6);
  CU_ASSERT_EQUAL(pa.n, N);
  CU_ASSERT_DOUBLE_EQUAL(pa.mean, mean, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(pa.m2 / sq, 1.0, 1e-12);
  CU_ASSERT_EQUAL(above.n, n_ab);
  CU_ASSERT_EQUAL(pb.n, n_ab);
  CU_ASSERT_DOUBLE_EQUAL(pb.mean, m_ab, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(pb.m2 / q_ab, 1.0, 1e-12);
}

static void test_float_key(void) {
  const float v[] = {-INFINITY, -3e38f, -1.5f, -1e-40f, -0.0f, 0.0f, 1e-40f, 1.0f, 2.5f, 3e38f, INFINITY};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    uint32_t k = sf_float_key(v[i]);
    float back = sf_float_from_key(k);
    CU_ASSERT(memcmp(&back, &v[i], 4) == 0);
    if (i) {
      CU_ASSERT(sf_float_key(v[i - 1]) < k);
    }
  }
}

static void test_stack(void) {
  float a[4] = {-10, 0, 5, 100}, b[4] = {1, 2, 3, 4}, out[12];
  const float *src[3] = {a, NULL, b};
  sf_slice_stack(src, 3, 4, -5, 50, 1, 2.0, 4.0, out);
  const float want[12] = {-1.75f, -0.5f, 0.75f, 12.0f, 0, 0, 0, 0, -0.25f, 0.0f, 0.25f, 0.5f};
  for (int i = 0; i < 12; i++) CU_ASSERT_EQUAL(out[i], want[i]);
  sf_slice_stack(src, 3, 4, -INFINITY, INFINITY, 0, 0, 1, out);
  CU_ASSERT_EQUAL(out[0], -10.0f);
  CU_ASSERT_EQUAL(out[3], 100.0f);
  CU_ASSERT_EQUAL(out[4], 0.0f);
}

int main(void) {
  static const sf_test tests[] = {
      {"context index maps (spec B5.30)", test_pad_table},
      {"context of volumes thinner than the window", test_pad_thin},
      {"numpy legacy permutation (seed 42)", test_numpy_permutation},
      {"moments pool exactly, clipped and above-min", test_moments},
      {"float keys keep order and round-trip", test_float_key},
      {"normalised stack with zero channels", test_stack},
      {NULL, NULL}};
  return sf_cunit_run("slice_ops", tests);
}
