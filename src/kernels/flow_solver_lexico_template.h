/* The vector sweep of the reference-order solver (flow_solver_lexico.c), written once in the
 * operations of simd_ops.h and compiled once per width (block height V = VW): that file defines
 * SF_SIMD_W and includes this header, which #undefs SF_SIMD_W at its end (no include guard).
 * Defines SIMD_FN(gs_sweep), the vector twin of gs_sweep_c: every pixel goes through sweep_px's
 * operations. */
#include "kernels/simd_ops.h"
/* after the operations it is written in */
#include "kernels/flow_solver_vec_template.h"

/* Coefficients of the VW pixels of vector x from their increments u, v (gs_coef_px). */
SIMD_ATTR static inline __attribute__((always_inline)) void SIMD_FN(gs_coef)(const gs_ctx *g,
                                                                             size_t x, VF u, VF v) {
  const refresh_consts *rc = &g->rc;
  float *const *A = g->arr;
  const VF zero = V_ZERO();
  VF a11 = zero, a22 = zero, s12 = zero, s13 = zero, s23 = zero;
  for (int ch = 0; ch < rc->nch; ch++) {
    float *const *Jk = A + GS_J + 6 * ch;
    VF j11 = V_LOAD(Jk[0] + x), j22 = V_LOAD(Jk[1] + x);
    VF j12 = V_LOAD(Jk[3] + x), j13 = V_LOAD(Jk[4] + x);
    VF j23 = V_LOAD(Jk[5] + x), wk;
    if (rc->real && !rc->lin[ch])
      wk = SIMD_FN(data_weight)(j11, j22, V_LOAD(Jk[2] + x), j12, j13, j23, u, v,
                                V_SET1(rc->e[ch]), V_SET1(rc->aW[ch]));
    else
      wk = V_SET1(rc->W[ch]);
    a11 = V_FMADD(wk, j11, a11);
    a22 = V_FMADD(wk, j22, a22);
    s12 = V_FMADD(wk, j12, s12);
    s13 = V_FMADD(wk, j13, s13);
    s23 = V_FMADD(wk, j23, s23);
  }
  SIMD_FN(coef_finish)(rc, a11, a22, s12, s13, s23, A[GS_CU] + x, A[GS_CV] + x, A[GS_B1] + x,
                       A[GS_B2] + x, A[GS_A12] + x, A[GS_R1] + x, A[GS_R2] + x);
}

/* One wavefront of VW rows: block base o0, its row mask, and the state carried from step
 * to step (vector s-1 updated, vector s not yet). */
typedef struct SIMD_FN(gs_stream) {
  float *du, *dv;                       /* block base of the increments */
  const float *b1, *b2, *a12, *r1, *r2; /* and of the coefficients */
  size_t o0;
  VM rows;
  VF up, vp, uc, vc;
} SIMD_FN(gs_stream);

SIMD_ATTR static inline __attribute__((always_inline)) void
SIMD_FN(gs_start)(const gs_ctx *g, size_t b, SIMD_FN(gs_stream) *q) {
  /* lanes whose row is an interior row 1..h */
  q->rows = V_IN(VI_ADD(VI_SET1((int)(VW * b)), VI_LANES()), 1, g->h);
  const size_t o0 = (b + 1) * g->bs;
  q->o0 = o0;
  q->du = g->arr[GS_DU] + o0;
  q->dv = g->arr[GS_DV] + o0;
  q->b1 = g->arr[GS_B1] + o0;
  q->b2 = g->arr[GS_B2] + o0;
  q->a12 = g->arr[GS_A12] + o0;
  q->r1 = g->arr[GS_R1] + o0;
  q->r2 = g->arr[GS_R2] + o0;
  q->up = V_LOAD(q->du);
  q->vp = V_LOAD(q->dv);
  q->uc = V_LOAD(q->du + VW);
  q->vc = V_LOAD(q->dv + VW);
}

/* Step s of a stream: the VW pixels (row VW b + k, column s - k) of vector s. The vector
 * stores may alias anything, so every pointer and constant lives in a local. */
SIMD_ATTR static inline __attribute__((always_inline)) void
SIMD_FN(gs_step)(const gs_ctx *g, SIMD_FN(gs_stream) *q, size_t s, int refresh, size_t bs, VF wx,
                 VF wy, VF c1, VI lane, int w) {
  const size_t o = s * VW;
  float *du = q->du, *dv = q->dv;
  const VF uc = q->uc, vc = q->vc, up = q->up, vp = q->vp;
  if (refresh) SIMD_FN(gs_coef)(g, q->o0 + o, uc, vc);
  VF un = V_LOAD(du + o + VW), vn = V_LOAD(dv + o + VW);
  /* upper: lane k-1 of vector s-1, lane 0 from the last lane of the block above (vector
   * s + VW-1); lower: lane k+1 of vector s+1, the last lane from lane 0 of the block below
   * (vector s - (VW-1)) */
  VF uu = V_SHIFT_LO(up, V_LOAD(du - bs + o + VW * (VW - 1)));
  VF ud = V_SHIFT_HI(un, V_LOAD(du + bs + o - VW * (VW - 1)));
  VF vu = V_SHIFT_LO(vp, V_LOAD(dv - bs + o + VW * (VW - 1)));
  VF vd = V_SHIFT_HI(vn, V_LOAD(dv + bs + o - VW * (VW - 1)));
  VF a = V_LOAD(q->a12 + o);
  VF nn = V_FMADD(wx, V_ADD(up, un), V_LOAD(q->b1 + o));
  nn = V_FMADD(wy, V_ADD(uu, ud), nn);
  nn = V_FNMADD(a, vc, nn);
  VF u1 = V_FMADD(nn, V_LOAD(q->r1 + o), V_MUL(c1, uc));
  VF mm = V_FMADD(wx, V_ADD(vp, vn), V_LOAD(q->b2 + o));
  mm = V_FMADD(wy, V_ADD(vu, vd), mm);
  mm = V_FNMADD(a, u1, mm);
  VF v1 = V_FMADD(mm, V_LOAD(q->r2 + o), V_MUL(c1, vc));
  /* lanes whose column s - k is an interior column 1..w */
  const VM ok = VM_AND(q->rows, V_IN(VI_SUB(VI_SET1((int)s), lane), 1, w));
  u1 = V_BLEND(ok, uc, u1);
  v1 = V_BLEND(ok, vc, v1);
  V_STORE(du + o, u1);
  V_STORE(dv + o, v1);
  q->up = u1;
  q->vp = v1;
  q->uc = un;
  q->vc = vn;
}

/* One sweep. At 16 lanes two blocks run at once, the lower one 16 steps behind: it then
 * finds the upper block's last row done where it needs it (vector s + 15 of the block
 * above), and the upper block finds its lower neighbours (vector s - 15 of the block below)
 * not yet touched; the two dependency chains overlap. At 8 lanes one block at a time. A
 * block without interior rows is skipped (its stores would write back what they loaded). */
SIMD_ATTR static inline __attribute__((always_inline)) void SIMD_FN(gs_sweep_body)(const gs_ctx *g,
                                                                                   int refresh) {
  const size_t steps = g->w + VW - 1, bs = g->bs; /* s = 1 .. w + VW-1 */
  const VF wx = V_SET1(g->wx), wy = V_SET1(g->wy), c1 = V_SET1(g->c1);
  const VI lane = VI_LANES();
  const int w = (int)g->w;
#define GS_STEP(Q, S) SIMD_FN(gs_step)(g, Q, S, refresh, bs, wx, wy, c1, lane, w)
  size_t b = 0;
  while (b < g->nb) {
    SIMD_FN(gs_stream) q0;
    SIMD_FN(gs_start)(g, b, &q0);
#if VW >= 16
    if (b + 1 < g->nb) {
      SIMD_FN(gs_stream) q1;
      SIMD_FN(gs_start)(g, b + 1, &q1);
      size_t s = 1;
      for (; s <= VW && s <= steps; s++) GS_STEP(&q0, s);
      for (; s <= steps; s++) {
        GS_STEP(&q0, s);
        GS_STEP(&q1, s - VW);
      }
      for (; s <= steps + VW; s++) GS_STEP(&q1, s - VW);
      b += 2;
      continue;
    }
#endif
    if (!VM_NONE(q0.rows))
      for (size_t s = 1; s <= steps; s++) GS_STEP(&q0, s);
    b += 1;
  }
#undef GS_STEP
}

/* One copy per refresh flag, so the plain sweep carries no refresh code. */
SIMD_ATTR static void SIMD_FN(gs_sweep)(const gs_ctx *g, int refresh) {
  if (refresh)
    SIMD_FN(gs_sweep_body)(g, 1);
  else
    SIMD_FN(gs_sweep_body)(g, 0);
}

#undef SF_SIMD_W
#include "kernels/simd_ops.h" /* clears the operations */
