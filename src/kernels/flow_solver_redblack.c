/* The lagged-nonlinearity SOR level solver for a_smooth = 1 in red-black order (spec
 * register.md §1.6, slabflow decisions 1 and 2), float32. A red-black result does not depend
 * on the order of the pixels inside a half-sweep, so the vector paths are free to walk the
 * rows in a wavefront that runs several sweeps in one pass over memory.
 *
 * Fast-path layout ("checkerboard-compressed"): every padded row r (0..h+1) of du, dv and
 * of the per-pixel coefficients is split into two half-rows, P (odd padded columns
 * j = 2k+1) and Q (even columns j = 2k+2, so the left frame column j = 0 is Q[-1]). The
 * pixels of one colour in a row are one half-row, and their neighbours are the other half
 * of the same row (offsets -1/0 or 0/+1) and the same half of the rows above and below, so
 * a half-sweep is unit-stride. Every half-row starts 64-byte aligned at k = 0. */
#include <stdlib.h>
#include <string.h>

#include "kernels/flow_solver_impl.h"

/* Compressed arrays: increments, the constant smoothness parts, and the coefficients (their
 * rows in a ring when every window starts with a refresh). */
enum { CA_DU, CA_DV, CA_CU, CA_CV, CA_B1, CA_B2, CA_A12, CA_R1, CA_R2, CA_COUNT };

/* Half-row stride: 16 floats before k = 0 (Q[-1] is the left frame), the longest half
 * (w/2 + 1 entries with the frame), and two vectors of slack for full-width accesses. */
static inline size_t half_stride(size_t w) { return 16 + round16(w / 2 + 2) + 32; }
static inline size_t fast_array_floats(size_t h, size_t w) {
  return 2 * (h + 2) * half_stride(w) + 64;
}

size_t sf_sor_redblack_floats(size_t h, size_t w) { return CA_COUNT * fast_array_floats(h, w); }

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

/* The constant smoothness parts of n floats of a padded row (from column 1, stride S), split
 * into P[k] (column 2k+1) and Q[k] (2k+2). */
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

#if SF_SIMD_X86
#define SF_SIMD_W 8
#include "kernels/flow_solver_redblack_template.h"
#define SF_SIMD_W 16
#include "kernels/flow_solver_redblack_template.h"
#endif

static const fast_kernels fast_impl[SF_SIMD_COUNT] = {
    [SF_SIMD_C] = {window_c, refresh_c, prep_c, merge_c},
#if SF_SIMD_X86
    [SF_SIMD_AVX2] = {window_avx2, refresh_avx2, prep_avx2, merge_avx2},
    [SF_SIMD_AVX512] = {window_avx512, refresh_avx512, prep_avx512, merge_avx512},
#else
    [SF_SIMD_AVX2] = {window_c, refresh_c, prep_c, merge_c},
    [SF_SIMD_AVX512] = {window_c, refresh_c, prep_c, merge_c},
#endif
};

/* Sweeps fused per pass (a window); the coefficient rows in flight then fit in L2. */
#define FAST_MAX_WINDOW 8

/* Length of the window starting at sweep t: up to the next refresh. */
static int window_len(int t, const sf_solver_params *p) {
  int T = 1;
  while (t + T < p->iterations && !refresh_due(t + T, p->update_lag)) T++;
  return T;
}

void sf_sor_redblack(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
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
  const fast_kernels K = fast_impl[s->path];
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
