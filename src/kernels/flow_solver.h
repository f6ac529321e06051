/* Motion tensors (data terms) and the lagged-nonlinearity SOR level solver of the flow
 * pyramid (spec register.md §1.5, §1.6, slabflow decision 1). Pure.
 *
 * Padded layout: level arrays are (h+2) x (w+2) floats, row-major, row stride w+2, with a
 * one-pixel frame around the h x w interior. */
#ifndef SF_FLOW_SOLVER_H
#define SF_FLOW_SOLVER_H

#include <stddef.h>

#define SF_FLOW_MAX_CH 16

typedef enum { SF_CONST_GC = 0, SF_CONST_GRAY = 1 } sf_constancy;

/* Floats of scratch the tensor functions need for an h x w level. Local. */
size_t sf_tensor_scratch(size_t h, size_t w);

/* Motion tensor of one channel from f1 (reference) and f2w (warped moving image), both h x w
 * contiguous, with spacings hy (rows) and hx (columns) in full-resolution pixels. J[0..5] =
 * J11, J22, J33, J12, J13, J23, each padded (h+2) x (w+2), zero on the frame. gc: gradient
 * constancy (§1.5 item 25); gray: brightness constancy (item 26). Thread-safe,
 * allocation-free. Local. */
void sf_tensor_compute(sf_constancy kind, const float *f1, const float *f2w, size_t h, size_t w,
                       double hy, double hx, float *const J[6], float *scratch);

/* Sweep order of the SOR. REFERENCE: the reference's lexicographic Gauss-Seidel (each pixel
 * sees its upper and left neighbours updated in the sweep), whose iterates the flow must
 * follow to stay within the parity bound of decision 1; REDBLACK: red-black order, a
 * different (equally valid) iteration whose flows differ from the reference's by more. */
typedef enum { SF_SWEEP_REFERENCE = 0, SF_SWEEP_REDBLACK = 1 } sf_sweep_order;

typedef struct sf_solver_params {
  double alpha_x, alpha_y;       /* smoothness weights at this level (already scaled) */
  double hx, hy;                 /* spacings: columns, rows */
  double a_smooth;               /* generalised Charbonnier exponent of the smoothness term */
  double a_data[SF_FLOW_MAX_CH]; /* exponent per channel */
  float weight[SF_FLOW_MAX_CH];  /* channel weight (constant over the interior) */
  int nch;                       /* channels, 1..SF_FLOW_MAX_CH */
  int iterations;                /* SOR sweeps */
  int update_lag;                /* psi refreshed at the start of sweep t when (t+1) % lag == 0 */
  double omega;                  /* relaxation factor (1.95) */
  sf_sweep_order order;          /* [SF_SWEEP_REFERENCE]; a_smooth != 1 is always red-black */
} sf_solver_params;

typedef struct sf_solver sf_solver;

/* Plans a solver workspace for levels up to max_h x max_w with nch channels. Picks the
 * fastest code path this CPU supports (AVX-512, AVX2+FMA, portable C); every path gives the
 * same bytes. Returns 0 or SF_ERR_NOMEM. Local. */
int sf_solver_create(size_t max_h, size_t max_w, int nch, sf_solver **out);

/* Solves one level (§1.6): increments du, dv (padded, output; frame values unspecified) for
 * the accumulated flow u, v (padded, full-resolution pixels) and the tensors J[6*k + m] of
 * channel k (padded). Starts from du = dv = 0, psi = 1, runs exactly p->iterations sweeps.
 * Thread-safe on distinct workspaces, allocation-free. Local. */
void sf_solver_execute(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                       const float *v, const sf_solver_params *p, float *du, float *dv);

/* Name of the code path in use ("avx512", "avx2", "c"). Local. */
const char *sf_solver_path(const sf_solver *s);

/* Forces a code path for tests and benchmarks: "avx512", "avx2" or "c"; returns 0, or
 * SF_ERR_USAGE when this CPU lacks it. Local. */
int sf_solver_force_path(sf_solver *s, const char *path);

/* Frees; accepts NULL and sets *s to NULL. */
void sf_solver_destroy(sf_solver **s);

/* Notes on the above. sf_solver_force_path also accepts "gs64": the reference's order
 * (column index outer, row index inner, lexicographic Gauss-Seidel) in double precision,
 * scalar, for parity experiments; its bytes differ from the other paths', which sweep in
 * red-black order and agree byte for byte with each other. sf_solver_execute cannot return
 * an error: for a level larger than the workspace was planned for, or more channels, it
 * writes NaN increments. */

#endif
