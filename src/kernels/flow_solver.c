/* Motion tensors and the lagged-nonlinearity SOR level solver (spec register.md §1.5, §1.6,
 * slabflow decisions 1 and 2). Our own C; nothing here is taken from the upstream tools.
 *
 * Solver paths. "c", "avx2" and "avx512" sweep in red-black order (decision 1) in float32
 * (decision 2) and give the same bytes: every pixel goes through the same sequence of
 * IEEE operations, fused multiply-adds written out explicitly (fmaf / *_fmadd_ps) and no
 * other contraction (the pragma below), and the same polynomial pow. A red-black result
 * does not depend on the order of the pixels inside a half-sweep, so the vector paths are
 * free to walk the rows in a wavefront that runs several sweeps in one pass over memory.
 * "gs64" is the reference's column-outer Gauss-Seidel in double precision, for parity
 * experiments. a_smooth != 1 uses one red-black code for every non-gs64 path (each row of one
 * colour computed 8 pixels at a time with GCC vector types, the same operations as its scalar
 * tail).
 *
 * Fast-path layout ("checkerboard-compressed"): every padded row r (0..h+1) of du, dv and
 * of the per-pixel coefficients is split into two half-rows, P (odd padded columns
 * j = 2k+1) and Q (even columns j = 2k+2, so the left frame column j = 0 is Q[-1]). The
 * pixels of one colour in a row are one half-row, and their neighbours are the other half
 * of the same row (offsets -1/0 or 0/+1) and the same half of the rows above and below, so
 * a half-sweep is unit-stride. Every half-row starts 64-byte aligned at k = 0. */
#include "kernels/flow_solver.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sf_error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SF_SOLVER_X86 1
#else
#define SF_SOLVER_X86 0
#endif

/* After the includes, so that it governs our functions (and the intrinsics inlined into
 * them) only: a multiply feeding an add must stay two roundings in every path. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f")))

enum { PATH_C = 0, PATH_AVX2 = 1, PATH_AVX512 = 2, PATH_GS64 = 3 };
static int cpu_has(int path);
static size_t gs_workspace_floats(size_t h, size_t w, int nch);

/* ---------------------------------------------------------------------------------------
 * Motion tensors (§1.5)
 * ------------------------------------------------------------------------------------- */

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
#if SF_SOLVER_X86 && defined(__GNUC__)
DEFINE_VLOAD(AVX2, sf_v8f)
DEFINE_VLOAD(AVX512, sf_v16f)
DEFINE_TENSOR_ROWS(v8, AVX2, sf_v8f, 8)
DEFINE_TENSOR_ROWS(v16, AVX512, sf_v16f, 16)
#endif
typedef void (*tensor_row_fn)(const tensor_consts *k, const tensor_row *t, size_t w);

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
  tensor_row_fn fx_row = fx_row_v4, gc_row = gc_row_v4, gray_row = gray_row_v4;
#if SF_SOLVER_X86 && defined(__GNUC__)
  if (cpu_has(PATH_AVX512)) {
    fx_row = fx_row_v16;
    gc_row = gc_row_v16;
    gray_row = gray_row_v16;
  } else if (cpu_has(PATH_AVX2)) {
    fx_row = fx_row_v8;
    gc_row = gc_row_v8;
    gray_row = gray_row_v8;
  }
#endif
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

/* ---------------------------------------------------------------------------------------
 * Shared arithmetic: pow and the per-pixel formulas, scalar reference versions
 * ------------------------------------------------------------------------------------- */

/* x^e for finite x >= 1e-5 as 2^(e log2 x). log2 on [sqrt(1/2), sqrt(2)) from
 * 2 atanh(t)/ln 2, t = (m-1)/(m+1), |t| <= 0.172, to t^7 (truncation < 5e-8); 2^f on
 * [-1/2, 1/2] by its Taylor series to degree 6 (< 1.2e-7). The vector versions below do
 * the same operations. Relative error < 1.5e-6 for x in [1e-5, 1e4], < 6e-6 up to 1e30. */
#define LG_C1 2.8853900817779268f  /* 2/ln2 */
#define LG_C3 0.96179669392597560f /* 2/(3 ln2) */
#define LG_C5 0.57707801635558536f
#define LG_C7 0.41219858311113240f
#define EX_D1 0.69314718055994531f /* ln2^k / k! */
#define EX_D2 0.24022650695910071f
#define EX_D3 0.055504108664821580f
#define EX_D4 0.0096181291076284772f
#define EX_D5 0.0013333558146428443f
#define EX_D6 0.00015403530393381608f
#define SQRT_HALF_BITS 0x3f3504f3u
#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: (y + M) - M rounds y to an integer */

static inline float pow_pos(float x, float e) {
  uint32_t i;
  memcpy(&i, &x, sizeof i);
  int32_t k = (int32_t)(i - SQRT_HALF_BITS) >> 23;
  uint32_t mi = i - ((uint32_t)k << 23);
  float m;
  memcpy(&m, &mi, sizeof m);
  float kf = (float)k;
  float t = (m - 1.0f) / (m + 1.0f);
  float t2 = t * t;
  float p = fmaf(t2, LG_C7, LG_C5);
  p = fmaf(p, t2, LG_C3);
  p = fmaf(p, t2, LG_C1);
  float l = fmaf(t, p, kf);
  float y = e * l;
  y = y > -126.0f ? y : -126.0f;
  y = y < 126.0f ? y : 126.0f;
  float n = (y + ROUND_MAGIC) - ROUND_MAGIC;
  float f = y - n;
  float q = fmaf(EX_D6, f, EX_D5);
  q = fmaf(q, f, EX_D4);
  q = fmaf(q, f, EX_D3);
  q = fmaf(q, f, EX_D2);
  q = fmaf(q, f, EX_D1);
  q = fmaf(q, f, 1.0f);
  uint32_t si = (uint32_t)((int32_t)n + 127) << 23;
  float sc;
  memcpy(&sc, &si, sizeof sc);
  return q * sc;
}

typedef struct refresh_consts {
  int nch;
  int real;                /* 0: psi = 1 (start of the solve); 1: psi from (du, dv) */
  int lin[SF_FLOW_MAX_CH]; /* a_k == 1: psi_k = 1 without pow */
  float W[SF_FLOW_MAX_CH]; /* W_k, used while psi = 1 or a_k = 1 */
  float aW[SF_FLOW_MAX_CH], e[SF_FLOW_MAX_CH]; /* a_k W_k and a_k - 1 */
  float sumw, omega; /* sum of the neighbour weights, relaxation factor */
} refresh_consts;

static void refresh_consts_init(refresh_consts *c, const sf_solver_params *p) {
  memset(c, 0, sizeof *c);
  c->nch = p->nch;
  for (int k = 0; k < p->nch; k++) {
    c->W[k] = p->weight[k];
    c->aW[k] = (float)p->a_data[k] * p->weight[k];
    c->e[k] = (float)(p->a_data[k] - 1.0);
    c->lin[k] = p->a_data[k] == 1.0;
  }
  c->sumw = (float)(2.0 * (p->alpha_x / (p->hx * p->hx) + p->alpha_y / (p->hy * p->hy)));
  c->omega = (float)p->omega;
}

/* W_k psi_k of one pixel, psi_k = a_k (max(Q_k, 0) + 1e-5)^(a_k - 1) with the quadratic
 * form of §1.5 evaluated as du (J11 du + 2 (J12 dv + J13)) + (dv (J22 dv + 2 J23) + J33). */
static inline float data_weight(const refresh_consts *c, int k, float j11, float j22, float j33,
                                float j12, float j13, float j23, float du, float dv) {
  if (!c->real || c->lin[k]) return c->W[k];
  float a = fmaf(j12, dv, j13);
  float t1 = fmaf(j11, du, a + a);
  float t2 = fmaf(j22, dv, j23 + j23);
  float q = fmaf(t1, du, fmaf(t2, dv, j33));
  q = q > 0.0f ? q : 0.0f;
  return c->aW[k] * pow_pos(q + 1e-5f, c->e[k]);
}

/* Combined data coefficients of one padded-layout pixel: A = sum_k W_k psi_k J_k (a_smooth
 * != 1 path). */
static inline void data_coef(const refresh_consts *c, const float *const *J, size_t idx,
                             float du, float dv, float A[5]) {
  float a11 = 0.0f, a22 = 0.0f, a12 = 0.0f, a13 = 0.0f, a23 = 0.0f;
  for (int k = 0; k < c->nch; k++) {
    const float *const *Jk = J + 6 * k;
    float j11 = Jk[0][idx], j22 = Jk[1][idx], j33 = Jk[2][idx];
    float j12 = Jk[3][idx], j13 = Jk[4][idx], j23 = Jk[5][idx];
    float wk = data_weight(c, k, j11, j22, j33, j12, j13, j23, du, dv);
    a11 = fmaf(wk, j11, a11);
    a22 = fmaf(wk, j22, a22);
    a12 = fmaf(wk, j12, a12);
    a13 = fmaf(wk, j13, a13);
    a23 = fmaf(wk, j23, a23);
  }
  A[0] = a11;
  A[1] = a22;
  A[2] = a12;
  A[3] = a13;
  A[4] = a23;
}

/* ---------------------------------------------------------------------------------------
 * Workspace
 * ------------------------------------------------------------------------------------- */

static const char *const path_names[] = {"c", "avx2", "avx512", "gs64"};

/* Compressed arrays of the fast path: increments, the constant smoothness parts, and the
 * coefficients (their rows in a ring when every window starts with a refresh). */
enum { CA_DU, CA_DV, CA_CU, CA_CV, CA_B1, CA_B2, CA_A12, CA_R1, CA_R2, CA_COUNT };
/* Padded-layout float arrays of the a_smooth != 1 path. */
enum { GA_DU, GA_DV, GA_PSIS, GA_A11, GA_A22, GA_A12, GA_A13, GA_A23, GA_TU, GA_TV, GA_COUNT };

struct sf_solver {
  size_t max_h, max_w;
  int nch;
  int path, best;
  float *buf; /* 64-byte aligned, every path carves its arrays from it */
  size_t buf_floats;
};

static inline size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Half-row stride: 16 floats before k = 0 (Q[-1] is the left frame), the longest half
 * (w/2 + 1 entries with the frame), and two vectors of slack for full-width accesses. */
static inline size_t half_stride(size_t w) { return 16 + round16(w / 2 + 2) + 32; }
static inline size_t fast_array_floats(size_t h, size_t w) {
  return 2 * (h + 2) * half_stride(w) + 64;
}
static inline size_t padded_floats(size_t h, size_t w) { return round16((h + 2) * (w + 2)); }

static size_t workspace_floats(size_t h, size_t w, int nch) {
  size_t fast = CA_COUNT * fast_array_floats(h, w);
  size_t gen = GA_COUNT * padded_floats(h, w);
  size_t gs = (size_t)(3 + nch) * 2 * padded_floats(h, w); /* doubles */
  size_t m = fast > gen ? fast : gen;
  m = m > gs ? m : gs;
  size_t wf = gs_workspace_floats(h, w, nch);
  return m > wf ? m : wf;
}

static int cpu_has(int path) {
#if SF_SOLVER_X86 && defined(__GNUC__)
  __builtin_cpu_init();
  if (path == PATH_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (path == PATH_AVX512) return __builtin_cpu_supports("avx512f");
#endif
  return path == PATH_C || path == PATH_GS64;
}

int sf_solver_create(size_t max_h, size_t max_w, int nch, sf_solver **out) {
  int status = 0;
  sf_solver *s = NULL;
  *out = NULL;
  if (max_h == 0 || max_w == 0 || nch < 1 || nch > SF_FLOW_MAX_CH) SF_FAIL_QUIET(SF_ERR_USAGE);
  s = calloc(1, sizeof *s);
  if (!s) SF_FAIL_QUIET(SF_ERR_NOMEM);
  s->max_h = max_h;
  s->max_w = max_w;
  s->nch = nch;
  s->buf_floats = workspace_floats(max_h, max_w, nch);
  s->buf = aligned_alloc(64, s->buf_floats * sizeof(float));
  if (!s->buf) SF_FAIL_QUIET(SF_ERR_NOMEM);
  /* Zero once: vector tails compute on (and discard) slack lanes, never uninitialised. */
  memset(s->buf, 0, s->buf_floats * sizeof(float));
  s->best = cpu_has(PATH_AVX512) ? PATH_AVX512 : cpu_has(PATH_AVX2) ? PATH_AVX2 : PATH_C;
  s->path = s->best;
  *out = s;
  s = NULL;
cleanup:
  sf_solver_destroy(&s);
  return status;
}

const char *sf_solver_path(const sf_solver *s) { return s ? path_names[s->path] : "none"; }

int sf_solver_force_path(sf_solver *s, const char *path) {
  if (!s || !path) return SF_ERR_USAGE;
  for (int i = 0; i < 4; i++) {
    if (strcmp(path, path_names[i]) == 0) {
      if (!cpu_has(i)) return SF_ERR_USAGE;
      s->path = i;
      return 0;
    }
  }
  return SF_ERR_USAGE;
}

void sf_solver_destroy(sf_solver **s) {
  if (!s || !*s) return;
  free((*s)->buf);
  free(*s);
  *s = NULL;
}

/* ---------------------------------------------------------------------------------------
 * Fast path (a_smooth = 1): red-black on the compressed layout
 * ------------------------------------------------------------------------------------- */

typedef struct fast_ctx {
  size_t h, w, S, cs, n[2];
  size_t ring; /* rows of the coefficient arrays: row r lives in slot r % ring */
  int nch;
  float *arr[CA_COUNT];
  const float *const *J; /* padded tensors, row-major */
  float wx, wy, c1;
  refresh_consts rc;
} fast_ctx;

/* Half-row hf (0 = P, odd padded columns j = 2k+1; 1 = Q, even columns j = 2k+2) of row r
 * of a full-height compressed array, and of a coefficient array. */
static inline float *hrow(const fast_ctx *c, int a, size_t r, int hf) {
  return c->arr[a] + (2 * r + (size_t)hf) * c->cs + 16;
}
static inline float *crow(const fast_ctx *c, int a, size_t r, int hf) {
  return hrow(c, a, r % c->ring, hf);
}

/* Neighbours of half-row hf of row r: P[k] (j = 2k+1) sits between Q[k-1] and Q[k],
 * Q[k] (j = 2k+2) between P[k] and P[k+1]; above and below is the same half. */
typedef struct sweep_ptrs {
  float *du, *dv;
  const float *ou, *ov; /* the other half of the row */
  const float *duu, *dud, *dvu, *dvd;
  const float *b1, *b2, *a12, *r1, *r2;
} sweep_ptrs;

static inline void sweep_ptrs_get(const fast_ctx *c, size_t r, int hf, sweep_ptrs *q) {
  const size_t cs = c->cs, o = (2 * r + (size_t)hf) * cs + 16;
  const size_t oc = (2 * (r % c->ring) + (size_t)hf) * cs + 16;
  q->du = c->arr[CA_DU] + o;
  q->dv = c->arr[CA_DV] + o;
  q->ou = c->arr[CA_DU] + o + (hf ? -cs : cs);
  q->ov = c->arr[CA_DV] + o + (hf ? -cs : cs);
  q->duu = q->du - 2 * cs;
  q->dud = q->du + 2 * cs;
  q->dvu = q->dv - 2 * cs;
  q->dvd = q->dv + 2 * cs;
  q->b1 = c->arr[CA_B1] + oc;
  q->b2 = c->arr[CA_B2] + oc;
  q->a12 = c->arr[CA_A12] + oc;
  q->r1 = c->arr[CA_R1] + oc;
  q->r2 = c->arr[CA_R2] + oc;
}

/* The update of §1.6 item 33 with the constant parts folded: b = sum_q w_q (u_q - u_p) - A13,
 * r = omega / (sum_q w_q + A11) (0 for a zero denominator). du first, then dv with it. */
static inline void sweep_px(float *du, float *dv, float dul, float dur, float duu, float dud,
                            float dvl, float dvr, float dvu, float dvd, float b1, float b2,
                            float a12, float r1, float r2, float wx, float wy, float c1) {
  float n = fmaf(wx, dul + dur, b1);
  n = fmaf(wy, duu + dud, n);
  n = fmaf(-a12, *dv, n);
  float u1 = fmaf(n, r1, c1 * *du);
  float m = fmaf(wx, dvl + dvr, b2);
  m = fmaf(wy, dvu + dvd, m);
  m = fmaf(-a12, u1, m);
  *dv = fmaf(m, r2, c1 * *dv);
  *du = u1;
}

/* Per-pixel end of a refresh. */
static inline void coef_finish(const refresh_consts *c, float a11, float a22, float a12,
                               float a13, float a23, float cu, float cv, float *b1, float *b2,
                               float *o12, float *r1, float *r2) {
  float d1 = c->sumw + a11, d2 = c->sumw + a22;
  *r1 = d1 != 0.0f ? c->omega / d1 : 0.0f;
  *r2 = d2 != 0.0f ? c->omega / d2 : 0.0f;
  *b1 = cu - a13;
  *b2 = cv - a23;
  *o12 = a12;
}

static inline void sweep_c(const fast_ctx *c, size_t r, int hf) {
  sweep_ptrs q;
  sweep_ptrs_get(c, r, hf, &q);
  const float *ul = hf ? q.ou : q.ou - 1, *ur = hf ? q.ou + 1 : q.ou;
  const float *vl = hf ? q.ov : q.ov - 1, *vr = hf ? q.ov + 1 : q.ov;
  for (size_t k = 0; k < c->n[hf]; k++)
    sweep_px(q.du + k, q.dv + k, ul[k], ur[k], q.duu[k], q.dud[k], vl[k], vr[k], q.dvu[k],
             q.dvd[k], q.b1[k], q.b2[k], q.a12[k], q.r1[k], q.r2[k], c->wx, c->wy, c->c1);
}

static void refresh_c(const fast_ctx *c, size_t r) {
  const refresh_consts *rc = &c->rc;
  const size_t off = r * c->S + 1;
  for (int hf = 0; hf < 2; hf++) {
    const float *du = hrow(c, CA_DU, r, hf), *dv = hrow(c, CA_DV, r, hf);
    const float *cu = hrow(c, CA_CU, r, hf), *cv = hrow(c, CA_CV, r, hf);
    float *b1 = crow(c, CA_B1, r, hf), *b2 = crow(c, CA_B2, r, hf), *a12 = crow(c, CA_A12, r, hf);
    float *r1 = crow(c, CA_R1, r, hf), *r2 = crow(c, CA_R2, r, hf);
    for (size_t k = 0; k < c->n[hf]; k++) {
      float A[5];
      data_coef(rc, c->J, off + 2 * k + (size_t)hf, du[k], dv[k], A);
      coef_finish(rc, A[0], A[1], A[2], A[3], A[4], cu[k], cv[k], b1 + k, b2 + k, a12 + k,
                  r1 + k, r2 + k);
    }
  }
}

/* Constant smoothness part of the numerators of padded row f (from column 1, stride S),
 * sum_q w_q (f_q - f_p), for n pixels, split into P[k] (column 2k+1) and Q[k] (2k+2). */
static inline float smooth_part(const float *f, size_t S, float wx, float wy) {
  return wx * ((f[-1] + f[1]) - (f[0] + f[0])) + wy * ((f[-(ptrdiff_t)S] + f[S]) - (f[0] + f[0]));
}
static void prep_c(const float *f, size_t S, size_t n, float wx, float wy, float *P, float *Q) {
  for (size_t k = 0; 2 * k < n; k++) P[k] = smooth_part(f + 2 * k, S, wx, wy);
  for (size_t k = 0; 2 * k + 1 < n; k++) Q[k] = smooth_part(f + 2 * k + 1, S, wx, wy);
}

/* Interleaves P and Q back into n floats of a padded row (from column 1). */
static void merge_c(const float *P, const float *Q, size_t n, float *o) {
  for (size_t k = 0; 2 * k < n; k++) o[2 * k] = P[k];
  for (size_t k = 0; 2 * k + 1 < n; k++) o[2 * k + 1] = Q[k];
}

typedef void (*refresh_fn)(const fast_ctx *c, size_t r);
typedef void (*prep_fn)(const float *f, size_t S, size_t n, float wx, float wy, float *P,
                        float *Q);
typedef void (*merge_fn)(const float *P, const float *Q, size_t n, float *o);

#if SF_SOLVER_X86 && defined(__GNUC__)

/* ---- AVX2 + FMA ---------------------------------------------------------------------- */

AVX2 static inline __m256 pow_pos8(__m256 x, __m256 e) {
  __m256i i = _mm256_castps_si256(x);
  __m256i k = _mm256_srai_epi32(_mm256_sub_epi32(i, _mm256_set1_epi32((int)SQRT_HALF_BITS)), 23);
  __m256 m = _mm256_castsi256_ps(_mm256_sub_epi32(i, _mm256_slli_epi32(k, 23)));
  __m256 kf = _mm256_cvtepi32_ps(k);
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 t = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
  __m256 t2 = _mm256_mul_ps(t, t);
  __m256 p = _mm256_fmadd_ps(t2, _mm256_set1_ps(LG_C7), _mm256_set1_ps(LG_C5));
  p = _mm256_fmadd_ps(p, t2, _mm256_set1_ps(LG_C3));
  p = _mm256_fmadd_ps(p, t2, _mm256_set1_ps(LG_C1));
  __m256 l = _mm256_fmadd_ps(t, p, kf);
  __m256 y = _mm256_mul_ps(e, l);
  y = _mm256_max_ps(y, _mm256_set1_ps(-126.0f));
  y = _mm256_min_ps(y, _mm256_set1_ps(126.0f));
  const __m256 mg = _mm256_set1_ps(ROUND_MAGIC);
  __m256 n = _mm256_sub_ps(_mm256_add_ps(y, mg), mg);
  __m256 f = _mm256_sub_ps(y, n);
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(EX_D6), f, _mm256_set1_ps(EX_D5));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(EX_D4));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(EX_D3));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(EX_D2));
  q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(EX_D1));
  q = _mm256_fmadd_ps(q, f, one);
  __m256i si = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(q, _mm256_castsi256_ps(si));
}

AVX2 static inline __m256i tail_mask8(size_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define SWEEP_BODY8(K)                                                                        \
  __m256 dus = _mm256_load_ps(q.du + (K)), dvs = _mm256_load_ps(q.dv + (K));                 \
  __m256 a12v = _mm256_load_ps(q.a12 + (K));                                                  \
  __m256 nn = _mm256_fmadd_ps(wx, _mm256_add_ps(_mm256_loadu_ps(ul + (K)), _mm256_loadu_ps(ur + (K))), \
                              _mm256_load_ps(q.b1 + (K)));                                    \
  nn = _mm256_fmadd_ps(wy, _mm256_add_ps(_mm256_load_ps(q.duu + (K)), _mm256_load_ps(q.dud + (K))), nn); \
  nn = _mm256_fnmadd_ps(a12v, dvs, nn);                                                       \
  __m256 u1 = _mm256_fmadd_ps(nn, _mm256_load_ps(q.r1 + (K)), _mm256_mul_ps(c1, dus));        \
  __m256 mm = _mm256_fmadd_ps(wx, _mm256_add_ps(_mm256_loadu_ps(vl + (K)), _mm256_loadu_ps(vr + (K))), \
                              _mm256_load_ps(q.b2 + (K)));                                    \
  mm = _mm256_fmadd_ps(wy, _mm256_add_ps(_mm256_load_ps(q.dvu + (K)), _mm256_load_ps(q.dvd + (K))), mm); \
  mm = _mm256_fnmadd_ps(a12v, u1, mm);                                                        \
  __m256 v1 = _mm256_fmadd_ps(mm, _mm256_load_ps(q.r2 + (K)), _mm256_mul_ps(c1, dvs));

AVX2 static inline void sweep_avx2(const fast_ctx *c, size_t r, int hf) {
  sweep_ptrs q;
  sweep_ptrs_get(c, r, hf, &q);
  const float *ul = hf ? q.ou : q.ou - 1, *ur = hf ? q.ou + 1 : q.ou;
  const float *vl = hf ? q.ov : q.ov - 1, *vr = hf ? q.ov + 1 : q.ov;
  const __m256 wx = _mm256_set1_ps(c->wx), wy = _mm256_set1_ps(c->wy), c1 = _mm256_set1_ps(c->c1);
  const size_t n = c->n[hf];
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    SWEEP_BODY8(k)
    _mm256_store_ps(q.du + k, u1);
    _mm256_store_ps(q.dv + k, v1);
  }
  if (k < n) {
    __m256i msk = tail_mask8(n - k);
    SWEEP_BODY8(k)
    _mm256_maskstore_ps(q.du + k, msk, u1);
    _mm256_maskstore_ps(q.dv + k, msk, v1);
  }
}

/* Even / odd lanes of (lo, hi) in order (shuffle within 128-bit lanes, then fix the order). */
AVX2 static inline __m256 even8(__m256 lo, __m256 hi) {
  __m256 x = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(x), _MM_SHUFFLE(3, 1, 2, 0)));
}
AVX2 static inline __m256 odd8(__m256 lo, __m256 hi) {
  __m256 x = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(x), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* The 16 floats at p, of which rem are valid (the rest read as 0), split into the even
 * (P) and odd (Q) ones. */
AVX2 static inline void deint8(const float *p, size_t rem, __m256 *P, __m256 *Q) {
  __m256 lo, hi;
  if (rem >= 16) {
    lo = _mm256_loadu_ps(p);
    hi = _mm256_loadu_ps(p + 8);
  } else {
    lo = _mm256_maskload_ps(p, tail_mask8(rem));
    hi = _mm256_maskload_ps(p + 8, tail_mask8(rem > 8 ? rem - 8 : 0));
  }
  *P = even8(lo, hi);
  *Q = odd8(lo, hi);
}

/* W_k psi_k of 8 pixels (data_weight). */
AVX2 static inline __m256 data_weight8(__m256 j11, __m256 j22, __m256 j33, __m256 j12,
                                       __m256 j13, __m256 j23, __m256 u, __m256 v, __m256 e,
                                       __m256 aW) {
  __m256 a = _mm256_fmadd_ps(j12, v, j13);
  __m256 t1 = _mm256_fmadd_ps(j11, u, _mm256_add_ps(a, a));
  __m256 t2 = _mm256_fmadd_ps(j22, v, _mm256_add_ps(j23, j23));
  __m256 qf = _mm256_fmadd_ps(t1, u, _mm256_fmadd_ps(t2, v, j33));
  qf = _mm256_max_ps(qf, _mm256_setzero_ps());
  return _mm256_mul_ps(aW, pow_pos8(_mm256_add_ps(qf, _mm256_set1_ps(1e-5f)), e));
}

AVX2 static inline void coef_finish8(const refresh_consts *rc, __m256 a11, __m256 a22,
                                     __m256 s12, __m256 s13, __m256 s23, const float *cu,
                                     const float *cv, float *b1, float *b2, float *a12,
                                     float *r1, float *r2) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 sumw = _mm256_set1_ps(rc->sumw), om = _mm256_set1_ps(rc->omega);
  __m256 d1 = _mm256_add_ps(sumw, a11), d2 = _mm256_add_ps(sumw, a22);
  _mm256_store_ps(r1, _mm256_and_ps(_mm256_div_ps(om, d1), _mm256_cmp_ps(d1, zero, _CMP_NEQ_UQ)));
  _mm256_store_ps(r2, _mm256_and_ps(_mm256_div_ps(om, d2), _mm256_cmp_ps(d2, zero, _CMP_NEQ_UQ)));
  _mm256_store_ps(b1, _mm256_sub_ps(_mm256_load_ps(cu), s13));
  _mm256_store_ps(b2, _mm256_sub_ps(_mm256_load_ps(cv), s23));
  _mm256_store_ps(a12, s12);
}

/* Both halves at once, as in the AVX-512 version below. */
AVX2 static void refresh_avx2(const fast_ctx *c, size_t r) {
  const refresh_consts *rc = &c->rc;
  const __m256 zero = _mm256_setzero_ps();
  const size_t off = r * c->S + 1;
  const float *du[2], *dv[2], *cu[2], *cv[2];
  float *b1[2], *b2[2], *a12[2], *r1[2], *r2[2];
  for (int hf = 0; hf < 2; hf++) {
    du[hf] = hrow(c, CA_DU, r, hf);
    dv[hf] = hrow(c, CA_DV, r, hf);
    cu[hf] = hrow(c, CA_CU, r, hf);
    cv[hf] = hrow(c, CA_CV, r, hf);
    b1[hf] = crow(c, CA_B1, r, hf);
    b2[hf] = crow(c, CA_B2, r, hf);
    a12[hf] = crow(c, CA_A12, r, hf);
    r1[hf] = crow(c, CA_R1, r, hf);
    r2[hf] = crow(c, CA_R2, r, hf);
  }
  for (size_t k = 0; k < c->n[0]; k += 8) {
    const size_t rem = c->w - 2 * k, o = off + 2 * k; /* valid floats from column 1 + 2k */
    __m256 up = _mm256_load_ps(du[0] + k), vp = _mm256_load_ps(dv[0] + k);
    __m256 uq = _mm256_load_ps(du[1] + k), vq = _mm256_load_ps(dv[1] + k);
    __m256 p11 = zero, p22 = zero, p12 = zero, p13 = zero, p23 = zero;
    __m256 q11 = zero, q22 = zero, q12 = zero, q13 = zero, q23 = zero;
    for (int ch = 0; ch < rc->nch; ch++) {
      const float *const *Jk = c->J + 6 * ch;
      __m256 P11, P22, P12, P13, P23, Q11, Q22, Q12, Q13, Q23, wp, wq;
      deint8(Jk[0] + o, rem, &P11, &Q11);
      deint8(Jk[1] + o, rem, &P22, &Q22);
      deint8(Jk[3] + o, rem, &P12, &Q12);
      deint8(Jk[4] + o, rem, &P13, &Q13);
      deint8(Jk[5] + o, rem, &P23, &Q23);
      if (rc->real && !rc->lin[ch]) {
        __m256 P33, Q33;
        deint8(Jk[2] + o, rem, &P33, &Q33);
        const __m256 e = _mm256_set1_ps(rc->e[ch]), aW = _mm256_set1_ps(rc->aW[ch]);
        wp = data_weight8(P11, P22, P33, P12, P13, P23, up, vp, e, aW);
        wq = data_weight8(Q11, Q22, Q33, Q12, Q13, Q23, uq, vq, e, aW);
      } else {
        wp = wq = _mm256_set1_ps(rc->W[ch]);
      }
      p11 = _mm256_fmadd_ps(wp, P11, p11);
      p22 = _mm256_fmadd_ps(wp, P22, p22);
      p12 = _mm256_fmadd_ps(wp, P12, p12);
      p13 = _mm256_fmadd_ps(wp, P13, p13);
      p23 = _mm256_fmadd_ps(wp, P23, p23);
      q11 = _mm256_fmadd_ps(wq, Q11, q11);
      q22 = _mm256_fmadd_ps(wq, Q22, q22);
      q12 = _mm256_fmadd_ps(wq, Q12, q12);
      q13 = _mm256_fmadd_ps(wq, Q13, q13);
      q23 = _mm256_fmadd_ps(wq, Q23, q23);
    }
    coef_finish8(rc, p11, p22, p12, p13, p23, cu[0] + k, cv[0] + k, b1[0] + k, b2[0] + k,
                 a12[0] + k, r1[0] + k, r2[0] + k);
    coef_finish8(rc, q11, q22, q12, q13, q23, cu[1] + k, cv[1] + k, b1[1] + k, b2[1] + k,
                 a12[1] + k, r1[1] + k, r2[1] + k);
  }
}

AVX2 static inline __m256 smooth_part8(const float *f, size_t S, __m256 wx, __m256 wy) {
  __m256 c = _mm256_loadu_ps(f), cc = _mm256_add_ps(c, c);
  __m256 x = _mm256_sub_ps(_mm256_add_ps(_mm256_loadu_ps(f - 1), _mm256_loadu_ps(f + 1)), cc);
  __m256 y = _mm256_sub_ps(_mm256_add_ps(_mm256_loadu_ps(f - S), _mm256_loadu_ps(f + S)), cc);
  return _mm256_add_ps(_mm256_mul_ps(wx, x), _mm256_mul_ps(wy, y));
}

AVX2 static void prep_avx2(const float *f, size_t S, size_t n, float wx, float wy, float *P,
                           float *Q) {
  const __m256 vx = _mm256_set1_ps(wx), vy = _mm256_set1_ps(wy);
  size_t k = 0;
  for (; 2 * k + 16 <= n; k += 8) {
    __m256 lo = smooth_part8(f + 2 * k, S, vx, vy), hi = smooth_part8(f + 2 * k + 8, S, vx, vy);
    _mm256_store_ps(P + k, even8(lo, hi));
    _mm256_store_ps(Q + k, odd8(lo, hi));
  }
  prep_c(f + 2 * k, S, n - 2 * k, wx, wy, P + k, Q + k);
}

AVX2 static void merge_avx2(const float *P, const float *Q, size_t n, float *o) {
  size_t k = 0;
  for (; 2 * k + 16 <= n; k += 8) {
    __m256 p = _mm256_load_ps(P + k), q = _mm256_load_ps(Q + k);
    __m256 a = _mm256_unpacklo_ps(p, q), b = _mm256_unpackhi_ps(p, q); /* p0 q0 p1 q1 | p4 q4 p5 q5 */
    _mm256_storeu_ps(o + 2 * k, _mm256_permute2f128_ps(a, b, 0x20));
    _mm256_storeu_ps(o + 2 * k + 8, _mm256_permute2f128_ps(a, b, 0x31));
  }
  merge_c(P + k, Q + k, n - 2 * k, o + 2 * k);
}

/* ---- AVX-512F -------------------------------------------------------------------------- */

AVX512 static inline __m512 pow_pos16(__m512 x, __m512 e) {
  __m512i i = _mm512_castps_si512(x);
  __m512i k = _mm512_srai_epi32(_mm512_sub_epi32(i, _mm512_set1_epi32((int)SQRT_HALF_BITS)), 23);
  __m512 m = _mm512_castsi512_ps(_mm512_sub_epi32(i, _mm512_slli_epi32(k, 23)));
  __m512 kf = _mm512_cvtepi32_ps(k);
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 t = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  __m512 t2 = _mm512_mul_ps(t, t);
  __m512 p = _mm512_fmadd_ps(t2, _mm512_set1_ps(LG_C7), _mm512_set1_ps(LG_C5));
  p = _mm512_fmadd_ps(p, t2, _mm512_set1_ps(LG_C3));
  p = _mm512_fmadd_ps(p, t2, _mm512_set1_ps(LG_C1));
  __m512 l = _mm512_fmadd_ps(t, p, kf);
  __m512 y = _mm512_mul_ps(e, l);
  y = _mm512_max_ps(y, _mm512_set1_ps(-126.0f));
  y = _mm512_min_ps(y, _mm512_set1_ps(126.0f));
  const __m512 mg = _mm512_set1_ps(ROUND_MAGIC);
  __m512 n = _mm512_sub_ps(_mm512_add_ps(y, mg), mg);
  __m512 f = _mm512_sub_ps(y, n);
  __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(EX_D6), f, _mm512_set1_ps(EX_D5));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(EX_D4));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(EX_D3));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(EX_D2));
  q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(EX_D1));
  q = _mm512_fmadd_ps(q, f, one);
  __m512i si = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(q, _mm512_castsi512_ps(si));
}

/* The other half's left/right neighbours come from aligned loads shifted with valignd (an
 * unaligned 64-byte load always splits a cache line). */
#define SWEEP_BODY16(K, LU, RU, LV, RV)                                                       \
  __m512 dus = _mm512_load_ps(q.du + (K)), dvs = _mm512_load_ps(q.dv + (K));                 \
  __m512 a12v = _mm512_load_ps(q.a12 + (K));                                                  \
  __m512 nn = _mm512_fmadd_ps(wx, _mm512_add_ps(LU, RU), _mm512_load_ps(q.b1 + (K)));         \
  nn = _mm512_fmadd_ps(wy, _mm512_add_ps(_mm512_load_ps(q.duu + (K)), _mm512_load_ps(q.dud + (K))), nn); \
  nn = _mm512_fnmadd_ps(a12v, dvs, nn);                                                       \
  __m512 u1 = _mm512_fmadd_ps(nn, _mm512_load_ps(q.r1 + (K)), _mm512_mul_ps(c1, dus));        \
  __m512 mm = _mm512_fmadd_ps(wx, _mm512_add_ps(LV, RV), _mm512_load_ps(q.b2 + (K)));         \
  mm = _mm512_fmadd_ps(wy, _mm512_add_ps(_mm512_load_ps(q.dvu + (K)), _mm512_load_ps(q.dvd + (K))), mm); \
  mm = _mm512_fnmadd_ps(a12v, u1, mm);                                                        \
  __m512 v1 = _mm512_fmadd_ps(mm, _mm512_load_ps(q.r2 + (K)), _mm512_mul_ps(c1, dvs));

#define ALIGNR(HI, LO, N) _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(HI), _mm512_castps_si512(LO), N))

AVX512 static inline void sweep_avx512(const fast_ctx *c, size_t r, int hf) {
  sweep_ptrs q;
  sweep_ptrs_get(c, r, hf, &q);
  const __m512 wx = _mm512_set1_ps(c->wx), wy = _mm512_set1_ps(c->wy), c1 = _mm512_set1_ps(c->c1);
  const size_t n = c->n[hf];
  const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1u);
  size_t k = 0;
  if (hf == 0) { /* P: left Q[k-1], right Q[k] */
    __m512 pu = _mm512_load_ps(q.ou - 16), pv = _mm512_load_ps(q.ov - 16);
    for (; k < n; k += 16) {
      __m512 cu = _mm512_load_ps(q.ou + k), cv = _mm512_load_ps(q.ov + k);
      SWEEP_BODY16(k, ALIGNR(cu, pu, 15), cu, ALIGNR(cv, pv, 15), cv)
      pu = cu;
      pv = cv;
      if (k + 16 <= n) {
        _mm512_store_ps(q.du + k, u1);
        _mm512_store_ps(q.dv + k, v1);
      } else {
        _mm512_mask_store_ps(q.du + k, tail, u1);
        _mm512_mask_store_ps(q.dv + k, tail, v1);
      }
    }
  } else { /* Q: left P[k], right P[k+1] */
    __m512 cu = _mm512_load_ps(q.ou), cv = _mm512_load_ps(q.ov);
    for (; k < n; k += 16) {
      __m512 nu = _mm512_load_ps(q.ou + k + 16), nv = _mm512_load_ps(q.ov + k + 16);
      SWEEP_BODY16(k, cu, ALIGNR(nu, cu, 1), cv, ALIGNR(nv, cv, 1))
      cu = nu;
      cv = nv;
      if (k + 16 <= n) {
        _mm512_store_ps(q.du + k, u1);
        _mm512_store_ps(q.dv + k, v1);
      } else {
        _mm512_mask_store_ps(q.du + k, tail, u1);
        _mm512_mask_store_ps(q.dv + k, tail, v1);
      }
    }
  }
}

/* The 32 floats at p, of which rem are valid (the rest read as 0), split into the even
 * (P) and odd (Q) ones. */
AVX512 static inline void deint16(const float *p, size_t rem, __m512i ie, __m512i io, __m512 *P,
                                  __m512 *Q) {
  __m512 lo, hi;
  if (rem >= 32) {
    lo = _mm512_loadu_ps(p);
    hi = _mm512_loadu_ps(p + 16);
  } else {
    __mmask16 m0 = rem >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rem) - 1u);
    __mmask16 m1 = rem > 16 ? (__mmask16)((1u << (rem - 16)) - 1u) : (__mmask16)0;
    lo = _mm512_maskz_loadu_ps(m0, p);
    hi = _mm512_maskz_loadu_ps(m1, p + 16);
  }
  *P = _mm512_permutex2var_ps(lo, ie, hi);
  *Q = _mm512_permutex2var_ps(lo, io, hi);
}

/* W_k psi_k of 16 pixels (data_weight). */
AVX512 static inline __m512 data_weight16(__m512 j11, __m512 j22, __m512 j33, __m512 j12,
                                          __m512 j13, __m512 j23, __m512 u, __m512 v,
                                          __m512 e, __m512 aW) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 a = _mm512_fmadd_ps(j12, v, j13);
  __m512 t1 = _mm512_fmadd_ps(j11, u, _mm512_add_ps(a, a));
  __m512 t2 = _mm512_fmadd_ps(j22, v, _mm512_add_ps(j23, j23));
  __m512 qf = _mm512_fmadd_ps(t1, u, _mm512_fmadd_ps(t2, v, j33));
  qf = _mm512_max_ps(qf, zero);
  return _mm512_mul_ps(aW, pow_pos16(_mm512_add_ps(qf, _mm512_set1_ps(1e-5f)), e));
}

/* Coefficients of 16 pixels from their sums (coef_finish), stored at k. */
AVX512 static inline void coef_finish16(const refresh_consts *rc, __m512 a11, __m512 a22,
                                        __m512 s12, __m512 s13, __m512 s23, const float *cu,
                                        const float *cv, float *b1, float *b2, float *a12,
                                        float *r1, float *r2) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 sumw = _mm512_set1_ps(rc->sumw), om = _mm512_set1_ps(rc->omega);
  __m512 d1 = _mm512_add_ps(sumw, a11), d2 = _mm512_add_ps(sumw, a22);
  _mm512_store_ps(r1, _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d1, zero, _CMP_NEQ_UQ), om, d1));
  _mm512_store_ps(r2, _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d2, zero, _CMP_NEQ_UQ), om, d2));
  _mm512_store_ps(b1, _mm512_sub_ps(_mm512_load_ps(cu), s13));
  _mm512_store_ps(b2, _mm512_sub_ps(_mm512_load_ps(cv), s23));
  _mm512_store_ps(a12, s12);
}

/* Both halves at once: each load of 32 tensor values feeds 16 P and 16 Q pixels, and the
 * two independent pow chains overlap. Q lanes past n[1] compute finite values that land
 * in the coefficient rows' slack. */
AVX512 static void refresh_avx512(const fast_ctx *c, size_t r) {
  const refresh_consts *rc = &c->rc;
  const __m512 zero = _mm512_setzero_ps();
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_add_epi32(ie, _mm512_set1_epi32(1));
  const size_t off = r * c->S + 1;
  const float *du[2], *dv[2], *cu[2], *cv[2];
  float *b1[2], *b2[2], *a12[2], *r1[2], *r2[2];
  for (int hf = 0; hf < 2; hf++) {
    du[hf] = hrow(c, CA_DU, r, hf);
    dv[hf] = hrow(c, CA_DV, r, hf);
    cu[hf] = hrow(c, CA_CU, r, hf);
    cv[hf] = hrow(c, CA_CV, r, hf);
    b1[hf] = crow(c, CA_B1, r, hf);
    b2[hf] = crow(c, CA_B2, r, hf);
    a12[hf] = crow(c, CA_A12, r, hf);
    r1[hf] = crow(c, CA_R1, r, hf);
    r2[hf] = crow(c, CA_R2, r, hf);
  }
  for (size_t k = 0; k < c->n[0]; k += 16) {
    const size_t rem = c->w - 2 * k, o = off + 2 * k; /* valid floats from column 1 + 2k */
    __m512 up = _mm512_load_ps(du[0] + k), vp = _mm512_load_ps(dv[0] + k);
    __m512 uq = _mm512_load_ps(du[1] + k), vq = _mm512_load_ps(dv[1] + k);
    __m512 p11 = zero, p22 = zero, p12 = zero, p13 = zero, p23 = zero;
    __m512 q11 = zero, q22 = zero, q12 = zero, q13 = zero, q23 = zero;
    for (int ch = 0; ch < rc->nch; ch++) {
      const float *const *Jk = c->J + 6 * ch;
      __m512 P11, P22, P12, P13, P23, Q11, Q22, Q12, Q13, Q23, wp, wq;
      deint16(Jk[0] + o, rem, ie, io, &P11, &Q11);
      deint16(Jk[1] + o, rem, ie, io, &P22, &Q22);
      deint16(Jk[3] + o, rem, ie, io, &P12, &Q12);
      deint16(Jk[4] + o, rem, ie, io, &P13, &Q13);
      deint16(Jk[5] + o, rem, ie, io, &P23, &Q23);
      if (rc->real && !rc->lin[ch]) {
        __m512 P33, Q33;
        deint16(Jk[2] + o, rem, ie, io, &P33, &Q33);
        const __m512 e = _mm512_set1_ps(rc->e[ch]), aW = _mm512_set1_ps(rc->aW[ch]);
        wp = data_weight16(P11, P22, P33, P12, P13, P23, up, vp, e, aW);
        wq = data_weight16(Q11, Q22, Q33, Q12, Q13, Q23, uq, vq, e, aW);
      } else {
        wp = wq = _mm512_set1_ps(rc->W[ch]);
      }
      p11 = _mm512_fmadd_ps(wp, P11, p11);
      p22 = _mm512_fmadd_ps(wp, P22, p22);
      p12 = _mm512_fmadd_ps(wp, P12, p12);
      p13 = _mm512_fmadd_ps(wp, P13, p13);
      p23 = _mm512_fmadd_ps(wp, P23, p23);
      q11 = _mm512_fmadd_ps(wq, Q11, q11);
      q22 = _mm512_fmadd_ps(wq, Q22, q22);
      q12 = _mm512_fmadd_ps(wq, Q12, q12);
      q13 = _mm512_fmadd_ps(wq, Q13, q13);
      q23 = _mm512_fmadd_ps(wq, Q23, q23);
    }
    coef_finish16(rc, p11, p22, p12, p13, p23, cu[0] + k, cv[0] + k, b1[0] + k, b2[0] + k,
                  a12[0] + k, r1[0] + k, r2[0] + k);
    coef_finish16(rc, q11, q22, q12, q13, q23, cu[1] + k, cv[1] + k, b1[1] + k, b2[1] + k,
                  a12[1] + k, r1[1] + k, r2[1] + k);
  }
}

AVX512 static inline __m512 smooth_part16(const float *f, size_t S, __m512 wx, __m512 wy) {
  __m512 c = _mm512_loadu_ps(f), cc = _mm512_add_ps(c, c);
  __m512 x = _mm512_sub_ps(_mm512_add_ps(_mm512_loadu_ps(f - 1), _mm512_loadu_ps(f + 1)), cc);
  __m512 y = _mm512_sub_ps(_mm512_add_ps(_mm512_loadu_ps(f - S), _mm512_loadu_ps(f + S)), cc);
  return _mm512_add_ps(_mm512_mul_ps(wx, x), _mm512_mul_ps(wy, y));
}

AVX512 static void prep_avx512(const float *f, size_t S, size_t n, float wx, float wy, float *P,
                               float *Q) {
  const __m512 vx = _mm512_set1_ps(wx), vy = _mm512_set1_ps(wy);
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_add_epi32(ie, _mm512_set1_epi32(1));
  size_t k = 0;
  for (; 2 * k + 32 <= n; k += 16) {
    __m512 lo = smooth_part16(f + 2 * k, S, vx, vy), hi = smooth_part16(f + 2 * k + 16, S, vx, vy);
    _mm512_store_ps(P + k, _mm512_permutex2var_ps(lo, ie, hi));
    _mm512_store_ps(Q + k, _mm512_permutex2var_ps(lo, io, hi));
  }
  prep_c(f + 2 * k, S, n - 2 * k, wx, wy, P + k, Q + k);
}

AVX512 static void merge_avx512(const float *P, const float *Q, size_t n, float *o) {
  const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ih = _mm512_add_epi32(il, _mm512_set1_epi32(8));
  size_t k = 0;
  for (; 2 * k + 32 <= n; k += 16) {
    __m512 p = _mm512_load_ps(P + k), q = _mm512_load_ps(Q + k);
    _mm512_storeu_ps(o + 2 * k, _mm512_permutex2var_ps(p, il, q));
    _mm512_storeu_ps(o + 2 * k + 16, _mm512_permutex2var_ps(p, ih, q));
  }
  merge_c(P + k, Q + k, n - 2 * k, o + 2 * k);
}

#endif /* x86 */

typedef struct fast_kernels fast_kernels;
typedef void (*window_fn)(const fast_ctx *c, const fast_kernels *K, int T, int refresh,
                          const float *u, const float *v);
struct fast_kernels {
  window_fn window;
  refresh_fn refresh;
  prep_fn prep;
  merge_fn merge;
};

/* Neumann boundary (§1.6 item 31) for row r once it has finished a sweep: its frame
 * columns, and the frame row next to it when r is the first or last row. Every frame
 * value is read only by the pixel it copies, so copying per row is the same as copying
 * the whole frame before the next sweep. */
static inline void frame_copy(const fast_ctx *c, size_t r) {
  const size_t w = c->w;
  for (int a = CA_DU; a <= CA_DV; a++) {
    float *P = hrow(c, a, r, 0), *Q = hrow(c, a, r, 1);
    Q[-1] = P[0];
    if (w % 2 == 0)
      P[w / 2] = Q[w / 2 - 1];
    else
      Q[(w - 1) / 2] = P[(w - 1) / 2];
    if (r == 1 || r == c->h) {
      size_t fr = r == 1 ? 0 : c->h + 1;
      for (int hf = 0; hf < 2; hf++)
        memcpy(hrow(c, a, fr, hf), hrow(c, a, r, hf), c->n[hf] * sizeof(float));
    }
  }
}

/* First touch of row r in a solve: the constant smoothness part of the numerators,
 * sum_q w_q (u_q - u_p), into the compressed layout (u and v are fixed during the solve). */
static void prepare_row(const fast_ctx *c, const fast_kernels *K, const float *u,
                        const float *v, size_t r) {
  const size_t off = r * c->S + 1;
  K->prep(u + off, c->S, c->w, c->wx, c->wy, hrow(c, CA_CU, r, 0), hrow(c, CA_CU, r, 1));
  K->prep(v + off, c->S, c->w, c->wx, c->wy, hrow(c, CA_CV, r, 0), hrow(c, CA_CV, r, 1));
}

/* T sweeps with constant coefficients in one pass over the rows: at step s, sweep tau
 * updates the red pixels of row s - 2 tau and then the black pixels of the row above.
 * Every update then finds its neighbours exactly as a plain sweep-by-sweep red-black
 * order leaves them, so the result does not depend on T. With refresh set, the
 * coefficients of row s are recomputed just before the first sweep first touches it
 * (and on the first window, the row is prepared first). Red (colour 0) pixels have r + j
 * even: the P half of odd rows, the Q half of even rows. One copy per path, so that the
 * half-row kernel is inlined. */
#define DEFINE_WINDOW(NAME, ATTR, SWEEP)                                                    \
  ATTR static void NAME(const fast_ctx *c, const fast_kernels *K, int T, int refresh,       \
                        const float *u, const float *v) {                                   \
    const long h = (long)c->h;                                                              \
    for (long s = 1; s <= h + 2L * T - 1; s++) {                                            \
      if (s <= h) {                                                                         \
        if (u) prepare_row(c, K, u, v, (size_t)s);                                          \
        if (refresh) K->refresh(c, (size_t)s);                                              \
      }                                                                                     \
      for (int tau = 0; tau < T; tau++) {                                                   \
        long r = s - 2L * tau;                                                              \
        if (r < 1) break;                                                                   \
        if (r <= h && c->n[(r + 1) & 1]) SWEEP(c, (size_t)r, (int)((r + 1) & 1));           \
        long rb = r - 1;                                                                    \
        if (rb >= 1 && rb <= h) {                                                           \
          if (c->n[rb & 1]) SWEEP(c, (size_t)rb, (int)(rb & 1));                            \
          frame_copy(c, (size_t)rb);                                                        \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }

DEFINE_WINDOW(window_c, , sweep_c)
#if SF_SOLVER_X86 && defined(__GNUC__)
DEFINE_WINDOW(window_avx2, AVX2, sweep_avx2)
DEFINE_WINDOW(window_avx512, AVX512, sweep_avx512)
#endif

/* Sweeps fused per pass (a window); the coefficient rows in flight then fit in L2. */
#define FAST_MAX_WINDOW 8

static int refresh_due(int t, int lag) { return lag > 0 && (t + 1) % lag == 0; }

/* Length of the window starting at sweep t: up to the next refresh. */
static int window_len(int t, const sf_solver_params *p) {
  int T = 1;
  while (t + T < p->iterations && !refresh_due(t + T, p->update_lag)) T++;
  return T;
}

static void solve_fast(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                       const float *v, const sf_solver_params *p, float *du_out, float *dv_out) {
  fast_ctx c;
  c.h = h;
  c.w = w;
  c.S = w + 2;
  c.cs = half_stride(w);
  c.n[0] = (w + 1) / 2;
  c.n[1] = w / 2;
  c.nch = p->nch;
  const size_t fa = fast_array_floats(h, w);
  for (int a = 0; a < CA_COUNT; a++) c.arr[a] = s->buf + (size_t)a * fa;
  c.J = J;
  c.wx = (float)(p->alpha_x / (p->hx * p->hx));
  c.wy = (float)(p->alpha_y / (p->hy * p->hy));
  c.c1 = (float)(1.0 - p->omega);
  refresh_consts_init(&c.rc, p);
  fast_kernels K = {window_c, refresh_c, prep_c, merge_c};
#if SF_SOLVER_X86 && defined(__GNUC__)
  if (s->path == PATH_AVX2) K = (fast_kernels){window_avx2, refresh_avx2, prep_avx2, merge_avx2};
  if (s->path == PATH_AVX512)
    K = (fast_kernels){window_avx512, refresh_avx512, prep_avx512, merge_avx512};
#endif
  /* Coefficient rows live in a ring of 2T + 2 rows when no window is longer than
   * FAST_MAX_WINDOW (each then starts with a refresh); otherwise windows are split and
   * the coefficients kept for the whole level. */
  int Tmax = 1;
  for (int t = 0; t < p->iterations; t += window_len(t, p))
    if (window_len(t, p) > Tmax) Tmax = window_len(t, p);
  const int split = Tmax > FAST_MAX_WINDOW;
  c.ring = split ? h + 2 : 2 * (size_t)Tmax + 2;
  if (c.ring > h + 2) c.ring = h + 2;
  /* du = dv = 0 everywhere, frame and slack included. */
  memset(c.arr[CA_DU], 0, 2 * (h + 2) * c.cs * sizeof(float));
  memset(c.arr[CA_DV], 0, 2 * (h + 2) * c.cs * sizeof(float));
  for (int t = 0; t < p->iterations;) {
    int L = window_len(t, p);
    c.rc.real = refresh_due(t, p->update_lag);
    for (int done = 0; done < L;) {
      int T = L - done < FAST_MAX_WINDOW ? L - done : FAST_MAX_WINDOW;
      const int first = t == 0 && done == 0;
      K.window(&c, &K, T, done == 0, first ? u : NULL, v);
      done += T;
    }
    t += L;
  }
  for (size_t r = 0; r < h + 2; r++) {
    for (int a = 0; a < 2; a++) {
      const float *P = hrow(&c, a ? CA_DV : CA_DU, r, 0), *Q = hrow(&c, a ? CA_DV : CA_DU, r, 1);
      float *o = (a ? dv_out : du_out) + r * c.S;
      o[0] = Q[-1];
      K.merge(P, Q, w + 1, o + 1);
    }
  }
}

/* ---------------------------------------------------------------------------------------
 * a_smooth != 1: red-black on the padded layout (one code for every float path)
 * ------------------------------------------------------------------------------------- */

static void boundary_f(float *a, size_t h, size_t w) {
  const size_t S = w + 2;
  memcpy(a, a + S, S * sizeof *a);
  memcpy(a + (h + 1) * S, a + h * S, S * sizeof *a);
  for (size_t i = 0; i < h + 2; i++) {
    a[i * S] = a[i * S + 1];
    a[i * S + w + 1] = a[i * S + w];
  }
}

/* Derivative of g + f (flow plus increment) along a padded axis of length n at index i
 * (stride st): central inside, one-sided at the ends, 0 for n = 1 (§1.6 item 30). */
static inline float grad_f(const float *g, const float *f, size_t x, size_t i, size_t n,
                           size_t st, float inv_h) {
  if (n < 2) return 0.0f;
  float c = g[x] + f[x];
  if (i == 0) return ((g[x + st] + f[x + st]) - c) * inv_h;
  if (i == n - 1) return (c - (g[x - st] + f[x - st])) * inv_h;
  return ((g[x + st] + f[x + st]) - (g[x - st] + f[x - st])) * (0.5f * inv_h);
}

#if defined(__GNUC__)
/* 8 floats, unaligned (aligned(4)), for the row pass of solve_generic. */
typedef float gv8f __attribute__((vector_size(32), aligned(4)));
typedef int gv8i __attribute__((vector_size(32), aligned(4)));
#define LD_V(x) (*(const gv8f *)&(x))
#define ST_V(x) (*(gv8f *)&(x))
#define NZ_V(d) ((gv8i)((d) != (gv8f){0}))
#define SAFE_V(d) ((gv8f)(((gv8i)(d)&NZ_V(d)) | ((gv8i)((gv8f){0} + 1.0f) & ~NZ_V(d))))
#define SEL_V(q, d) ((gv8f)((gv8i)(q)&NZ_V(d)))
#endif
#define LD_S(x) (x)
#define ST_S(x) (x)
#define SAFE_S(d) ((d) != 0.0f ? (d) : 1.0f)
#define SEL_S(q, d) ((d) != 0.0f ? (q) : 0.0f)

/* One red-black update of pixel(s) j of a row, into tu/tv. T: float or gv8f; LD/ST: read /
 * write a T at an element; SAFE(d): d, or 1 where d = 0; SEL(q, d): q, or 0 where d = 0.
 * No lane divides by zero, and the vector and scalar forms do the same operations. */
#define GEN_PIXEL(T, LD, ST, SAFE, SEL)                                                            \
  do {                                                                                             \
    const T pc = LD(pr[j]);                                                                        \
    const T wl = 0.5f * (pc + LD(pr[j - 1])) * ax, wr = 0.5f * (pc + LD(pr[j + 1])) * ax;          \
    const T wu = 0.5f * (pc + LD(prn[j])) * ay, wd = 0.5f * (pc + LD(prs[j])) * ay;                \
    const T uc = LD(ur[j]), vc = LD(vr[j]), duc = LD(dur[j]), dvc = LD(dvr[j]);                    \
    T nu = wl * ((LD(ur[j - 1]) + LD(dur[j - 1])) - uc);                                           \
    nu += wr * ((LD(ur[j + 1]) + LD(dur[j + 1])) - uc);                                            \
    nu += wu * ((LD(urn[j]) + LD(durn[j])) - uc);                                                  \
    nu += wd * ((LD(urs[j]) + LD(durs[j])) - uc);                                                  \
    T nv = wl * ((LD(vr[j - 1]) + LD(dvr[j - 1])) - vc);                                           \
    nv += wr * ((LD(vr[j + 1]) + LD(dvr[j + 1])) - vc);                                            \
    nv += wu * ((LD(vrn[j]) + LD(dvrn[j])) - vc);                                                  \
    nv += wd * ((LD(vrs[j]) + LD(dvrs[j])) - vc);                                                  \
    const T den = ((wl + wr) + wu) + wd;                                                           \
    const T d1 = den + LD(a11[j]), d2 = den + LD(a22[j]);                                          \
    nu -= LD(a13[j]) + LD(a12[j]) * dvc;                                                           \
    const T q1 = nu / SAFE(d1), us = SEL(q1, d1);                                                  \
    const T nd = c1 * duc + om * us;                                                               \
    nv -= LD(a23[j]) + LD(a12[j]) * nd;                                                            \
    const T q2 = nv / SAFE(d2), vs = SEL(q2, d2);                                                  \
    ST(tu[j]) = nd;                                                                                \
    ST(tv[j]) = c1 * dvc + om * vs;                                                                \
  } while (0)

static void solve_generic(sf_solver *s, size_t h, size_t w, const float *const *J,
                          const float *u, const float *v, const sf_solver_params *p,
                          float *du_out, float *dv_out) {
  const size_t S = w + 2, H = h + 2, np = padded_floats(h, w);
  float *g[GA_COUNT];
  for (int a = 0; a < GA_COUNT; a++) g[a] = s->buf + (size_t)a * np;
  float *du = g[GA_DU], *dv = g[GA_DV], *ps = g[GA_PSIS];
  memset(du, 0, H * S * sizeof(float));
  memset(dv, 0, H * S * sizeof(float));
  for (size_t i = 0; i < H * S; i++) ps[i] = 1.0f;
  refresh_consts rc;
  refresh_consts_init(&rc, p);
  const float ax = (float)(p->alpha_x / (p->hx * p->hx)), ay = (float)(p->alpha_y / (p->hy * p->hy));
  const float om = (float)p->omega, c1 = (float)(1.0 - p->omega);
  const float as = (float)p->a_smooth, es = (float)(p->a_smooth - 1.0);
  const float ihx = (float)(1.0 / p->hx), ihy = (float)(1.0 / p->hy);
  for (int t = 0; t < p->iterations; t++) {
    rc.real = refresh_due(t, p->update_lag);
    if (t == 0 || rc.real) {
      float A[5];
      for (size_t i = 1; i <= h; i++)
        for (size_t j = 1; j <= w; j++) {
          size_t x = i * S + j;
          data_coef(&rc, J, x, du[x], dv[x], A);
          for (int m = 0; m < 5; m++) g[GA_A11 + m][x] = A[m];
        }
    }
    if (rc.real) { /* before the boundary copy, as the reference does */
      for (size_t i = 0; i < H; i++)
        for (size_t j = 0; j < S; j++) {
          size_t x = i * S + j;
          float ux = grad_f(u, du, x, j, S, 1, ihx), uy = grad_f(u, du, x, i, H, S, ihy);
          float vx = grad_f(v, dv, x, j, S, 1, ihx), vy = grad_f(v, dv, x, i, H, S, ihy);
          float m2 = ux * ux + uy * uy + vx * vx + vy * vy;
          m2 = m2 > 0.0f ? m2 : 0.0f;
          ps[x] = as * pow_pos(m2 + 1e-5f, es);
        }
    }
    boundary_f(du, h, w);
    boundary_f(dv, h, w);
    /* A row's pixels of one colour depend only on pixels of the other colour, so every pixel
     * of the row is computed in one vectorisable pass into tu/tv, and this colour's are
     * copied back. */
    for (int colour = 0; colour < 2; colour++)
      for (size_t i = 1; i <= h; i++) {
        const size_t r = i * S;
        const float *restrict ur = u + r, *restrict vr = v + r, *restrict pr = ps + r;
        const float *restrict dur = du + r, *restrict dvr = dv + r;
        /* rows above (n) and below (s) */
        const float *restrict urn = ur - S, *restrict urs = ur + S, *restrict vrn = vr - S,
                              *restrict vrs = vr + S, *restrict prn = pr - S,
                              *restrict prs = pr + S;
        const float *restrict durn = dur - S, *restrict durs = dur + S, *restrict dvrn = dvr - S,
                              *restrict dvrs = dvr + S;
        const float *restrict a11 = g[GA_A11] + r, *restrict a22 = g[GA_A22] + r;
        const float *restrict a12 = g[GA_A12] + r, *restrict a13 = g[GA_A13] + r;
        const float *restrict a23 = g[GA_A23] + r;
        float *restrict tu = g[GA_TU], *restrict tv = g[GA_TV];
        size_t j = 1;
#if defined(__GNUC__)
        for (; j + 8 <= w + 1; j += 8) /* 8 pixels per step; same operations as below */
          GEN_PIXEL(gv8f, LD_V, ST_V, SAFE_V, SEL_V);
#endif
        for (; j <= w; j++)
          GEN_PIXEL(float, LD_S, ST_S, SAFE_S, SEL_S);
        for (size_t k = 1 + ((i + 1 + (size_t)colour) & 1); k <= w; k += 2) {
          du[r + k] = tu[k];
          dv[r + k] = tv[k];
        }
      }
  }
  memcpy(du_out, du, H * S * sizeof(float));
  memcpy(dv_out, dv, H * S * sizeof(float));
}

/* ---------------------------------------------------------------------------------------
 * gs64: the reference order (column outer, row inner) in double precision
 * ------------------------------------------------------------------------------------- */

static void boundary_d(double *a, size_t h, size_t w) {
  const size_t S = w + 2;
  memcpy(a, a + S, S * sizeof *a);
  memcpy(a + (h + 1) * S, a + h * S, S * sizeof *a);
  for (size_t i = 0; i < h + 2; i++) {
    a[i * S] = a[i * S + 1];
    a[i * S + w + 1] = a[i * S + w];
  }
}

static inline double grad_d(const double *f, const float *g, size_t x, size_t i, size_t n,
                            size_t st, double hh) {
  /* derivative of g + f along an axis of length n at index i (stride st) */
  if (n < 2) return 0.0;
  double c = (double)g[x] + f[x];
  if (i == 0) return ((double)g[x + st] + f[x + st] - c) / hh;
  if (i == n - 1) return (c - ((double)g[x - st] + f[x - st])) / hh;
  return (((double)g[x + st] + f[x + st]) - ((double)g[x - st] + f[x - st])) / (2.0 * hh);
}

static void solve_gs64(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                       const float *v, const sf_solver_params *p, float *du_out, float *dv_out) {
  const size_t S = w + 2, H = h + 2, N = H * S, np = padded_floats(h, w);
  double *base = (double *)s->buf;
  double *du = base, *dv = base + np, *ps = base + 2 * np, *psi = base + 3 * np;
  const int nch = p->nch;
  memset(du, 0, N * sizeof(double));
  memset(dv, 0, N * sizeof(double));
  for (size_t i = 0; i < N; i++) ps[i] = 1.0;
  for (size_t i = 0; i < (size_t)nch * np; i++) psi[i] = 1.0;
  const double ax = p->alpha_x / (p->hx * p->hx), ay = p->alpha_y / (p->hy * p->hy);
  const double om = p->omega;
  for (int t = 0; t < p->iterations; t++) {
    if (refresh_due(t, p->update_lag)) {
      for (int k = 0; k < nch; k++) {
        const float *const *Jk = J + 6 * k;
        double a = p->a_data[k];
        for (size_t x = 0; x < N; x++) {
          double d1 = du[x], d2 = dv[x];
          double q = Jk[0][x] * d1 * d1 + Jk[1][x] * d2 * d2 + 2.0 * Jk[3][x] * d1 * d2 +
                     2.0 * Jk[4][x] * d1 + 2.0 * Jk[5][x] * d2 + Jk[2][x];
          if (q < 0.0) q = 0.0;
          psi[(size_t)k * np + x] = a * pow(q + 1e-5, a - 1.0);
        }
      }
      if (p->a_smooth != 1.0) {
        for (size_t i = 0; i < H; i++)
          for (size_t j = 0; j < S; j++) {
            size_t x = i * S + j;
            double ux = grad_d(du, u, x, j, S, 1, p->hx), uy = grad_d(du, u, x, i, H, S, p->hy);
            double vx = grad_d(dv, v, x, j, S, 1, p->hx), vy = grad_d(dv, v, x, i, H, S, p->hy);
            double m2 = ux * ux + uy * uy + vx * vx + vy * vy;
            if (m2 < 0.0) m2 = 0.0;
            ps[x] = p->a_smooth * pow(m2 + 1e-5, p->a_smooth - 1.0);
          }
      }
    }
    boundary_d(du, h, w);
    boundary_d(dv, h, w);
    for (size_t j = 1; j <= w; j++)
      for (size_t i = 1; i <= h; i++) {
        size_t x = i * S + j;
        const size_t q[4] = {x - 1, x + 1, x + S, x - S};
        double nu = 0.0, nv = 0.0, du_den = 0.0, dv_den = 0.0;
        for (int e = 0; e < 4; e++) {
          double wq = (e < 2 ? ax : ay);
          if (p->a_smooth != 1.0) wq = 0.5 * (ps[x] + ps[q[e]]) * wq;
          nu += wq * ((double)u[q[e]] + du[q[e]] - (double)u[x]);
          nv += wq * ((double)v[q[e]] + dv[q[e]] - (double)v[x]);
          du_den += wq;
          dv_den += wq;
        }
        for (int k = 0; k < nch; k++) {
          const float *const *Jk = J + 6 * k;
          double wp = (double)p->weight[k] * psi[(size_t)k * np + x];
          nu -= wp * (Jk[4][x] + Jk[3][x] * dv[x]);
          du_den += wp * Jk[0][x];
          dv_den += wp * Jk[1][x];
        }
        double us = du_den != 0.0 ? nu / du_den : 0.0;
        du[x] = (1.0 - om) * du[x] + om * us;
        for (int k = 0; k < nch; k++) {
          const float *const *Jk = J + 6 * k;
          double wp = (double)p->weight[k] * psi[(size_t)k * np + x];
          nv -= wp * (Jk[5][x] + Jk[3][x] * du[x]);
        }
        double vs = dv_den != 0.0 ? nv / dv_den : 0.0;
        dv[x] = (1.0 - om) * dv[x] + om * vs;
      }
  }
  for (size_t x = 0; x < N; x++) {
    du_out[x] = (float)du[x];
    dv_out[x] = (float)dv[x];
  }
}

/* ---------------------------------------------------------------------------------------
 * Reference order (a_smooth = 1): lexicographic Gauss-Seidel as a skewed wavefront
 *
 * The reference sweeps column by column, top to bottom, so every pixel sees its upper and
 * left neighbours already updated in the sweep and its lower and right neighbours not yet.
 * Any order that keeps this gives the same result. Here the padded rows go in blocks of V
 * (one row per vector lane) and lane k runs one column behind lane k-1: at step s, lane k
 * updates padded column s - k; its left neighbour is its own result of step s-1, its upper
 * neighbour lane k-1's result of step s-1 (lane 0's is the last row of the block above,
 * finished earlier), and its right and lower neighbours lie in vector s+1, not yet
 * touched. The arrays are stored skewed so that the V pixels of a step are one vector:
 * padded row p = bV + k, column c lives in block b (after one leading spare block),
 * vector c + k, lane k. With V = 1 this is the plain padded layout. Every pixel goes through
 * the same operations as in sweep_px, in every path, so c (V = 1), avx2 (V = 8) and avx512
 * (V = 16) give the same bytes. The frame (Neumann copy, §1.6 item 31) is refreshed before
 * every sweep and the nonlinearity before the sweeps refresh_due names, as in gs64.
 * ------------------------------------------------------------------------------------- */

enum { GS_DU, GS_DV, GS_CU, GS_CV, GS_B1, GS_B2, GS_A12, GS_R1, GS_R2, GS_J };

typedef struct gs_ctx {
  size_t h, w, V, lv, nb, bs; /* padded rows in nb blocks of V = 2^lv; floats per block */
  size_t af;                  /* floats per skewed array */
  float *arr[GS_J + 6 * SF_FLOW_MAX_CH];
  float wx, wy, c1;
  refresh_consts rc;
} gs_ctx;

static inline size_t gs_blocks(size_t h, size_t V) { return (h + 2 + V - 1) / V; }
static inline size_t gs_block_floats(size_t w, size_t V) { return (w + V + 1) * V; }
/* Blocks plus a spare one before and after (read by the first and last rows' lanes). */
static inline size_t gs_array_floats(size_t h, size_t w, size_t V) {
  return round16((gs_blocks(h, V) + 2) * gs_block_floats(w, V));
}
static size_t gs_workspace_floats(size_t h, size_t w, int nch) {
  size_t m = 0;
  for (size_t V = 1; V <= 16; V *= 2) {
    size_t a = gs_array_floats(h, w, V);
    m = a > m ? a : m;
  }
  return (size_t)(GS_J + 6 * nch) * m;
}

/* Index of padded (p, c). */
static inline size_t gs_at(const gs_ctx *g, size_t p, size_t c) {
  const size_t k = p & (g->V - 1);
  return ((p >> g->lv) + 1) * g->bs + (c + k) * g->V + k;
}

static void gs_skew(const gs_ctx *g, const float *src, float *dst) {
  const size_t S = g->w + 2, V = g->V;
  for (size_t p = 0; p < g->h + 2; p++) {
    float *d = dst + gs_at(g, p, 0);
    const float *s = src + p * S;
    for (size_t c = 0; c < S; c++) d[c * V] = s[c];
  }
}

static void gs_unskew(const gs_ctx *g, const float *src, float *dst) {
  const size_t S = g->w + 2, V = g->V;
  for (size_t p = 0; p < g->h + 2; p++) {
    const float *s = src + gs_at(g, p, 0);
    float *d = dst + p * S;
    for (size_t c = 0; c < S; c++) d[c] = s[c * V];
  }
}

/* Neumann frame from the current interior (boundary_d). Corners are never read. */
static void gs_frame(const gs_ctx *g, float *a) {
  const size_t h = g->h, w = g->w, V = g->V;
  float *r0 = a + gs_at(g, 0, 0), *r1 = a + gs_at(g, 1, 0);
  float *rh = a + gs_at(g, h, 0), *rh1 = a + gs_at(g, h + 1, 0);
  for (size_t c = 1; c <= w; c++) {
    r0[c * V] = r1[c * V];
    rh1[c * V] = rh[c * V];
  }
  for (size_t p = 1; p <= h; p++) {
    float *r = a + gs_at(g, p, 0);
    r[0] = r[V];
    r[(w + 1) * V] = r[w * V];
  }
}

/* Coefficients of one pixel at x from its increments before the sweep (refresh_c). */
static inline void gs_coef_px(const gs_ctx *g, size_t x, float du, float dv) {
  float *const *A = g->arr;
  float s[5];
  data_coef(&g->rc, (const float *const *)(A + GS_J), x, du, dv, s);
  coef_finish(&g->rc, s[0], s[1], s[2], s[3], s[4], A[GS_CU][x], A[GS_CV][x], A[GS_B1] + x,
              A[GS_B2] + x, A[GS_A12] + x, A[GS_R1] + x, A[GS_R2] + x);
}

/* One sweep, V = 1: the plain lexicographic order on the padded layout. With refresh, each
 * pixel's coefficients are computed from its increments just before its update (they
 * depend on that pixel alone), which is the same as a refresh pass before the sweep. */
static void gs_sweep_c(const gs_ctx *g, int refresh) {
  const size_t bs = g->bs;
  float *const *A = g->arr;
  for (size_t p = 1; p <= g->h; p++) {
    const size_t o = (p + 1) * bs;
    float *du = A[GS_DU] + o, *dv = A[GS_DV] + o;
    const float *b1 = A[GS_B1] + o, *b2 = A[GS_B2] + o, *a12 = A[GS_A12] + o;
    const float *r1 = A[GS_R1] + o, *r2 = A[GS_R2] + o;
    for (size_t c = 1; c <= g->w; c++) {
      if (refresh) gs_coef_px(g, o + c, du[c], dv[c]);
      sweep_px(du + c, dv + c, du[c - 1], du[c + 1], du[c - bs], du[c + bs], dv[c - 1], dv[c + 1],
               dv[c - bs], dv[c + bs], b1[c], b2[c], a12[c], r1[c], r2[c], g->wx, g->wy, g->c1);
    }
  }
}

#if SF_SOLVER_X86 && defined(__GNUC__)

/* Coefficients of the 8 pixels of vector x from their increments u, v (gs_coef_px). */
AVX2 static inline __attribute__((always_inline)) void gs_coef8(const gs_ctx *g, size_t x, __m256 u,
                                                                __m256 v) {
  const refresh_consts *rc = &g->rc;
  float *const *A = g->arr;
  const __m256 zero = _mm256_setzero_ps();
  __m256 a11 = zero, a22 = zero, s12 = zero, s13 = zero, s23 = zero;
  for (int ch = 0; ch < rc->nch; ch++) {
    float *const *Jk = A + GS_J + 6 * ch;
    __m256 j11 = _mm256_load_ps(Jk[0] + x), j22 = _mm256_load_ps(Jk[1] + x);
    __m256 j12 = _mm256_load_ps(Jk[3] + x), j13 = _mm256_load_ps(Jk[4] + x);
    __m256 j23 = _mm256_load_ps(Jk[5] + x), wk;
    if (rc->real && !rc->lin[ch])
      wk = data_weight8(j11, j22, _mm256_load_ps(Jk[2] + x), j12, j13, j23, u, v,
                        _mm256_set1_ps(rc->e[ch]), _mm256_set1_ps(rc->aW[ch]));
    else
      wk = _mm256_set1_ps(rc->W[ch]);
    a11 = _mm256_fmadd_ps(wk, j11, a11);
    a22 = _mm256_fmadd_ps(wk, j22, a22);
    s12 = _mm256_fmadd_ps(wk, j12, s12);
    s13 = _mm256_fmadd_ps(wk, j13, s13);
    s23 = _mm256_fmadd_ps(wk, j23, s23);
  }
  coef_finish8(rc, a11, a22, s12, s13, s23, A[GS_CU] + x, A[GS_CV] + x, A[GS_B1] + x,
               A[GS_B2] + x, A[GS_A12] + x, A[GS_R1] + x, A[GS_R2] + x);
}

/* One sweep, V = 8. Vector s of block b holds lane k = (padded row 8b + k, column s - k). */
AVX2 static inline __attribute__((always_inline)) void gs_sweep8(const gs_ctx *g, int refresh) {
  const size_t bs = g->bs, w = g->w, h = g->h;
  float *const *A = g->arr;
  const __m256 wx = _mm256_set1_ps(g->wx), wy = _mm256_set1_ps(g->wy), c1 = _mm256_set1_ps(g->c1);
  const __m256i rot_up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
  const __m256i rot_dn = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i wmax = _mm256_set1_epi32((int)w + 1);
  for (size_t b = 0; b < g->nb; b++) {
    /* lanes whose row is an interior row 1..h */
    const __m256i row = _mm256_add_epi32(_mm256_set1_epi32((int)(8 * b)), lane);
    const __m256i rows = _mm256_and_si256(_mm256_cmpgt_epi32(row, _mm256_setzero_si256()),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32((int)h + 1), row));
    if (_mm256_testz_si256(rows, rows)) continue;
    const size_t o0 = (b + 1) * bs;
    float *du = A[GS_DU] + o0, *dv = A[GS_DV] + o0;
    const float *b1 = A[GS_B1] + o0, *b2 = A[GS_B2] + o0, *a12 = A[GS_A12] + o0;
    const float *r1 = A[GS_R1] + o0, *r2 = A[GS_R2] + o0;
    __m256 up = _mm256_load_ps(du), vp = _mm256_load_ps(dv);
    __m256 uc = _mm256_load_ps(du + 8), vc = _mm256_load_ps(dv + 8);
    for (size_t s = 1; s <= w + 7; s++) {
      const size_t o = s * 8;
      if (refresh) gs_coef8(g, o0 + o, uc, vc);
      __m256 un = _mm256_load_ps(du + o + 8), vn = _mm256_load_ps(dv + o + 8);
      /* upper: lane k-1 of vector s-1, lane 0 from lane 7 of the block above (vector s+7);
       * lower: lane k+1 of vector s+1, lane 7 from lane 0 of the block below (vector s-7) */
      __m256 uu = _mm256_blend_ps(_mm256_permutevar8x32_ps(up, rot_up),
                                  _mm256_permutevar8x32_ps(_mm256_load_ps(du - bs + o + 56), rot_up), 0x01);
      __m256 ud = _mm256_blend_ps(_mm256_permutevar8x32_ps(un, rot_dn),
                                  _mm256_permutevar8x32_ps(_mm256_load_ps(du + bs + o - 56), rot_dn), 0x80);
      __m256 vu = _mm256_blend_ps(_mm256_permutevar8x32_ps(vp, rot_up),
                                  _mm256_permutevar8x32_ps(_mm256_load_ps(dv - bs + o + 56), rot_up), 0x01);
      __m256 vd = _mm256_blend_ps(_mm256_permutevar8x32_ps(vn, rot_dn),
                                  _mm256_permutevar8x32_ps(_mm256_load_ps(dv + bs + o - 56), rot_dn), 0x80);
      __m256 a = _mm256_load_ps(a12 + o);
      __m256 nn = _mm256_fmadd_ps(wx, _mm256_add_ps(up, un), _mm256_load_ps(b1 + o));
      nn = _mm256_fmadd_ps(wy, _mm256_add_ps(uu, ud), nn);
      nn = _mm256_fnmadd_ps(a, vc, nn);
      __m256 u1 = _mm256_fmadd_ps(nn, _mm256_load_ps(r1 + o), _mm256_mul_ps(c1, uc));
      __m256 mm = _mm256_fmadd_ps(wx, _mm256_add_ps(vp, vn), _mm256_load_ps(b2 + o));
      mm = _mm256_fmadd_ps(wy, _mm256_add_ps(vu, vd), mm);
      mm = _mm256_fnmadd_ps(a, u1, mm);
      __m256 v1 = _mm256_fmadd_ps(mm, _mm256_load_ps(r2 + o), _mm256_mul_ps(c1, vc));
      /* lanes whose column s - k is an interior column 1..w */
      const __m256i col = _mm256_sub_epi32(_mm256_set1_epi32((int)s), lane);
      const __m256i ok = _mm256_and_si256(
          rows, _mm256_and_si256(_mm256_cmpgt_epi32(col, _mm256_setzero_si256()),
                                 _mm256_cmpgt_epi32(wmax, col)));
      u1 = _mm256_blendv_ps(uc, u1, _mm256_castsi256_ps(ok));
      v1 = _mm256_blendv_ps(vc, v1, _mm256_castsi256_ps(ok));
      _mm256_store_ps(du + o, u1);
      _mm256_store_ps(dv + o, v1);
      up = u1;
      vp = v1;
      uc = un;
      vc = vn;
    }
  }
}

/* One copy per refresh flag, so the plain sweep carries no refresh code. */
AVX2 static void gs_sweep_avx2(const gs_ctx *g, int refresh) {
  if (refresh)
    gs_sweep8(g, 1);
  else
    gs_sweep8(g, 0);
}

/* Coefficients of the 16 pixels of vector x (gs_coef_px). */
AVX512 static inline __attribute__((always_inline)) void gs_coef16(const gs_ctx *g, size_t x,
                                                                   __m512 u, __m512 v) {
  const refresh_consts *rc = &g->rc;
  float *const *A = g->arr;
  const __m512 zero = _mm512_setzero_ps();
  __m512 a11 = zero, a22 = zero, s12 = zero, s13 = zero, s23 = zero;
  for (int ch = 0; ch < rc->nch; ch++) {
    float *const *Jk = A + GS_J + 6 * ch;
    __m512 j11 = _mm512_load_ps(Jk[0] + x), j22 = _mm512_load_ps(Jk[1] + x);
    __m512 j12 = _mm512_load_ps(Jk[3] + x), j13 = _mm512_load_ps(Jk[4] + x);
    __m512 j23 = _mm512_load_ps(Jk[5] + x), wk;
    if (rc->real && !rc->lin[ch])
      wk = data_weight16(j11, j22, _mm512_load_ps(Jk[2] + x), j12, j13, j23, u, v,
                         _mm512_set1_ps(rc->e[ch]), _mm512_set1_ps(rc->aW[ch]));
    else
      wk = _mm512_set1_ps(rc->W[ch]);
    a11 = _mm512_fmadd_ps(wk, j11, a11);
    a22 = _mm512_fmadd_ps(wk, j22, a22);
    s12 = _mm512_fmadd_ps(wk, j12, s12);
    s13 = _mm512_fmadd_ps(wk, j13, s13);
    s23 = _mm512_fmadd_ps(wk, j23, s23);
  }
  coef_finish16(rc, a11, a22, s12, s13, s23, A[GS_CU] + x, A[GS_CV] + x, A[GS_B1] + x,
                A[GS_B2] + x, A[GS_A12] + x, A[GS_R1] + x, A[GS_R2] + x);
}

/* One wavefront of 16 rows: block base o0, its row mask, and the state carried from step
 * to step (vector s-1 updated, vector s not yet). */
typedef struct gs_stream16 {
  float *du, *dv;                        /* block base of the increments */
  const float *b1, *b2, *a12, *r1, *r2;  /* and of the coefficients */
  size_t o0;
  __mmask16 rows;
  __m512 up, vp, uc, vc;
} gs_stream16;

AVX512 static inline __attribute__((always_inline)) void gs_start16(const gs_ctx *g, size_t b,
                                                                    gs_stream16 *q) {
  const __m512i row = _mm512_add_epi32(_mm512_set1_epi32((int)(16 * b)),
                                       _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  q->rows = _mm512_cmpge_epi32_mask(row, _mm512_set1_epi32(1)) &
            _mm512_cmple_epi32_mask(row, _mm512_set1_epi32((int)g->h));
  const size_t o0 = (b + 1) * g->bs;
  q->o0 = o0;
  q->du = g->arr[GS_DU] + o0;
  q->dv = g->arr[GS_DV] + o0;
  q->b1 = g->arr[GS_B1] + o0;
  q->b2 = g->arr[GS_B2] + o0;
  q->a12 = g->arr[GS_A12] + o0;
  q->r1 = g->arr[GS_R1] + o0;
  q->r2 = g->arr[GS_R2] + o0;
  q->up = _mm512_load_ps(q->du);
  q->vp = _mm512_load_ps(q->dv);
  q->uc = _mm512_load_ps(q->du + 16);
  q->vc = _mm512_load_ps(q->dv + 16);
}

/* Step s of a stream: the 16 pixels (row 16b + k, column s - k) of vector s. The vector
 * stores may alias anything, so every pointer and constant lives in a local. */
AVX512 static inline __attribute__((always_inline)) void gs_step16(
    const gs_ctx *g, gs_stream16 *q, size_t s, int refresh, size_t bs, __m512 wx, __m512 wy,
    __m512 c1, __m512i idx_up, __m512i idx_dn, __m512i lane, __m512i one, __m512i wlast) {
  const size_t o = s * 16;
  float *du = q->du, *dv = q->dv;
  const __m512 uc = q->uc, vc = q->vc, up = q->up, vp = q->vp;
  if (refresh) gs_coef16(g, q->o0 + o, uc, vc);
  __m512 un = _mm512_load_ps(du + o + 16), vn = _mm512_load_ps(dv + o + 16);
  /* upper: lane k-1 of vector s-1, lane 0 from lane 15 of the block above (vector s+15);
   * lower: lane k+1 of vector s+1, lane 15 from lane 0 of the block below (vector s-15) */
  __m512 uu = _mm512_permutex2var_ps(up, idx_up, _mm512_load_ps(du - bs + o + 240));
  __m512 ud = _mm512_permutex2var_ps(un, idx_dn, _mm512_load_ps(du + bs + o - 240));
  __m512 vu = _mm512_permutex2var_ps(vp, idx_up, _mm512_load_ps(dv - bs + o + 240));
  __m512 vd = _mm512_permutex2var_ps(vn, idx_dn, _mm512_load_ps(dv + bs + o - 240));
  __m512 a = _mm512_load_ps(q->a12 + o);
  __m512 nn = _mm512_fmadd_ps(wx, _mm512_add_ps(up, un), _mm512_load_ps(q->b1 + o));
  nn = _mm512_fmadd_ps(wy, _mm512_add_ps(uu, ud), nn);
  nn = _mm512_fnmadd_ps(a, vc, nn);
  __m512 u1 = _mm512_fmadd_ps(nn, _mm512_load_ps(q->r1 + o), _mm512_mul_ps(c1, uc));
  __m512 mm = _mm512_fmadd_ps(wx, _mm512_add_ps(vp, vn), _mm512_load_ps(q->b2 + o));
  mm = _mm512_fmadd_ps(wy, _mm512_add_ps(vu, vd), mm);
  mm = _mm512_fnmadd_ps(a, u1, mm);
  __m512 v1 = _mm512_fmadd_ps(mm, _mm512_load_ps(q->r2 + o), _mm512_mul_ps(c1, vc));
  /* lanes whose column s - k is an interior column 1..w */
  const __m512i col = _mm512_sub_epi32(_mm512_set1_epi32((int)s), lane);
  const __mmask16 ok = q->rows & _mm512_cmpge_epi32_mask(col, one) & _mm512_cmple_epi32_mask(col, wlast);
  u1 = _mm512_mask_blend_ps(ok, uc, u1);
  v1 = _mm512_mask_blend_ps(ok, vc, v1);
  _mm512_store_ps(du + o, u1);
  _mm512_store_ps(dv + o, v1);
  q->up = u1;
  q->vp = v1;
  q->uc = un;
  q->vc = vn;
}

/* One sweep, V = 16. Two blocks run at once, the lower one 16 steps behind: it then finds
 * the upper block's last row done where it needs it (vector s + 15 of the block above),
 * and the upper block finds its lower neighbours (vector s - 15 of the block below) not
 * yet touched. The two dependency chains overlap. */
AVX512 static inline __attribute__((always_inline)) void gs_sweep16(const gs_ctx *g, int refresh) {
  const size_t steps = g->w + 15, bs = g->bs; /* s = 1 .. w + 15 */
  const __m512 wx = _mm512_set1_ps(g->wx), wy = _mm512_set1_ps(g->wy), c1 = _mm512_set1_ps(g->c1);
  const __m512i idx_up = _mm512_setr_epi32(31, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
  const __m512i idx_dn = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i one = _mm512_set1_epi32(1), wlast = _mm512_set1_epi32((int)g->w);
#define GS_STEP(Q, S) gs_step16(g, Q, S, refresh, bs, wx, wy, c1, idx_up, idx_dn, lane, one, wlast)
  size_t b = 0;
  while (b < g->nb) {
    gs_stream16 q0, q1;
    gs_start16(g, b, &q0);
    if (b + 1 < g->nb) {
      gs_start16(g, b + 1, &q1);
      size_t s = 1;
      for (; s <= 16 && s <= steps; s++) GS_STEP(&q0, s);
      for (; s <= steps; s++) {
        GS_STEP(&q0, s);
        GS_STEP(&q1, s - 16);
      }
      for (; s <= steps + 16; s++) GS_STEP(&q1, s - 16);
      b += 2;
    } else {
      for (size_t s = 1; s <= steps; s++) GS_STEP(&q0, s);
      b += 1;
    }
  }
#undef GS_STEP
}

AVX512 static void gs_sweep_avx512(const gs_ctx *g, int refresh) {
  if (refresh)
    gs_sweep16(g, 1);
  else
    gs_sweep16(g, 0);
}
#endif

static void solve_gs(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                     const float *v, const sf_solver_params *p, float *du_out, float *dv_out) {
  gs_ctx g;
  void (*sweep)(const gs_ctx *, int) = gs_sweep_c;
  g.V = 1;
  g.lv = 0;
#if SF_SOLVER_X86 && defined(__GNUC__)
  if (s->path == PATH_AVX2) {
    g.V = 8;
    g.lv = 3;
    sweep = gs_sweep_avx2;
  }
  if (s->path == PATH_AVX512) {
    g.V = 16;
    g.lv = 4;
    sweep = gs_sweep_avx512;
  }
#endif
  g.h = h;
  g.w = w;
  g.nb = gs_blocks(h, g.V);
  g.bs = gs_block_floats(w, g.V);
  g.af = gs_array_floats(h, w, g.V);
  for (int a = 0; a < GS_J + 6 * p->nch; a++) g.arr[a] = s->buf + (size_t)a * g.af;
  g.wx = (float)(p->alpha_x / (p->hx * p->hx));
  g.wy = (float)(p->alpha_y / (p->hy * p->hy));
  g.c1 = (float)(1.0 - p->omega);
  refresh_consts_init(&g.rc, p);
  const size_t S = w + 2;
  memset(g.arr[GS_DU], 0, g.af * sizeof(float));
  memset(g.arr[GS_DV], 0, g.af * sizeof(float));
  for (int a = 0; a < 6 * p->nch; a++) gs_skew(&g, J[a], g.arr[GS_J + a]);
  /* sum_q w_q (u_q - u_p) of the interior, constant during the solve */
  for (size_t r = 1; r <= h; r++) {
    float *cu = g.arr[GS_CU] + gs_at(&g, r, 0), *cv = g.arr[GS_CV] + gs_at(&g, r, 0);
    for (size_t c = 1; c <= w; c++) {
      cu[c * g.V] = smooth_part(u + r * S + c, S, g.wx, g.wy);
      cv[c * g.V] = smooth_part(v + r * S + c, S, g.wx, g.wy);
    }
  }
  for (int t = 0; t < p->iterations; t++) {
    g.rc.real = refresh_due(t, p->update_lag);
    gs_frame(&g, g.arr[GS_DU]);
    gs_frame(&g, g.arr[GS_DV]);
    sweep(&g, t == 0 || g.rc.real);
  }
  gs_unskew(&g, g.arr[GS_DU], du_out);
  gs_unskew(&g, g.arr[GS_DV], dv_out);
}

/* ---------------------------------------------------------------------------------------
 * Entry point
 * ------------------------------------------------------------------------------------- */

void sf_solver_execute(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                       const float *v, const sf_solver_params *p, float *du, float *dv) {
  if (!s || !J || !u || !v || !p || !du || !dv || h == 0 || w == 0) return;
  const size_t N = (h + 2) * (w + 2);
  /* The call cannot report an error: a level the workspace was not planned for gives NaN
   * increments, which the caller's validation catches, instead of a silent wrong flow. */
  if (h > s->max_h || w > s->max_w || p->nch < 1 || p->nch > s->nch) {
    for (size_t i = 0; i < N; i++) du[i] = dv[i] = NAN;
    return;
  }
  if (p->iterations <= 0) {
    memset(du, 0, N * sizeof *du);
    memset(dv, 0, N * sizeof *dv);
    return;
  }
  if (s->path == PATH_GS64)
    solve_gs64(s, h, w, J, u, v, p, du, dv);
  else if (p->a_smooth != 1.0)
    solve_generic(s, h, w, J, u, v, p, du, dv);
  else if (p->order == SF_SWEEP_REFERENCE)
    solve_gs(s, h, w, J, u, v, p, du, dv);
  else
    solve_fast(s, h, w, J, u, v, p, du, dv);
}
