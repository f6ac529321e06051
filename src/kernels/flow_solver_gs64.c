/* "gs64": the reference's order (column index outer, row index inner, lexicographic
 * Gauss-Seidel) in double precision, scalar, for parity experiments (spec register.md §1.6,
 * slabflow decision 1). Its bytes differ from the float paths'. */
#include <math.h>
#include <string.h>

#include "kernels/flow_solver_impl.h"

/* du, dv, the smoothness psi and one data psi per channel, padded, in doubles. */
size_t sf_sor_gs64_floats(size_t h, size_t w, int nch) {
  return (size_t)(3 + nch) * 2 * padded_floats(h, w);
}

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

void sf_sor_gs64(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
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
