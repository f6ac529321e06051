/* Exact 5x5 median with "mirror" boundary (spec register.md §1.4 item 22), vectorised as a
 * comparator network applied element-wise across runs of consecutive pixels. */
#include "kernels/flow_median.h"

#include <string.h>

#include "kernels/flow_hd.h"

/* Pixels per network pass. The network is straight-line code on arrays of MED_V floats, so
 * gcc keeps them in vector registers (a table-driven loop over the same network with its
 * values in memory was 2.8 times slower). */
#define MED_V 8

size_t sf_median5_scratch(size_t h, size_t w) { return (h + 4) * (w + 4) + 5 * (w + 4 + MED_V); }

/* Mirror without repeating the edge sample; for n >= 3 one reflection covers -2 .. n+1 (the
 * body the device shares, flow_hd.h). */
static size_t mirror(long i, long n) { return sf_hd_mirror(i, n); }

#define CE(x, y)                                                                                   \
  do {                                                                                             \
    float lo_ = x < y ? x : y, hi_ = x < y ? y : x;                                                \
    x = lo_;                                                                                       \
    y = hi_;                                                                                       \
  } while (0)

/* s[r*ss + x] = rank r of the five values p0[x] .. p4[x] (optimal 9-comparator network). */
static void sort_columns(const float *restrict p0, const float *restrict p1,
                         const float *restrict p2, const float *restrict p3,
                         const float *restrict p4, size_t n, float *restrict s, size_t ss) {
  float *restrict s0 = s, *restrict s1 = s + ss, *restrict s2 = s + 2 * ss,
                  *restrict s3 = s + 3 * ss, *restrict s4 = s + 4 * ss;
  for (size_t x = 0; x < n; x++) {
    float a0 = p0[x], a1 = p1[x], a2 = p2[x], a3 = p3[x], a4 = p4[x];
    CE(a0, a1);
    CE(a2, a3);
    CE(a0, a2);
    CE(a1, a3);
    CE(a1, a2);
    CE(a0, a4);
    CE(a2, a4);
    CE(a1, a2);
    CE(a3, a4);
    s0[x] = a0;
    s1[x] = a1;
    s2[x] = a2;
    s3[x] = a3;
    s4[x] = a4;
  }
}

#define MN(d, a, b)                                                                                \
  for (int l_ = 0; l_ < MED_V; l_++)                                                               \
  d[l_] = a[l_] < b[l_] ? a[l_] : b[l_]
#define MX(d, a, b)                                                                                \
  for (int l_ = 0; l_ < MED_V; l_++)                                                               \
  d[l_] = a[l_] > b[l_] ? a[l_] : b[l_]

/* res[l] = median of the 5x5 window whose columns are the sorted columns l .. l+4 of s (row
 * r of s holds rank r, row stride ss), for l = 0 .. MED_V-1. Input icr is rank r of column c.
 *
 * The network (112 min/max operations): sort the five rows of the 5x5 rank matrix (which
 * keeps its columns sorted); the element at rank k, position i then has at least (k+1)(i+1)
 * values <= it and (5-k)(5-i) values >= it, which discards 6 values on each side and leaves
 * 13 candidates whose 7th is the median of 25; their row pieces are combined by Batcher
 * odd-even merges. Comparators whose outcome is implied by the sorted inputs, and every
 * result not feeding the median, were removed mechanically; the network was checked
 * exhaustively on all 6^5 zero-one inputs with sorted columns (0-1 principle), and the unit
 * test checks the whole filter against sorting. */
static void median_run(const float *s, size_t ss, float *restrict res) {
  const float *restrict i00 = s + 0 * ss + 0;
  const float *restrict i01 = s + 1 * ss + 0;
  const float *restrict i02 = s + 2 * ss + 0;
  const float *restrict i03 = s + 3 * ss + 0;
  const float *restrict i04 = s + 4 * ss + 0;
  const float *restrict i10 = s + 0 * ss + 1;
  const float *restrict i11 = s + 1 * ss + 1;
  const float *restrict i12 = s + 2 * ss + 1;
  const float *restrict i13 = s + 3 * ss + 1;
  const float *restrict i14 = s + 4 * ss + 1;
  const float *restrict i20 = s + 0 * ss + 2;
  const float *restrict i21 = s + 1 * ss + 2;
  const float *restrict i22 = s + 2 * ss + 2;
  const float *restrict i23 = s + 3 * ss + 2;
  const float *restrict i24 = s + 4 * ss + 2;
  const float *restrict i30 = s + 0 * ss + 3;
  const float *restrict i31 = s + 1 * ss + 3;
  const float *restrict i32 = s + 2 * ss + 3;
  const float *restrict i33 = s + 3 * ss + 3;
  const float *restrict i34 = s + 4 * ss + 3;
  const float *restrict i40 = s + 0 * ss + 4;
  const float *restrict i41 = s + 1 * ss + 4;
  const float *restrict i42 = s + 2 * ss + 4;
  const float *restrict i43 = s + 3 * ss + 4;
  const float *restrict i44 = s + 4 * ss + 4;
  float t0[MED_V], t1[MED_V], t2[MED_V], t3[MED_V], t4[MED_V], t5[MED_V], t6[MED_V], t7[MED_V],
      t8[MED_V], t9[MED_V], t10[MED_V], t11[MED_V], t12[MED_V], t13[MED_V], t14[MED_V], t15[MED_V],
      t16[MED_V];
  MN(t0, i00, i10);
  MX(t1, i00, i10);
  MN(t2, i20, i30);
  MX(t3, i20, i30);
  MN(t4, t0, t2);
  MX(t5, t0, t2);
  MN(t2, t1, t3);
  MX(t0, t1, t3);
  MX(t3, t5, t2);
  MX(t2, i40, t4);
  MX(t4, t3, t2);
  MN(t2, t0, t4);
  MX(t3, t0, t4);
  MN(t4, i01, i11);
  MX(t0, i01, i11);
  MN(t5, i21, i31);
  MX(t1, i21, i31);
  MN(t6, t4, t5);
  MX(t7, t4, t5);
  MN(t5, t0, t1);
  MX(t4, t0, t1);
  MN(t1, t7, t5);
  MX(t0, t7, t5);
  MX(t5, i41, t6);
  MN(t6, t0, t5);
  MX(t7, t0, t5);
  MX(t5, t1, t6);
  MN(t6, t4, t7);
  MX(t1, t4, t7);
  MN(t7, i02, i12);
  MX(t4, i02, i12);
  MN(t0, i22, i32);
  MX(t8, i22, i32);
  MN(t9, t7, t0);
  MX(t10, t7, t0);
  MN(t0, t4, t8);
  MX(t7, t4, t8);
  MN(t8, t10, t0);
  MX(t4, t10, t0);
  MX(t0, i42, t9);
  MN(t9, t4, t0);
  MX(t10, t4, t0);
  MN(t0, t8, t9);
  MX(t4, t8, t9);
  MN(t9, t7, t10);
  MN(t10, i03, i13);
  MX(t7, i03, i13);
  MN(t8, i23, i33);
  MX(t11, i23, i33);
  MN(t12, t10, t8);
  MX(t13, t10, t8);
  MN(t8, t7, t11);
  MN(t11, t13, t8);
  MX(t7, t13, t8);
  MN(t8, i43, t12);
  MX(t13, i43, t12);
  MN(t12, t7, t13);
  MN(t13, t11, t12);
  MX(t7, t11, t12);
  MN(t12, i04, i14);
  MX(t11, i04, i14);
  MN(t10, i24, i34);
  MX(t14, i24, i34);
  MN(t15, t12, t10);
  MX(t16, t12, t10);
  MN(t10, t11, t14);
  MN(t14, t16, t10);
  MX(t11, t16, t10);
  MN(t10, i44, t15);
  MX(t16, i44, t15);
  MN(t15, t11, t16);
  MN(t16, t14, t15);
  MN(t15, t2, t5);
  MX(t14, t2, t5);
  MN(t5, t3, t6);
  MX(t2, t3, t6);
  MN(t6, t14, t5);
  MX(t3, t14, t5);
  MN(t5, t7, t10);
  MX(t14, t7, t10);
  MN(t10, t13, t5);
  MX(t7, t13, t5);
  MN(t5, t16, t14);
  MX(t13, t16, t14);
  MN(t14, t0, t15);
  MX(t16, t0, t15);
  MN(t15, t1, t16);
  MX(t0, t1, t16);
  MN(t16, t3, t15);
  MX(t1, t3, t15);
  MN(t15, t9, t0);
  MN(t0, t4, t6);
  MX(t9, t4, t6);
  MN(t6, t2, t9);
  MX(t4, t2, t9);
  MN(t9, t16, t0);
  MX(t2, t16, t0);
  MN(t0, t1, t6);
  MX(t16, t1, t6);
  MN(t6, t15, t4);
  MX(t1, t15, t4);
  MX(t4, t8, t14);
  MN(t14, t13, t16);
  MX(t16, t4, t14);
  MX(t14, t7, t2);
  MN(t2, t1, t14);
  MN(t14, t16, t2);
  MX(t2, t10, t9);
  MN(t9, t6, t2);
  MN(t2, t5, t0);
  MX(t0, t9, t2);
  MX(res, t14, t0);
}

void sf_median5(const float *in, size_t in_stride, size_t h, size_t w, float *out,
                size_t out_stride, float *scratch) {
  const size_t pw = w + 4, spw = pw + MED_V;
  float *pad = scratch, *srt = scratch + (h + 4) * pw;
  /* Mirror-padded copy: 2 samples each side. */
  for (size_t py = 0; py < h + 4; py++) {
    const float *src = in + mirror((long)py - 2, (long)h) * in_stride;
    float *d = pad + py * pw;
    memcpy(d + 2, src, sizeof(float) * w);
    d[0] = src[2];
    d[1] = src[1];
    d[w + 2] = src[w - 2];
    d[w + 3] = src[w - 3];
  }
  /* The last run may read past the sorted columns; those lanes are discarded. */
  for (int r = 0; r < 5; r++)
    memset(srt + (size_t)r * spw + pw, 0, sizeof(float) * MED_V);
  for (size_t y = 0; y < h; y++) {
    const float *p = pad + y * pw;
    sort_columns(p, p + pw, p + 2 * pw, p + 3 * pw, p + 4 * pw, pw, srt, spw);
    float *orow = out + y * out_stride;
    size_t x0 = 0;
    for (; x0 + MED_V <= w; x0 += MED_V)
      median_run(srt + x0, spw, orow + x0);
    if (x0 < w) {
      float tail[MED_V];
      median_run(srt + x0, spw, tail);
      memcpy(orow + x0, tail, sizeof(float) * (w - x0));
    }
  }
}
