/* Module-private parts of the flow solver (flow_solver*.c): the workspace, the per-pixel
 * arithmetic every path shares (the scalar reference versions; the vector ones are in
 * flow_solver_vec_template.h), and the solvers behind sf_solver_execute. Each file of the
 * solver includes this header after its other includes: from here on, a multiply feeding an
 * add stays two roundings in every path (the pragma below governs our functions and the
 * intrinsics inlined into them, not the system headers above it). */
#ifndef SF_FLOW_SOLVER_IMPL_H
#define SF_FLOW_SOLVER_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/flow_solver.h"
#include "kernels/simd_level.h"

#if SF_SIMD_X86
#include <immintrin.h>
#endif

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Code paths: the sf_simd_level values, then the double-precision reference order. */
enum { SF_SOLVER_GS64 = SF_SIMD_COUNT, SF_SOLVER_PATHS };

struct sf_solver {
  size_t max_h, max_w;
  int nch;
  int path, best;
  float *buf; /* 64-byte aligned, every path carves its arrays from it */
  size_t buf_floats;
};

static inline size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }
static inline size_t padded_floats(size_t h, size_t w) { return round16((h + 2) * (w + 2)); }

/* Whether the nonlinearity is refreshed at the start of sweep t. */
static inline int refresh_due(int t, int lag) { return lag > 0 && (t + 1) % lag == 0; }

/* The solvers of one level (sf_solver_execute picks one) and the floats of workspace each
 * needs for an h x w level with nch channels. */
typedef void sf_sor_fn(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                       const float *v, const sf_solver_params *p, float *du_out, float *dv_out);
sf_sor_fn sf_sor_redblack; /* a_smooth = 1, red-black order: flow_solver_redblack.c */
sf_sor_fn sf_sor_lexico;   /* a_smooth = 1, reference order: flow_solver_lexico.c */
sf_sor_fn sf_sor_asmooth;  /* a_smooth != 1: flow_solver_asmooth.c */
sf_sor_fn sf_sor_gs64;     /* double precision, reference order: flow_solver_gs64.c */
size_t sf_sor_redblack_floats(size_t h, size_t w);
size_t sf_sor_lexico_floats(size_t h, size_t w, int nch);
size_t sf_sor_asmooth_floats(size_t h, size_t w);
size_t sf_sor_gs64_floats(size_t h, size_t w, int nch);

/* x^e for finite x >= 1e-5 as 2^(e log2 x). log2 on [sqrt(1/2), sqrt(2)) from
 * 2 atanh(t)/ln 2, t = (m-1)/(m+1), |t| <= 0.172, to t^7 (truncation < 5e-8); 2^f on
 * [-1/2, 1/2] by its Taylor series to degree 6 (< 1.2e-7). The vector versions
 * (flow_solver_vec_template.h) do the same operations. Relative error < 1.5e-6 for x in
 * [1e-5, 1e4], < 6e-6 up to 1e30. */
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

static inline void refresh_consts_init(refresh_consts *c, const sf_solver_params *p) {
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

/* Constant smoothness part of a numerator, sum_q w_q (f_q - f_p), at f (padded layout, row
 * stride S). */
static inline float smooth_part(const float *f, size_t S, float wx, float wy) {
  return wx * ((f[-1] + f[1]) - (f[0] + f[0])) + wy * ((f[-(ptrdiff_t)S] + f[S]) - (f[0] + f[0]));
}

#endif
