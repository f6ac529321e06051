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

/* The per-pixel bodies (shared with the CUDA kernels), after the pragma so that it governs
 * them too. */
#include "kernels/flow_solver_hd.h"

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
static inline int refresh_due(int t, int lag) { return sf_hd_refresh_due(t, lag); }

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

static inline float pow_pos(float x, float e) { return sf_hd_pow_pos(x, e); }

typedef sf_hd_sor_consts refresh_consts;

static inline void refresh_consts_init(refresh_consts *c, const sf_solver_params *p) {
  sf_hd_sor_consts_init(c, p);
}

/* W_k psi_k of one pixel, psi_k = a_k (max(Q_k, 0) + 1e-5)^(a_k - 1) with the quadratic
 * form of §1.5 evaluated as du (J11 du + 2 (J12 dv + J13)) + (dv (J22 dv + 2 J23) + J33). */
static inline float data_weight(const refresh_consts *c, int k, float j11, float j22, float j33,
                                float j12, float j13, float j23, float du, float dv) {
  return sf_hd_data_weight(c, k, j11, j22, j33, j12, j13, j23, du, dv);
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
  sf_hd_sweep_px(du, dv, dul, dur, duu, dud, dvl, dvr, dvu, dvd, b1, b2, a12, r1, r2, wx, wy, c1);
}

/* Per-pixel end of a refresh. */
static inline void coef_finish(const refresh_consts *c, float a11, float a22, float a12,
                               float a13, float a23, float cu, float cv, float *b1, float *b2,
                               float *o12, float *r1, float *r2) {
  sf_hd_coef_finish(c, a11, a22, a12, a13, a23, cu, cv, b1, b2, o12, r1, r2);
}

/* Constant smoothness part of a numerator, sum_q w_q (f_q - f_p), at f (padded layout, row
 * stride S). */
static inline float smooth_part(const float *f, size_t S, float wx, float wy) {
  return sf_hd_smooth_part(f, S, wx, wy);
}

#endif
