/* Motion tensors of the flow solver's data terms (spec register.md §1.5), float32. The
 * formulas are written once and compiled for a scalar and for 4, 8 and 16 lanes (GCC vector
 * types, no contraction), so every width gives the same bytes. */
#include <string.h>

#include "kernels/flow_solver_impl.h"

size_t sf_tensor_scratch(size_t h, size_t w) { return h * w; }

static void zero_frame(float *a, size_t h, size_t w) {
  const size_t S = w + 2;
  memset(a, 0, S * sizeof *a);
  memset(a + (h + 1) * S, 0, S * sizeof *a);
  for (size_t i = 1; i <= h; i++) a[i * S] = a[i * S + w + 1] = 0.0f;
}

/* The tensor formulas are written once, for a scalar or a GCC vector type T (element-wise
 * IEEE operations, no contraction), so that every width gives the same bytes. Inputs are
 * the sym-padded neighbours: a* of f1, b* of f2 (l, 0, r: columns; u, d: rows), fxu, fxd
 * the averaged x-derivative in the rows above and below. */
#define GC_FORMULA(T, al, a0, ar, au, ad, bl, b0, br, bu, bd, fxu, fxd, o0, o1, o2, o3, o4, o5) \
  do {                                                                                       \
    T fxy_ = ((fxd) - (fxu)) * k->cy2;                                                       \
    T fxt_ = (((br) - (ar)) - ((bl) - (al))) * k->cx2;                                       \
    T fyt_ = (((bd) - (ad)) - ((bu) - (au))) * k->cy2;                                       \
    T fxx_ = (((al) + (ar) - ((a0) + (a0))) + ((bl) + (br) - ((b0) + (b0)))) * k->cxx;       \
    T fyy_ = (((au) + (ad) - ((a0) + (a0))) + ((bu) + (bd) - ((b0) + (b0)))) * k->cyy;       \
    T rx_ = 1.0f / (fxx_ * fxx_ + fxy_ * fxy_ + 1e-6f);                                      \
    T ry_ = 1.0f / (fxy_ * fxy_ + fyy_ * fyy_ + 1e-6f);                                      \
    o0 = rx_ * (fxx_ * fxx_) + ry_ * (fxy_ * fxy_);                                          \
    o1 = rx_ * (fxy_ * fxy_) + ry_ * (fyy_ * fyy_);                                          \
    o2 = rx_ * (fxt_ * fxt_) + ry_ * (fyt_ * fyt_);                                          \
    o3 = rx_ * (fxx_ * fxy_) + ry_ * (fxy_ * fyy_);                                          \
    o4 = rx_ * (fxx_ * fxt_) + ry_ * (fxy_ * fyt_);                                          \
    o5 = rx_ * (fxy_ * fxt_) + ry_ * (fyy_ * fyt_);                                          \
  } while (0)

#define GRAY_FORMULA(T, al, a0, ar, au, ad, bl, b0, br, bu, bd, o0, o1, o2, o3, o4, o5)        \
  do {                                                                                       \
    T fx_ = (((ar) - (al)) + ((br) - (bl))) * k->cx1;                                        \
    T fy_ = (((ad) - (au)) + ((bd) - (bu))) * k->cy1;                                        \
    T ft_ = (b0) - (a0);                                                                     \
    o0 = fx_ * fx_;                                                                          \
    o1 = fy_ * fy_;                                                                          \
    o2 = ft_ * ft_;                                                                          \
    o3 = fx_ * fy_;                                                                          \
    o4 = fx_ * ft_;                                                                          \
    o5 = fy_ * ft_;                                                                          \
  } while (0)

/* fx = (d1 + d2)/2 with central differences d = (f[j+1] - f[j-1])/(2 hx). */
#define FX_FORMULA(al, ar, bl, br) ((((ar) - (al)) + ((br) - (bl))) * k->cx1)

typedef struct tensor_consts {
  float cx1, cy1, cx2, cy2, cxx, cyy;
} tensor_consts;

/* Rows of one tensor row: images at rows i, i-1, i+1 (clamped), fx rows above and below,
 * outputs at column 0 of the interior. */
typedef struct tensor_row {
  const float *a, *au, *ad, *b, *bu, *bd, *fxu, *fxd;
  float *fx; /* gc first pass: this row of fx */
  float *o[6];
} tensor_row;

/* One pixel with clamped column neighbours l, r (the edges, and the scalar remainder). */
static inline void gc_px(const tensor_consts *k, const tensor_row *t, size_t j, size_t l,
                         size_t r) {
  GC_FORMULA(float, t->a[l], t->a[j], t->a[r], t->au[j], t->ad[j], t->b[l], t->b[j], t->b[r],
             t->bu[j], t->bd[j], t->fxu[j], t->fxd[j], t->o[0][j], t->o[1][j], t->o[2][j],
             t->o[3][j], t->o[4][j], t->o[5][j]);
}
static inline void gray_px(const tensor_consts *k, const tensor_row *t, size_t j, size_t l,
                           size_t r) {
  GRAY_FORMULA(float, t->a[l], t->a[j], t->a[r], t->au[j], t->ad[j], t->b[l], t->b[j], t->b[r],
               t->bu[j], t->bd[j], t->o[0][j], t->o[1][j], t->o[2][j], t->o[3][j], t->o[4][j],
               t->o[5][j]);
}

/* Row kernels: the interior columns 1..w-2 in vectors of VW, the rest one by one. */
#define VLOAD(V, p) ld_##V(p)
#define VSTORE(p, x) do { __typeof__(x) x_ = (x); memcpy((p), &x_, sizeof x_); } while (0)
#define DEFINE_VLOAD(ATTR, V)                                                                \
  ATTR static inline V ld_##V(const float *p) {                                              \
    V v;                                                                                     \
    memcpy(&v, p, sizeof v);                                                                 \
    return v;                                                                                \
  }
#define DEFINE_TENSOR_ROWS(SUF, ATTR, V, VW)                                                 \
  ATTR static void fx_row_##SUF(const tensor_consts *k, const tensor_row *t, size_t w) {      \
    size_t j = 1;                                                                            \
    for (; j + VW < w; j += VW)                                                              \
      VSTORE(t->fx + j, FX_FORMULA(VLOAD(V, t->a + j - 1), VLOAD(V, t->a + j + 1),           \
                                   VLOAD(V, t->b + j - 1), VLOAD(V, t->b + j + 1)));         \
    for (; j + 1 < w; j++)                                                                   \
      t->fx[j] = FX_FORMULA(t->a[j - 1], t->a[j + 1], t->b[j - 1], t->b[j + 1]);             \
  }                                                                                          \
  ATTR static void gc_row_##SUF(const tensor_consts *k, const tensor_row *t, size_t w) {      \
    size_t j = 1;                                                                            \
    for (; j + VW < w; j += VW) {                                                            \
      V o0, o1, o2, o3, o4, o5;                                                              \
      GC_FORMULA(V, VLOAD(V, t->a + j - 1), VLOAD(V, t->a + j), VLOAD(V, t->a + j + 1),      \
                 VLOAD(V, t->au + j), VLOAD(V, t->ad + j), VLOAD(V, t->b + j - 1),           \
                 VLOAD(V, t->b + j), VLOAD(V, t->b + j + 1), VLOAD(V, t->bu + j),            \
                 VLOAD(V, t->bd + j), VLOAD(V, t->fxu + j), VLOAD(V, t->fxd + j), o0, o1,    \
                 o2, o3, o4, o5);                                                            \
      VSTORE(t->o[0] + j, o0);                                                               \
      VSTORE(t->o[1] + j, o1);                                                               \
      VSTORE(t->o[2] + j, o2);                                                               \
      VSTORE(t->o[3] + j, o3);                                                               \
      VSTORE(t->o[4] + j, o4);                                                               \
      VSTORE(t->o[5] + j, o5);                                                               \
    }                                                                                        \
    for (; j + 1 < w; j++) gc_px(k, t, j, j - 1, j + 1);                                     \
  }                                                                                          \
  ATTR static void gray_row_##SUF(const tensor_consts *k, const tensor_row *t, size_t w) {    \
    size_t j = 1;                                                                            \
    for (; j + VW < w; j += VW) {                                                            \
      V o0, o1, o2, o3, o4, o5;                                                              \
      GRAY_FORMULA(V, VLOAD(V, t->a + j - 1), VLOAD(V, t->a + j), VLOAD(V, t->a + j + 1),    \
                   VLOAD(V, t->au + j), VLOAD(V, t->ad + j), VLOAD(V, t->b + j - 1),         \
                   VLOAD(V, t->b + j), VLOAD(V, t->b + j + 1), VLOAD(V, t->bu + j),          \
                   VLOAD(V, t->bd + j), o0, o1, o2, o3, o4, o5);                             \
      VSTORE(t->o[0] + j, o0);                                                               \
      VSTORE(t->o[1] + j, o1);                                                               \
      VSTORE(t->o[2] + j, o2);                                                               \
      VSTORE(t->o[3] + j, o3);                                                               \
      VSTORE(t->o[4] + j, o4);                                                               \
      VSTORE(t->o[5] + j, o5);                                                               \
    }                                                                                        \
    for (; j + 1 < w; j++) gray_px(k, t, j, j - 1, j + 1);                                   \
  }

typedef float sf_v4f __attribute__((vector_size(16)));
typedef float sf_v8f __attribute__((vector_size(32)));
typedef float sf_v16f __attribute__((vector_size(64)));
DEFINE_VLOAD(, sf_v4f)
DEFINE_TENSOR_ROWS(v4, , sf_v4f, 4)
#if SF_SIMD_X86
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f")))
DEFINE_VLOAD(AVX2, sf_v8f)
DEFINE_VLOAD(AVX512, sf_v16f)
DEFINE_TENSOR_ROWS(v8, AVX2, sf_v8f, 8)
DEFINE_TENSOR_ROWS(v16, AVX512, sf_v16f, 16)
#endif
typedef void (*tensor_row_fn)(const tensor_consts *k, const tensor_row *t, size_t w);

/* The row kernels of each level. */
typedef struct tensor_kernels {
  tensor_row_fn fx_row, gc_row, gray_row;
} tensor_kernels;

static const tensor_kernels tensor_impl[SF_SIMD_COUNT] = {
    [SF_SIMD_C] = {fx_row_v4, gc_row_v4, gray_row_v4},
#if SF_SIMD_X86
    [SF_SIMD_AVX2] = {fx_row_v8, gc_row_v8, gray_row_v8},
    [SF_SIMD_AVX512] = {fx_row_v16, gc_row_v16, gray_row_v16},
#else
    [SF_SIMD_AVX2] = {fx_row_v4, gc_row_v4, gray_row_v4},
    [SF_SIMD_AVX512] = {fx_row_v4, gc_row_v4, gray_row_v4},
#endif
};

void sf_tensor_compute(sf_constancy kind, const float *f1, const float *f2w, size_t h, size_t w,
                       double hy, double hx, float *const J[6], float *scratch) {
  const size_t S = w + 2;
  for (int m = 0; m < 6; m++) zero_frame(J[m], h, w);
  if (h == 0 || w == 0) return;
  /* Sym-padding duplicates the edge, so a neighbour index is clamped into the image; the
   * frames of fx and ft are replaced by a sym-pad of their interiors, so their neighbours
   * clamp the same way. */
  tensor_consts kk = {(float)(0.25 / hx), (float)(0.25 / hy), (float)(0.5 / hx),
                      (float)(0.5 / hy), (float)(0.5 / (hx * hx)), (float)(0.5 / (hy * hy))};
  const tensor_consts *k = &kk;
  const tensor_kernels *K = &tensor_impl[sf_simd_best()];
  const tensor_row_fn fx_row = K->fx_row, gc_row = K->gc_row, gray_row = K->gray_row;
  float *fx = scratch;
  tensor_row t;
  if (kind != SF_CONST_GRAY) {
    for (size_t i = 0; i < h; i++) {
      t.a = f1 + i * w;
      t.b = f2w + i * w;
      t.fx = fx + i * w;
      fx_row(k, &t, w);
      t.fx[0] = FX_FORMULA(t.a[0], t.a[w > 1], t.b[0], t.b[w > 1]);
      t.fx[w - 1] = FX_FORMULA(t.a[w - 1 - (w > 1)], t.a[w - 1], t.b[w - 1 - (w > 1)], t.b[w - 1]);
    }
  }
  for (size_t i = 0; i < h; i++) {
    size_t up = i ? i - 1 : 0, dn = i + 1 < h ? i + 1 : h - 1;
    t.a = f1 + i * w;
    t.au = f1 + up * w;
    t.ad = f1 + dn * w;
    t.b = f2w + i * w;
    t.bu = f2w + up * w;
    t.bd = f2w + dn * w;
    t.fxu = fx + up * w;
    t.fxd = fx + dn * w;
    for (int m = 0; m < 6; m++) t.o[m] = J[m] + (i + 1) * S + 1;
    const size_t last = w - 1, l1 = w > 1 ? last - 1 : 0;
    if (kind == SF_CONST_GRAY) {
      gray_row(k, &t, w);
      gray_px(k, &t, 0, 0, w > 1);
      if (w > 1) gray_px(k, &t, last, l1, last);
    } else {
      gc_row(k, &t, w);
      gc_px(k, &t, 0, 0, w > 1);
      if (w > 1) gc_px(k, &t, last, l1, last);
    }
  }
}
