/* The lagged-nonlinearity SOR level solver for a_smooth != 1 (spec register.md §1.6), float32:
 * red-black on the padded layout, one code for every float path (each row of one colour
 * computed 8 pixels at a time with GCC vector types, the same operations as its scalar
 * tail). */
#include <string.h>

#include "kernels/flow_solver_impl.h"

/* Padded-layout float arrays. */
enum { GA_DU, GA_DV, GA_PSIS, GA_A11, GA_A22, GA_A12, GA_A13, GA_A23, GA_TU, GA_TV, GA_COUNT };

size_t sf_sor_asmooth_floats(size_t h, size_t w) { return GA_COUNT * padded_floats(h, w); }

static void boundary_f(float *a, size_t h, size_t w) {
  const size_t S = w + 2;
  memcpy(a, a + S, S * sizeof *a);
  memcpy(a + (h + 1) * S, a + h * S, S * sizeof *a);
  for (size_t i = 0; i < h + 2; i++) {
    a[i * S] = a[i * S + 1];
    a[i * S + w + 1] = a[i * S + w];
  }
}

#if defined(__GNUC__)
/* 8 floats, unaligned (aligned(4)), for the row pass of sf_sor_asmooth. */
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

void sf_sor_asmooth(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                    const float *v, const sf_solver_params *p, float *du_out, float *dv_out) {
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
        for (size_t j = 0; j < S; j++) /* the smoothness weight (flow_solver_hd.h, the device's) */
          ps[i * S + j] = sf_hd_asm_psi_px(u, v, du, dv, i, j, H, S, as, es, ihx, ihy);
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
