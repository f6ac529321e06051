/* The lagged-nonlinearity SOR level solver for a_smooth = 1 in the reference order (spec
 * register.md §1.6, slabflow decision 1), float32: lexicographic Gauss-Seidel as a skewed
 * wavefront.
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
 * every sweep and the nonlinearity before the sweeps refresh_due names, as in gs64. */
#include <string.h>

#include "kernels/flow_solver_impl.h"

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
size_t sf_sor_lexico_floats(size_t h, size_t w, int nch) {
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

#if SF_SIMD_X86
#define SF_SIMD_W 8
#include "kernels/flow_solver_lexico_template.h"
#define SF_SIMD_W 16
#include "kernels/flow_solver_lexico_template.h"
#endif

/* The sweep of each level and its vector width V. */
typedef struct gs_kernel {
  void (*sweep)(const gs_ctx *g, int refresh);
  size_t V, lv;
} gs_kernel;

static const gs_kernel gs_impl[SF_SIMD_COUNT] = {
    [SF_SIMD_C] = {gs_sweep_c, 1, 0},
#if SF_SIMD_X86
    [SF_SIMD_AVX2] = {gs_sweep_avx2, 8, 3},
    [SF_SIMD_AVX512] = {gs_sweep_avx512, 16, 4},
#else
    [SF_SIMD_AVX2] = {gs_sweep_c, 1, 0},
    [SF_SIMD_AVX512] = {gs_sweep_c, 1, 0},
#endif
};

void sf_sor_lexico(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                   const float *v, const sf_solver_params *p, float *du_out, float *dv_out) {
  const gs_kernel *K = &gs_impl[s->path];
  gs_ctx g;
  g.V = K->V;
  g.lv = K->lv;
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
    K->sweep(&g, t == 0 || g.rc.real);
  }
  gs_unskew(&g, g.arr[GS_DU], du_out);
  gs_unskew(&g, g.arr[GS_DV], dv_out);
}
