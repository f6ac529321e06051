/* Vector versions of the solver's shared per-pixel arithmetic (flow_solver_impl.h), written
 * once in the operations of simd_ops.h; included by the solver templates once per width, so
 * no include guard. Each function does its scalar twin's operations, lane by lane. */

/* pow_pos of VW lanes. */
SIMD_ATTR static inline VF SIMD_FN(pow_pos)(VF x, VF e) {
  VI i = V_AS_I(x);
  VI k = VI_SRAI(VI_SUB(i, VI_SET1((int)SQRT_HALF_BITS)), 23);
  VF m = VI_AS_V(VI_SUB(i, VI_SLLI(k, 23)));
  VF kf = V_CVT_I2F(k);
  const VF one = V_SET1(1.0f);
  VF t = V_DIV(V_SUB(m, one), V_ADD(m, one));
  VF t2 = V_MUL(t, t);
  VF p = V_FMADD(t2, V_SET1(LG_C7), V_SET1(LG_C5));
  p = V_FMADD(p, t2, V_SET1(LG_C3));
  p = V_FMADD(p, t2, V_SET1(LG_C1));
  VF l = V_FMADD(t, p, kf);
  VF y = V_MUL(e, l);
  y = V_MAX(y, V_SET1(-126.0f));
  y = V_MIN(y, V_SET1(126.0f));
  const VF mg = V_SET1(ROUND_MAGIC);
  VF n = V_SUB(V_ADD(y, mg), mg);
  VF f = V_SUB(y, n);
  VF q = V_FMADD(V_SET1(EX_D6), f, V_SET1(EX_D5));
  q = V_FMADD(q, f, V_SET1(EX_D4));
  q = V_FMADD(q, f, V_SET1(EX_D3));
  q = V_FMADD(q, f, V_SET1(EX_D2));
  q = V_FMADD(q, f, V_SET1(EX_D1));
  q = V_FMADD(q, f, one);
  VI si = VI_SLLI(VI_ADD(V_CVTT_F2I(n), VI_SET1(127)), 23);
  return V_MUL(q, VI_AS_V(si));
}

/* W_k psi_k of VW pixels (data_weight). */
SIMD_ATTR static inline VF SIMD_FN(data_weight)(VF j11, VF j22, VF j33, VF j12, VF j13, VF j23,
                                                VF u, VF v, VF e, VF aW) {
  VF a = V_FMADD(j12, v, j13);
  VF t1 = V_FMADD(j11, u, V_ADD(a, a));
  VF t2 = V_FMADD(j22, v, V_ADD(j23, j23));
  VF qf = V_FMADD(t1, u, V_FMADD(t2, v, j33));
  qf = V_MAX(qf, V_ZERO());
  return V_MUL(aW, SIMD_FN(pow_pos)(V_ADD(qf, V_SET1(1e-5f)), e));
}

/* Coefficients of VW pixels from their sums (coef_finish), stored at aligned addresses. */
SIMD_ATTR static inline void SIMD_FN(coef_finish)(const refresh_consts *rc, VF a11, VF a22, VF s12,
                                                  VF s13, VF s23, const float *cu, const float *cv,
                                                  float *b1, float *b2, float *a12, float *r1,
                                                  float *r2) {
  const VF sumw = V_SET1(rc->sumw), om = V_SET1(rc->omega);
  VF d1 = V_ADD(sumw, a11), d2 = V_ADD(sumw, a22);
  V_STORE(r1, V_DIV_NZ(om, d1));
  V_STORE(r2, V_DIV_NZ(om, d2));
  V_STORE(b1, V_SUB(V_LOAD(cu), s13));
  V_STORE(b2, V_SUB(V_LOAD(cv), s23));
  V_STORE(a12, s12);
}
