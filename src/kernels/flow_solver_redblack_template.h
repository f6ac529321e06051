/* The vector kernels of the red-black solver (flow_solver_redblack.c), written once in the
 * operations of simd_ops.h and compiled once per width: that file defines SF_SIMD_W and
 * includes this header, which #undefs SF_SIMD_W at its end (no include guard). The
 * functions are SIMD_FN(sweep), SIMD_FN(refresh), SIMD_FN(prep), SIMD_FN(merge) and
 * SIMD_FN(window), the vector twins of sweep_c, refresh_c, prep_c, merge_c and window_c:
 * the same operations, lane by lane. */
#include "kernels/simd_ops.h"
/* after the operations it is written in */
#include "kernels/flow_solver_vec_template.h"

/* The update of VW pixels at K (sweep_px) from their left/right neighbours LU, RU, LV, RV. */
#define RB_BODY(K, LU, RU, LV, RV)                                                                 \
  VF dus = V_LOAD(q.du + (K)), dvs = V_LOAD(q.dv + (K));                                           \
  VF a12v = V_LOAD(q.a12 + (K));                                                                   \
  VF nn = V_FMADD(wx, V_ADD(LU, RU), V_LOAD(q.b1 + (K)));                                          \
  nn = V_FMADD(wy, V_ADD(V_LOAD(q.duu + (K)), V_LOAD(q.dud + (K))), nn);                           \
  nn = V_FNMADD(a12v, dvs, nn);                                                                    \
  VF u1 = V_FMADD(nn, V_LOAD(q.r1 + (K)), V_MUL(c1, dus));                                         \
  VF mm = V_FMADD(wx, V_ADD(LV, RV), V_LOAD(q.b2 + (K)));                                          \
  mm = V_FMADD(wy, V_ADD(V_LOAD(q.dvu + (K)), V_LOAD(q.dvd + (K))), mm);                           \
  mm = V_FNMADD(a12v, u1, mm);                                                                     \
  VF v1 = V_FMADD(mm, V_LOAD(q.r2 + (K)), V_MUL(c1, dvs));

/* Half-row hf of row r (sweep_c). The other half's left/right neighbours: at 8 lanes two
 * unaligned loads (cheaper than a cross-lane shift); at 16, aligned loads shifted by one lane
 * (valignd), since an unaligned 64-byte load always splits a cache line. */
SIMD_ATTR static inline void SIMD_FN(sweep)(const fast_ctx *c, size_t r, int hf) {
  sweep_ptrs q;
  sweep_ptrs_get(c, r, hf, &q);
  const VF wx = V_SET1(c->wx), wy = V_SET1(c->wy), c1 = V_SET1(c->c1);
  const size_t n = c->n[hf];
  size_t k = 0;
#if VW < 16
  const float *ul = hf ? q.ou : q.ou - 1, *ur = hf ? q.ou + 1 : q.ou;
  const float *vl = hf ? q.ov : q.ov - 1, *vr = hf ? q.ov + 1 : q.ov;
  for (; k + VW <= n; k += VW) {
    RB_BODY(k, V_LOADU(ul + k), V_LOADU(ur + k), V_LOADU(vl + k), V_LOADU(vr + k))
    V_STORE(q.du + k, u1);
    V_STORE(q.dv + k, v1);
  }
  if (k < n) {
    const VM msk = V_FIRST(n - k);
    RB_BODY(k, V_LOADU(ul + k), V_LOADU(ur + k), V_LOADU(vl + k), V_LOADU(vr + k))
    V_MASKSTORE(q.du + k, msk, u1);
    V_MASKSTORE(q.dv + k, msk, v1);
  }
#else
  const VM tail = V_FIRST(n % VW);
  if (hf == 0) { /* P: left Q[k-1], right Q[k] */
    VF pu = V_LOAD(q.ou - VW), pv = V_LOAD(q.ov - VW);
    for (; k < n; k += VW) {
      VF cu = V_LOAD(q.ou + k), cv = V_LOAD(q.ov + k);
      RB_BODY(k, V_SHIFT_LO(cu, pu), cu, V_SHIFT_LO(cv, pv), cv)
      pu = cu;
      pv = cv;
      if (k + VW <= n) {
        V_STORE(q.du + k, u1);
        V_STORE(q.dv + k, v1);
      } else {
        V_MASKSTORE(q.du + k, tail, u1);
        V_MASKSTORE(q.dv + k, tail, v1);
      }
    }
  } else { /* Q: left P[k], right P[k+1] */
    VF cu = V_LOAD(q.ou), cv = V_LOAD(q.ov);
    for (; k < n; k += VW) {
      VF nu = V_LOAD(q.ou + k + VW), nv = V_LOAD(q.ov + k + VW);
      RB_BODY(k, cu, V_SHIFT_HI(cu, nu), cv, V_SHIFT_HI(cv, nv))
      cu = nu;
      cv = nv;
      if (k + VW <= n) {
        V_STORE(q.du + k, u1);
        V_STORE(q.dv + k, v1);
      } else {
        V_MASKSTORE(q.du + k, tail, u1);
        V_MASKSTORE(q.dv + k, tail, v1);
      }
    }
  }
#endif
}

/* The 2 VW floats at p, of which rem are valid (the rest read as 0), split into the even
 * (P) and odd (Q) ones. */
SIMD_ATTR static inline void SIMD_FN(deint)(const float *p, size_t rem, VF *P, VF *Q) {
  VF lo, hi;
  if (rem >= 2 * VW) {
    lo = V_LOADU(p);
    hi = V_LOADU(p + VW);
  } else {
    lo = V_LOADZ(p, rem);
    hi = V_LOADZ(p + VW, rem > VW ? rem - VW : 0);
  }
  V_UNZIP(lo, hi, *P, *Q);
}

/* Both halves of row r at once (refresh_c): each load of 2 VW tensor values feeds VW P and
 * VW Q pixels, and the two independent pow chains overlap. Q lanes past n[1] compute finite
 * values that land in the coefficient rows' slack. */
SIMD_ATTR static void SIMD_FN(refresh)(const fast_ctx *c, size_t r) {
  const refresh_consts *rc = &c->rc;
  const VF zero = V_ZERO();
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
  for (size_t k = 0; k < c->n[0]; k += VW) {
    const size_t rem = c->w - 2 * k, o = off + 2 * k; /* valid floats from column 1 + 2k */
    VF up = V_LOAD(du[0] + k), vp = V_LOAD(dv[0] + k);
    VF uq = V_LOAD(du[1] + k), vq = V_LOAD(dv[1] + k);
    VF p11 = zero, p22 = zero, p12 = zero, p13 = zero, p23 = zero;
    VF q11 = zero, q22 = zero, q12 = zero, q13 = zero, q23 = zero;
    for (int ch = 0; ch < rc->nch; ch++) {
      const float *const *Jk = c->J + 6 * ch;
      VF P11, P22, P12, P13, P23, Q11, Q22, Q12, Q13, Q23, wp, wq;
      SIMD_FN(deint)(Jk[0] + o, rem, &P11, &Q11);
      SIMD_FN(deint)(Jk[1] + o, rem, &P22, &Q22);
      SIMD_FN(deint)(Jk[3] + o, rem, &P12, &Q12);
      SIMD_FN(deint)(Jk[4] + o, rem, &P13, &Q13);
      SIMD_FN(deint)(Jk[5] + o, rem, &P23, &Q23);
      if (rc->real && !rc->lin[ch]) {
        VF P33, Q33;
        SIMD_FN(deint)(Jk[2] + o, rem, &P33, &Q33);
        const VF e = V_SET1(rc->e[ch]), aW = V_SET1(rc->aW[ch]);
        wp = SIMD_FN(data_weight)(P11, P22, P33, P12, P13, P23, up, vp, e, aW);
        wq = SIMD_FN(data_weight)(Q11, Q22, Q33, Q12, Q13, Q23, uq, vq, e, aW);
      } else {
        wp = wq = V_SET1(rc->W[ch]);
      }
      p11 = V_FMADD(wp, P11, p11);
      p22 = V_FMADD(wp, P22, p22);
      p12 = V_FMADD(wp, P12, p12);
      p13 = V_FMADD(wp, P13, p13);
      p23 = V_FMADD(wp, P23, p23);
      q11 = V_FMADD(wq, Q11, q11);
      q22 = V_FMADD(wq, Q22, q22);
      q12 = V_FMADD(wq, Q12, q12);
      q13 = V_FMADD(wq, Q13, q13);
      q23 = V_FMADD(wq, Q23, q23);
    }
    SIMD_FN(coef_finish)(rc, p11, p22, p12, p13, p23, cu[0] + k, cv[0] + k, b1[0] + k,
                         b2[0] + k, a12[0] + k, r1[0] + k, r2[0] + k);
    SIMD_FN(coef_finish)(rc, q11, q22, q12, q13, q23, cu[1] + k, cv[1] + k, b1[1] + k,
                         b2[1] + k, a12[1] + k, r1[1] + k, r2[1] + k);
  }
}

/* smooth_part of VW pixels. */
SIMD_ATTR static inline VF SIMD_FN(smooth_part)(const float *f, size_t S, VF wx, VF wy) {
  VF c = V_LOADU(f), cc = V_ADD(c, c);
  VF x = V_SUB(V_ADD(V_LOADU(f - 1), V_LOADU(f + 1)), cc);
  VF y = V_SUB(V_ADD(V_LOADU(f - S), V_LOADU(f + S)), cc);
  return V_ADD(V_MUL(wx, x), V_MUL(wy, y));
}

SIMD_ATTR static void SIMD_FN(prep)(const float *f, size_t S, size_t n, float wx, float wy,
                                    float *P, float *Q) {
  const VF vx = V_SET1(wx), vy = V_SET1(wy);
  size_t k = 0;
  for (; 2 * k + 2 * VW <= n; k += VW) {
    VF lo = SIMD_FN(smooth_part)(f + 2 * k, S, vx, vy);
    VF hi = SIMD_FN(smooth_part)(f + 2 * k + VW, S, vx, vy);
    VF e, o;
    V_UNZIP(lo, hi, e, o);
    V_STORE(P + k, e);
    V_STORE(Q + k, o);
  }
  prep_c(f + 2 * k, S, n - 2 * k, wx, wy, P + k, Q + k);
}

SIMD_ATTR static void SIMD_FN(merge)(const float *P, const float *Q, size_t n, float *o) {
  size_t k = 0;
  for (; 2 * k + 2 * VW <= n; k += VW) {
    VF lo, hi;
    V_ZIP(V_LOAD(P + k), V_LOAD(Q + k), lo, hi);
    V_STOREU(o + 2 * k, lo);
    V_STOREU(o + 2 * k + VW, hi);
  }
  merge_c(P + k, Q + k, n - 2 * k, o + 2 * k);
}

DEFINE_WINDOW(SIMD_FN(window), SIMD_ATTR, SIMD_FN(sweep))

#undef RB_BODY
#undef SF_SIMD_W
#include "kernels/simd_ops.h" /* clears the operations */
