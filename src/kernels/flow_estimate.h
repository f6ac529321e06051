/* Dense optical flow between a reference and a moving image: the variational pyramid of
 * spec register.md §1 (PyFlowReg's get_displacement), planned once per shape and options,
 * with the reference pyramid built once. Pure. Flow is [u = x, v = y] in full-resolution
 * pixels, backward convention: registered(y,x) = moving(y+v, x+u). */
#ifndef SF_FLOW_ESTIMATE_H
#define SF_FLOW_ESTIMATE_H

#include <stddef.h>

#include "kernels/flow_pyramid.h"
#include "kernels/flow_solver.h"

typedef struct sf_flow_params {
  double alpha[2];                /* smoothness (x, y) at the finest level [1.5, 1.5] */
  int levels;                     /* max depth per axis [100] */
  int min_level;                  /* finest level computed [0 quality, 4 balanced, 6 fast] */
  double eta;                     /* downsampling factor per level, (0,1] [0.8] */
  int iterations;                 /* SOR sweeps per level [50] */
  int update_lag;                 /* sweeps between nonlinearity refreshes [5] */
  double a_smooth;                /* [1] */
  double a_data[SF_FLOW_MAX_CH];  /* per channel [0.45] */
  float weight[SF_FLOW_MAX_CH];   /* per channel, summing to 1 */
  sf_constancy constancy;         /* [gc] */
  double omega;                   /* SOR relaxation [1.95] */
  int warp_q32;                   /* [1]: pyramid warps round positions to 1/32 px as the
                                     reference's remap does; 0: exact coordinates */
  sf_sweep_order order;           /* SOR order [SF_SWEEP_REFERENCE] */
} sf_flow_params;

/* Fills p with the defaults above for nch channels (equal weights, min_level 4). Local. */
void sf_flow_params_default(sf_flow_params *p, int nch);

typedef struct sf_flow_plan sf_flow_plan;
typedef struct sf_flow_ws sf_flow_ws;

/* Plans the pyramid, resamplers and level sizes for h x w images with nch planar channels.
 * Returns 0, SF_ERR_USAGE (bad parameters) or SF_ERR_NOMEM. Local. */
int sf_flow_plan_create(size_t h, size_t w, int nch, const sf_flow_params *p, sf_flow_plan **out);

/* Per-thread workspace for plan (every buffer of an execute). Local. */
int sf_flow_ws_create(const sf_flow_plan *plan, sf_flow_ws **out);

/* Sets the reference (nch planes of h x w, preprocessed): builds its pyramid once, using
 * ws for scratch. Not thread-safe with execute; call before the node loop. Local. */
int sf_flow_set_reference(sf_flow_plan *plan, sf_flow_ws *ws, const float *ref);

/* Flow of mov (nch planes, preprocessed) against the reference, from the initial flow
 * (u0, v0) (h x w each; NULL for zero). Writes u, v (h x w each). Thread-safe on distinct
 * workspaces, allocation-free. Local. */
void sf_flow_execute(const sf_flow_plan *plan, sf_flow_ws *ws, const float *mov, const float *u0,
                     const float *v0, float *u, float *v);

/* The schedule in use (levels, sizes). Local. */
const struct sf_pyramid *sf_flow_pyramid(const sf_flow_plan *plan);

/* Forces the solver's code path ("avx512", "avx2", "c", "gs64"); SF_ERR_USAGE if unavailable. */
int sf_flow_ws_force_path(sf_flow_ws *ws, const char *path);

/* The solver's code path in use. */
const char *sf_flow_ws_path(const sf_flow_ws *ws);

/* Read-only views for a device copy of the plan (src/gpu) and host tests, valid while the
 * plan lives: the parameters; level i's resamplers from full resolution (up = 0) and from
 * level i+1 (up = 1; NULL at the top and outside min_level..ltop); the reference's nch planes
 * at level i (after sf_flow_set_reference); and the final upsampling's Keys taps (4 per
 * output row / column, NULL when min_level is 0). Local. */
const sf_flow_params *sf_flow_plan_params(const sf_flow_plan *plan);
const struct sf_resample *sf_flow_plan_resampler(const sf_flow_plan *plan, int level, int up);
const float *sf_flow_plan_reference(const sf_flow_plan *plan, int level);
void sf_flow_plan_final_taps(const sf_flow_plan *plan, const int **fy_i, const float **fy_w,
                             const int **fx_i, const float **fx_w);

void sf_flow_ws_destroy(sf_flow_ws **ws);
void sf_flow_plan_destroy(sf_flow_plan **plan);

#endif
