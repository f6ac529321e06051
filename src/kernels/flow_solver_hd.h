/* Per-pixel bodies of the flow level solver (spec register.md §1.5, §1.6, slabflow decisions
 * 1 and 2) for the CPU solver paths, the CUDA kernels (one thread per pixel) and the host
 * tests (issue 16 point 3): the polynomial pow, the data weight W_k psi_k, one pixel's
 * refresh of the lagged coefficients, its constant smoothness part, one SOR update, and the
 * Neumann frame. The CPU solver's scalar functions (flow_solver_impl.h) are these bodies.
 *
 * Arithmetic: every multiply feeding an add is two roundings unless written as fmaf, in every
 * path. The CPU files include this header after their `fp contract(off)` pragma; the CUDA
 * file that runs these bodies is compiled with -fmad=false. Padded layout as the solver's:
 * (h+2) x (w+2) floats, row stride S = w+2, a one-pixel frame around the interior. */
#ifndef SF_FLOW_SOLVER_HD_H
#define SF_FLOW_SOLVER_HD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/flow_solver.h"
#include "kernels/sf_hd.h"

/* Constants of a refresh (refresh_consts in the CPU solver). */
typedef struct sf_hd_sor_consts {
  int nch;
  int real;                /* 0: psi = 1 (start of the solve); 1: psi from (du, dv) */
  int lin[SF_FLOW_MAX_CH]; /* a_k == 1: psi_k = 1 without pow */
  float W[SF_FLOW_MAX_CH]; /* W_k, used while psi = 1 or a_k = 1 */
  float aW[SF_FLOW_MAX_CH], e[SF_FLOW_MAX_CH]; /* a_k W_k and a_k - 1 */
  float sumw, omega;                           /* sum of the neighbour weights, relaxation factor */
} sf_hd_sor_consts;

/* Host only: the constants of p (real = 0). */
static inline void sf_hd_sor_consts_init(sf_hd_sor_consts *c, const sf_solver_params *p) {
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

/* Whether the nonlinearity is refreshed at the start of sweep t. */
static inline SF_HD int sf_hd_refresh_due(int t, int lag) { return lag > 0 && (t + 1) % lag == 0; }

/* x^e for finite x >= 1e-5 as 2^(e log2 x) (the derivation and error bounds are at pow_pos
 * in flow_solver_impl.h). */
static inline SF_HD float sf_hd_pow_pos(float x, float e) {
  const float lg_c1 = 2.8853900817779268f, lg_c3 = 0.96179669392597560f;
  const float lg_c5 = 0.57707801635558536f, lg_c7 = 0.41219858311113240f;
  const float ex_d1 = 0.69314718055994531f, ex_d2 = 0.24022650695910071f;
  const float ex_d3 = 0.055504108664821580f, ex_d4 = 0.0096181291076284772f;
  const float ex_d5 = 0.0013333558146428443f, ex_d6 = 0.00015403530393381608f;
  const float round_magic = 12582912.0f; /* 1.5 * 2^23: (y + M) - M rounds y to an integer */
  uint32_t i;
  memcpy(&i, &x, sizeof i);
  int32_t k = (int32_t)(i - 0x3f3504f3u) >> 23; /* 0x3f3504f3: sqrt(1/2) */
  uint32_t mi = i - ((uint32_t)k << 23);
  float m;
  memcpy(&m, &mi, sizeof m);
  float kf = (float)k;
  float t = (m - 1.0f) / (m + 1.0f);
  float t2 = t * t;
  float p = fmaf(t2, lg_c7, lg_c5);
  p = fmaf(p, t2, lg_c3);
  p = fmaf(p, t2, lg_c1);
  float l = fmaf(t, p, kf);
  float y = e * l;
  y = y > -126.0f ? y : -126.0f;
  y = y < 126.0f ? y : 126.0f;
  float n = (y + round_magic) - round_magic;
  float f = y - n;
  float q = fmaf(ex_d6, f, ex_d5);
  q = fmaf(q, f, ex_d4);
  q = fmaf(q, f, ex_d3);
  q = fmaf(q, f, ex_d2);
  q = fmaf(q, f, ex_d1);
  q = fmaf(q, f, 1.0f);
  uint32_t si = (uint32_t)((int32_t)n + 127) << 23;
  float sc;
  memcpy(&sc, &si, sizeof sc);
  return q * sc;
}

/* W_k psi_k of one pixel, psi_k = a_k (max(Q_k, 0) + 1e-5)^(a_k - 1) with the quadratic
 * form of §1.5 evaluated as du (J11 du + 2 (J12 dv + J13)) + (dv (J22 dv + 2 J23) + J33). */
static inline SF_HD float sf_hd_data_weight(const sf_hd_sor_consts *c, int k, float j11, float j22,
                                            float j33, float j12, float j13, float j23, float du,
                                            float dv) {
  if (!c->real || c->lin[k]) return c->W[k];
  float a = fmaf(j12, dv, j13);
  float t1 = fmaf(j11, du, a + a);
  float t2 = fmaf(j22, dv, j23 + j23);
  float q = fmaf(t1, du, fmaf(t2, dv, j33));
  q = q > 0.0f ? q : 0.0f;
  return c->aW[k] * sf_hd_pow_pos(q + 1e-5f, c->e[k]);
}

/* End of one pixel's refresh from the combined data coefficients A = sum_k W_k psi_k J_k:
 * b = (constant smoothness part) - A13, r = omega / (sum_q w_q + A11) (0 for a zero
 * denominator). */
static inline SF_HD void sf_hd_coef_finish(const sf_hd_sor_consts *c, float a11, float a22,
                                           float a12, float a13, float a23, float cu, float cv,
                                           float *b1, float *b2, float *o12, float *r1, float *r2) {
  float d1 = c->sumw + a11, d2 = c->sumw + a22;
  *r1 = d1 != 0.0f ? c->omega / d1 : 0.0f;
  *r2 = d2 != 0.0f ? c->omega / d2 : 0.0f;
  *b1 = cu - a13;
  *b2 = cv - a23;
  *o12 = a12;
}

/* One pixel's refresh: J holds the 6 nch tensor planes (J11, J22, J33, J12, J13, J23 of each
 * channel in turn) plane floats apart, idx the pixel's index in a plane; du, dv its
 * increments before the sweep, cu, cv its constant smoothness parts. The channels are summed
 * in order with fused multiply-adds, as the CPU's data_coef. */
/* The combined data coefficients A = sum_k W_k psi_k J_k of one pixel (A11, A22, A12, A13,
 * A23 into A): J holds the 6 nch tensor planes (J11, J22, J33, J12, J13, J23 of each channel
 * in turn) plane floats apart, idx the pixel's index in a plane, du, dv its increments. The
 * channels are summed in order with fused multiply-adds, as the CPU's data_coef. */
static inline SF_HD void sf_hd_data_sums_px(const sf_hd_sor_consts *c, const float *J, size_t plane,
                                            size_t idx, float du, float dv, float A[5]) {
  float s11 = 0.0f, s22 = 0.0f, s12 = 0.0f, s13 = 0.0f, s23 = 0.0f;
  for (int k = 0; k < c->nch; k++) {
    const float *Jk = J + (size_t)(6 * k) * plane + idx;
    float j11 = Jk[0], j22 = Jk[plane], j33 = Jk[2 * plane];
    float j12 = Jk[3 * plane], j13 = Jk[4 * plane], j23 = Jk[5 * plane];
    float wk = sf_hd_data_weight(c, k, j11, j22, j33, j12, j13, j23, du, dv);
    s11 = fmaf(wk, j11, s11);
    s22 = fmaf(wk, j22, s22);
    s12 = fmaf(wk, j12, s12);
    s13 = fmaf(wk, j13, s13);
    s23 = fmaf(wk, j23, s23);
  }
  A[0] = s11;
  A[1] = s22;
  A[2] = s12;
  A[3] = s13;
  A[4] = s23;
}

/* One pixel's refresh (a_smooth = 1): the data sums of sf_hd_data_sums_px, then
 * sf_hd_coef_finish with its constant smoothness parts cu, cv. */
static inline SF_HD void sf_hd_sor_coef_px(const sf_hd_sor_consts *c, const float *J, size_t plane,
                                           size_t idx, float du, float dv, float cu, float cv,
                                           float *b1, float *b2, float *a12, float *r1, float *r2) {
  float A[5];
  sf_hd_data_sums_px(c, J, plane, idx, du, dv, A);
  sf_hd_coef_finish(c, A[0], A[1], A[2], A[3], A[4], cu, cv, b1, b2, a12, r1, r2);
}

/* Constant smoothness part of a numerator, sum_q w_q (f_q - f_p), at f (padded layout, row
 * stride S). */
static inline SF_HD float sf_hd_smooth_part(const float *f, size_t S, float wx, float wy) {
  return wx * ((f[-1] + f[1]) - (f[0] + f[0])) + wy * ((f[-(ptrdiff_t)S] + f[S]) - (f[0] + f[0]));
}

/* The update of §1.6 item 33 with the constant parts folded, du first, then dv with it,
 * from the neighbours' increments (l, r: columns; u, d: rows). */
static inline SF_HD void sf_hd_sweep_px(float *du, float *dv, float dul, float dur, float duu,
                                        float dud, float dvl, float dvr, float dvu, float dvd,
                                        float b1, float b2, float a12, float r1, float r2, float wx,
                                        float wy, float c1) {
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

/* sf_hd_sweep_px of the padded pixel at idx, in place: its neighbours are read from du, dv. */
static inline SF_HD void sf_hd_sweep_at(float *du, float *dv, size_t S, size_t idx, float b1,
                                        float b2, float a12, float r1, float r2, float wx, float wy,
                                        float c1) {
  sf_hd_sweep_px(du + idx, dv + idx, du[idx - 1], du[idx + 1], du[idx - S], du[idx + S],
                 dv[idx - 1], dv[idx + 1], dv[idx - S], dv[idx + S], b1, b2, a12, r1, r2, wx, wy,
                 c1);
}

/* ---- a_smooth != 1: the lagged-nonlinearity solver (flow_solver_asmooth.c) ------------ */

/* Derivative of g + f (flow plus increment) along a padded axis of length n at index i
 * (stride st) of element x: central inside, one-sided at the ends, 0 for n = 1 (spec
 * register.md §1.6 item 30). */
static inline SF_HD float sf_hd_asm_grad(const float *g, const float *f, size_t x, size_t i,
                                         size_t n, size_t st, float inv_h) {
  if (n < 2) return 0.0f;
  float c = g[x] + f[x];
  if (i == 0) return ((g[x + st] + f[x + st]) - c) * inv_h;
  if (i == n - 1) return (c - (g[x - st] + f[x - st])) * inv_h;
  return ((g[x + st] + f[x + st]) - (g[x - st] + f[x - st])) * (0.5f * inv_h);
}

/* The smoothness weight psi_s of padded pixel (i, j) (frame included) of the (h+2) x S
 * padded flow u, v and increments du, dv: as (max(|grad(u+du)|^2 + |grad(v+dv)|^2, 0) +
 * 1e-5)^es with as = a_smooth, es = a_smooth - 1, inv_hx, inv_hy the inverse spacings. */
static inline SF_HD float sf_hd_asm_psi_px(const float *u, const float *v, const float *du,
                                           const float *dv, size_t i, size_t j, size_t H, size_t S,
                                           float as, float es, float ihx, float ihy) {
  const size_t x = i * S + j;
  float ux = sf_hd_asm_grad(u, du, x, j, S, 1, ihx), uy = sf_hd_asm_grad(u, du, x, i, H, S, ihy);
  float vx = sf_hd_asm_grad(v, dv, x, j, S, 1, ihx), vy = sf_hd_asm_grad(v, dv, x, i, H, S, ihy);
  float m2 = ux * ux + uy * uy + vx * vx + vy * vy;
  m2 = m2 > 0.0f ? m2 : 0.0f;
  return as * sf_hd_pow_pos(m2 + 1e-5f, es);
}

/* One red-black update of the interior padded pixel at idx, in place (du first, then dv with
 * it), from the smoothness weights ps (neighbour weights 0.5 (psi_p + psi_q) ax or ay), the
 * flow u, v, the increments du, dv (neighbours of the other colour) and the data coefficients
 * a11 .. a23 (sf_hd_data_sums_px); a zero denominator gives a zero step. The same operations
 * as the scalar form of flow_solver_asmooth.c's GEN_PIXEL. */
static inline SF_HD void sf_hd_asm_sweep_at(float *du, float *dv, const float *u, const float *v,
                                            const float *ps, size_t S, size_t idx, float a11,
                                            float a22, float a12, float a13, float a23, float ax,
                                            float ay, float om, float c1) {
  const size_t q = idx;
  const float pc = ps[q];
  const float wl = 0.5f * (pc + ps[q - 1]) * ax, wr = 0.5f * (pc + ps[q + 1]) * ax;
  const float wu = 0.5f * (pc + ps[q - S]) * ay, wd = 0.5f * (pc + ps[q + S]) * ay;
  const float uc = u[q], vc = v[q], duc = du[q], dvc = dv[q];
  float nu = wl * ((u[q - 1] + du[q - 1]) - uc);
  nu += wr * ((u[q + 1] + du[q + 1]) - uc);
  nu += wu * ((u[q - S] + du[q - S]) - uc);
  nu += wd * ((u[q + S] + du[q + S]) - uc);
  float nv = wl * ((v[q - 1] + dv[q - 1]) - vc);
  nv += wr * ((v[q + 1] + dv[q + 1]) - vc);
  nv += wu * ((v[q - S] + dv[q - S]) - vc);
  nv += wd * ((v[q + S] + dv[q + S]) - vc);
  const float den = ((wl + wr) + wu) + wd;
  const float d1 = den + a11, d2 = den + a22;
  nu -= a13 + a12 * dvc;
  const float q1 = nu / (d1 != 0.0f ? d1 : 1.0f), us = d1 != 0.0f ? q1 : 0.0f;
  const float nd = c1 * duc + om * us;
  nv -= a23 + a12 * nd;
  const float q2 = nv / (d2 != 0.0f ? d2 : 1.0f), vs = d2 != 0.0f ? q2 : 0.0f;
  du[q] = nd;
  dv[q] = c1 * dvc + om * vs;
}

/* Colour of padded pixel (r, j) in the red-black order: 0 (red, swept first) when r + j is
 * even. */
static inline SF_HD int sf_hd_rb_colour(size_t r, size_t j) { return (int)((r + j) & 1); }

/* Source of frame pixel (r, j) of an h x w padded array under the Neumann boundary (§1.6
 * item 31: the frame copies its interior neighbour), or idx itself for an interior pixel or
 * a corner (corners are never read). */
static inline SF_HD size_t sf_hd_neumann_src(size_t r, size_t j, size_t h, size_t w) {
  const size_t S = w + 2;
  size_t rr = r, jj = j;
  if ((r == 0 || r == h + 1) && (j == 0 || j == w + 1)) return r * S + j;
  if (r == 0) rr = 1;
  if (r == h + 1) rr = h;
  if (j == 0) jj = 1;
  if (j == w + 1) jj = w;
  return rr * S + jj;
}

#endif
