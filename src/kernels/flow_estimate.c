/* The variational flow pyramid (spec register.md §1.2–§1.4): per level, resample both
 * images from full resolution, warp the moving one by the flow so far, build the motion
 * tensors, solve for the increments, median-filter them and accumulate. */
#include "kernels/flow_estimate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/flow_median.h"
#include "kernels/flow_pyramid.h"
#include "kernels/flow_resample.h"
#include "kernels/flow_warp.h"
#include "sf_error.h"

struct sf_flow_plan {
  size_t h, w;
  int nch;
  sf_flow_params p;
  sf_pyramid pyr;
  sf_resample **img;   /* [level]: full resolution -> level (NULL outside min..top) */
  sf_resample **up;    /* [level]: level+1 -> level, for the flow (NULL at the top) */
  /* min_level -> full resolution (min_level > 0): OpenCV-style bicubic resize, Keys
   * a = -0.75, half-pixel centres, edge replicated (§1.4 item 24); 4 taps per output. */
  int *fy_i, *fx_i;
  float *fy_w, *fx_w;
  float **ref;         /* [level]: nch planes of the reference at that level */
  size_t max_h, max_w; /* largest level processed */
  size_t scratch;      /* floats of scratch for any resample, tensor or median call */
};

struct sf_flow_ws {
  float *f2, *f2w;                   /* nch level planes */
  float *u, *v, *pu, *pv, *du, *dv;  /* padded level arrays (current, previous, increments) */
  float *med;                        /* padded median output */
  float *J[6 * SF_FLOW_MAX_CH];
  float *jmem;
  float *scratch;
  sf_solver *solver;
};

void sf_flow_params_default(sf_flow_params *p, int nch) {
  memset(p, 0, sizeof *p);
  p->alpha[0] = p->alpha[1] = 1.5;
  p->levels = 100;
  p->min_level = 4;
  p->eta = 0.8;
  p->iterations = 50;
  p->update_lag = 5;
  p->a_smooth = 1.0;
  p->constancy = SF_CONST_GC;
  p->omega = 1.95;
  /* Fidelity (decision 1): the flow follows the reference's iterates only with both its
   * sweep order and its 1/32-px warp grid; either change alone moves the fast preset's
   * flow by ~0.06 px (benchmarks/README.md, bench_flow_peer.sh). */
  p->warp_q32 = 1;
  p->order = SF_SWEEP_REFERENCE;
  for (int k = 0; k < nch && k < SF_FLOW_MAX_CH; k++) {
    p->a_data[k] = 0.45;
    p->weight[k] = 1.0f / (float)nch;
  }
}

const struct sf_pyramid *sf_flow_pyramid(const sf_flow_plan *plan) { return &plan->pyr; }

void sf_flow_plan_destroy(sf_flow_plan **pp) {
  sf_flow_plan *pl = *pp;
  if (!pl) return;
  for (int i = 0; i < pl->pyr.n_levels; i++) {
    if (pl->img) sf_resample_destroy(&pl->img[i]);
    if (pl->up) sf_resample_destroy(&pl->up[i]);
    if (pl->ref) free(pl->ref[i]);
  }
  free(pl->img);
  free(pl->up);
  free(pl->ref);
  free(pl->fy_i);
  free(pl->fx_i);
  free(pl->fy_w);
  free(pl->fx_w);
  sf_pyramid_free(&pl->pyr);
  free(pl);
  *pp = NULL;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Keys cubic (a = -0.75) tap table from in_len to out_len samples: out i at source
 * (i + 0.5) in/out - 0.5, taps floor - 1 .. floor + 2 clamped to the edge. */
static void keys_taps(size_t in_len, size_t out_len, int *idx, float *wt) {
  const double a = -0.75, sc = (double)in_len / (double)out_len;
  for (size_t i = 0; i < out_len; i++) {
    double x = ((double)i + 0.5) * sc - 0.5, f = floor(x), t = x - f;
    double k[4] = {a * t * (t - 1) * (t - 1), ((a + 2) * t - (a + 3)) * t * t + 1,
                   ((-(a + 2) * t + (2 * a + 3)) * t - a) * t, a * t * t * (1 - t)};
    for (int p = 0; p < 4; p++) {
      long j = (long)f - 1 + p;
      idx[4 * i + p] = (int)(j < 0 ? 0 : j >= (long)in_len ? (long)in_len - 1 : j);
      wt[4 * i + p] = (float)k[p];
    }
  }
}

/* Bicubic upsampling of one plane with the plan's final tap tables: columns of each output
 * row from four input rows (row AXPYs), then four taps along the row. tmp: w_in floats. */
/* Final upsampling of one flow component from the in_h x in_w level to h x w: across
 * each of the in_h source rows first (the taps' gathers then touch in_h rows, not h), then
 * down the columns, which is unit-stride. tmp holds in_h x w floats. */
static void upsample_final(const sf_flow_plan *pl, const float *in, size_t in_stride, size_t in_h,
                           float *out, float *tmp) {
  const size_t W = pl->w;
  for (size_t r = 0; r < in_h; r++) {
    const float *src = in + r * in_stride;
    float *t = tmp + r * W;
    for (size_t x = 0; x < W; x++) {
      const int *ix = pl->fx_i + 4 * x;
      const float *wx = pl->fx_w + 4 * x;
      t[x] = wx[0] * src[ix[0]] + wx[1] * src[ix[1]] + wx[2] * src[ix[2]] + wx[3] * src[ix[3]];
    }
  }
  for (size_t y = 0; y < pl->h; y++) {
    const int *iy = pl->fy_i + 4 * y;
    const float *wy = pl->fy_w + 4 * y;
    const float *r0 = tmp + (size_t)iy[0] * W, *r1 = tmp + (size_t)iy[1] * W;
    const float *r2 = tmp + (size_t)iy[2] * W, *r3 = tmp + (size_t)iy[3] * W;
    float *o = out + y * W;
    for (size_t x = 0; x < W; x++) o[x] = wy[0] * r0[x] + wy[1] * r1[x] + wy[2] * r2[x] + wy[3] * r3[x];
  }
}

int sf_flow_plan_create(size_t h, size_t w, int nch, const sf_flow_params *p, sf_flow_plan **out) {
  int status = 0;
  sf_flow_plan *pl = NULL;
  *out = NULL;
  if (nch < 1 || nch > SF_FLOW_MAX_CH || h < 1 || w < 1 || !(p->eta > 0 && p->eta <= 1) ||
      !(p->alpha[0] > 0 && p->alpha[1] > 0) || p->iterations < 0 || p->update_lag < 1 ||
      p->levels < 1 || p->min_level < 0 || !(p->a_smooth >= 0))
    return SF_ERR_USAGE;
  SF_ALLOC(pl, 1);
  pl->h = h;
  pl->w = w;
  pl->nch = nch;
  pl->p = *p;
  SF_CALL(sf_pyramid_schedule(h, w, p->eta, p->levels, p->min_level, &pl->pyr));
  int n = pl->pyr.n_levels, lo = pl->pyr.min_level, top = pl->pyr.ltop;
  SF_ALLOC(pl->img, n);
  SF_ALLOC(pl->up, n);
  SF_ALLOC(pl->ref, n);
  for (int i = lo; i <= top; i++) {
    const sf_pyramid_level *L = &pl->pyr.lv[i];
    SF_CALL(sf_resample_create(h, w, L->h, L->w, &pl->img[i]));
    pl->scratch = max_sz(pl->scratch, sf_resample_scratch(pl->img[i]));
    if (i < top) {
      const sf_pyramid_level *P = &pl->pyr.lv[i + 1];
      SF_CALL(sf_resample_create(P->h, P->w, L->h, L->w, &pl->up[i]));
      pl->scratch = max_sz(pl->scratch, sf_resample_scratch(pl->up[i]));
    }
    SF_ALLOC(pl->ref[i], (size_t)nch * L->h * L->w);
    pl->max_h = max_sz(pl->max_h, L->h);
    pl->max_w = max_sz(pl->max_w, L->w);
    pl->scratch = max_sz(pl->scratch, sf_tensor_scratch(L->h, L->w));
    pl->scratch = max_sz(pl->scratch, sf_median5_scratch(L->h, L->w));
  }
  if (lo > 0) {
    const sf_pyramid_level *L = &pl->pyr.lv[lo];
    SF_ALLOC(pl->fy_i, 4 * h);
    SF_ALLOC(pl->fx_i, 4 * w);
    SF_ALLOC(pl->fy_w, 4 * h);
    SF_ALLOC(pl->fx_w, 4 * w);
    keys_taps(L->h, h, pl->fy_i, pl->fy_w);
    keys_taps(L->w, w, pl->fx_i, pl->fx_w);
    pl->scratch = max_sz(pl->scratch, L->h * w); /* the final upsampling's rows */
  }
  *out = pl;
  pl = NULL;
cleanup:
  sf_flow_plan_destroy(&pl);
  return status;
}

const sf_flow_params *sf_flow_plan_params(const sf_flow_plan *pl) { return &pl->p; }

const struct sf_resample *sf_flow_plan_resampler(const sf_flow_plan *pl, int i, int up) {
  if (i < pl->pyr.min_level || i > pl->pyr.ltop) return NULL;
  return up ? pl->up[i] : pl->img[i];
}

const float *sf_flow_plan_reference(const sf_flow_plan *pl, int i) {
  if (i < pl->pyr.min_level || i > pl->pyr.ltop) return NULL;
  return pl->ref[i];
}

void sf_flow_plan_final_taps(const sf_flow_plan *pl, const int **fy_i, const float **fy_w,
                             const int **fx_i, const float **fx_w) {
  *fy_i = pl->fy_i;
  *fy_w = pl->fy_w;
  *fx_i = pl->fx_i;
  *fx_w = pl->fx_w;
}

void sf_flow_ws_destroy(sf_flow_ws **wp) {
  sf_flow_ws *ws = *wp;
  if (!ws) return;
  free(ws->f2);
  free(ws->f2w);
  free(ws->u);
  free(ws->v);
  free(ws->pu);
  free(ws->pv);
  free(ws->du);
  free(ws->dv);
  free(ws->med);
  free(ws->jmem);
  free(ws->scratch);
  sf_solver_destroy(&ws->solver);
  free(ws);
  *wp = NULL;
}

int sf_flow_ws_create(const sf_flow_plan *pl, sf_flow_ws **out) {
  int status = 0;
  sf_flow_ws *ws = NULL;
  size_t lvl = pl->max_h * pl->max_w, pad = (pl->max_h + 2) * (pl->max_w + 2);
  *out = NULL;
  SF_ALLOC(ws, 1);
  SF_ALLOC(ws->f2, (size_t)pl->nch * lvl);
  SF_ALLOC(ws->f2w, (size_t)pl->nch * lvl);
  SF_ALLOC(ws->u, pad);
  SF_ALLOC(ws->v, pad);
  SF_ALLOC(ws->pu, pad);
  SF_ALLOC(ws->pv, pad);
  SF_ALLOC(ws->du, pad);
  SF_ALLOC(ws->dv, pad);
  SF_ALLOC(ws->med, pad);
  SF_ALLOC(ws->jmem, (size_t)6 * pl->nch * pad);
  for (int k = 0; k < 6 * pl->nch; k++) ws->J[k] = ws->jmem + (size_t)k * pad;
  SF_ALLOC(ws->scratch, pl->scratch + 1);
  SF_CALL(sf_solver_create(pl->max_h, pl->max_w, pl->nch, &ws->solver));
  *out = ws;
  ws = NULL;
cleanup:
  sf_flow_ws_destroy(&ws);
  return status;
}

int sf_flow_ws_force_path(sf_flow_ws *ws, const char *path) { return sf_solver_force_path(ws->solver, path); }

const char *sf_flow_ws_path(const sf_flow_ws *ws) { return sf_solver_path(ws->solver); }

int sf_flow_set_reference(sf_flow_plan *pl, sf_flow_ws *ws, const float *ref) {
  size_t hw = pl->h * pl->w;
  for (int i = pl->pyr.min_level; i <= pl->pyr.ltop; i++) {
    const sf_pyramid_level *L = &pl->pyr.lv[i];
    for (int k = 0; k < pl->nch; k++)
      sf_resample_execute(pl->img[i], ref + (size_t)k * hw, pl->w,
                          pl->ref[i] + (size_t)k * L->h * L->w, L->w, ws->scratch);
  }
  return 0;
}

/* Edge replication into the one-pixel frame of a padded (h+2) x (w+2) array. */
static void pad_edge(float *a, size_t h, size_t w) {
  size_t s = w + 2;
  for (size_t y = 1; y <= h; y++) {
    a[y * s] = a[y * s + 1];
    a[y * s + w + 1] = a[y * s + w];
  }
  memcpy(a, a + s, s * sizeof(float));
  memcpy(a + (h + 1) * s, a + h * s, s * sizeof(float));
}

/* Zero array of a padded level. */
static void zero_pad(float *a, size_t h, size_t w) { memset(a, 0, (h + 2) * (w + 2) * sizeof(float)); }

void sf_flow_execute(const sf_flow_plan *pl, sf_flow_ws *ws, const float *mov, const float *u0,
                     const float *v0, float *u, float *v) {
  const sf_flow_params *p = &pl->p;
  size_t hw = pl->h * pl->w;
  int top = pl->pyr.ltop, lo = pl->pyr.min_level;
  sf_solver_params sp;
  memset(&sp, 0, sizeof sp);
  sp.a_smooth = p->a_smooth;
  sp.nch = pl->nch;
  sp.iterations = p->iterations;
  sp.update_lag = p->update_lag;
  sp.omega = p->omega;
  sp.order = p->order;
  for (int k = 0; k < pl->nch; k++) {
    sp.a_data[k] = p->a_data[k];
    sp.weight[k] = p->weight[k];
  }
  size_t ph = 0, pw = 0; /* previous (coarser) level size */
  for (int i = top; i >= lo; i--) {
    const sf_pyramid_level *L = &pl->pyr.lv[i];
    size_t h = L->h, w = L->w, s = w + 2, n = h * w;
    const float *f1 = pl->ref[i];
    for (int k = 0; k < pl->nch; k++)
      sf_resample_execute(pl->img[i], mov + (size_t)k * hw, pl->w, ws->f2 + (size_t)k * n, w, ws->scratch);
    const float *f2w = ws->f2;
    if (i == top) {
      /* The coarsest level starts from the initial flow and does not warp (§1.4 item 17). */
      if (u0 && v0) {
        sf_resample_execute(pl->img[i], u0, pl->w, ws->u + s + 1, s, ws->scratch);
        sf_resample_execute(pl->img[i], v0, pl->w, ws->v + s + 1, s, ws->scratch);
        pad_edge(ws->u, h, w);
        pad_edge(ws->v, h, w);
      } else {
        zero_pad(ws->u, h, w);
        zero_pad(ws->v, h, w);
      }
    } else {
      size_t ps = pw + 2;
      sf_resample_execute(pl->up[i], ws->pu + ps + 1, ps, ws->u + s + 1, s, ws->scratch);
      sf_resample_execute(pl->up[i], ws->pv + ps + 1, ps, ws->v + s + 1, s, ws->scratch);
      pad_edge(ws->u, h, w);
      pad_edge(ws->v, h, w);
      for (int k = 0; k < pl->nch; k++)
        sf_warp_flow(ws->f2 + (size_t)k * n, f1 + (size_t)k * n, h, w, 1, ws->u + s + 1, ws->v + s + 1, s,
                     (float)(1.0 / L->hx), (float)(1.0 / L->hy), p->warp_q32 ? SF_INTERP_CUBIC_Q32 : SF_INTERP_CUBIC,
                     ws->f2w + (size_t)k * n, NULL);
      f2w = ws->f2w;
    }
    for (int k = 0; k < pl->nch; k++)
      sf_tensor_compute(p->constancy, f1 + (size_t)k * n, f2w + (size_t)k * n, h, w, L->hy, L->hx,
                        ws->J + 6 * k, ws->scratch);
    double scale = L->alpha_scale;
    sp.alpha_x = p->alpha[0] * scale;
    sp.alpha_y = p->alpha[1] * scale;
    sp.hx = L->hx;
    sp.hy = L->hy;
    sf_solver_execute(ws->solver, h, w, (const float *const *)ws->J, ws->u, ws->v, &sp, ws->du, ws->dv);
    float *du = ws->du, *dv = ws->dv;
    if ((h < w ? h : w) > 5) {
      /* The increments, not the accumulated flow, are median filtered (§1.4 item 22). */
      sf_median5(ws->du + s + 1, s, h, w, ws->med + s + 1, s, ws->scratch);
      float *t = ws->du;
      ws->du = ws->med;
      ws->med = t;
      sf_median5(ws->dv + s + 1, s, h, w, ws->med + s + 1, s, ws->scratch);
      t = ws->dv;
      ws->dv = ws->med;
      ws->med = t;
      du = ws->du;
      dv = ws->dv;
    }
    for (size_t y = 1; y <= h; y++) {
      float *ur = ws->u + y * s, *vr = ws->v + y * s;
      const float *dur = du + y * s, *dvr = dv + y * s;
      for (size_t x = 1; x <= w; x++) {
        ur[x] += dur[x];
        vr[x] += dvr[x];
      }
    }
    /* This level's flow becomes the previous one. */
    float *t = ws->pu;
    ws->pu = ws->u;
    ws->u = t;
    t = ws->pv;
    ws->pv = ws->v;
    ws->v = t;
    ph = h;
    pw = w;
  }
  size_t ps = pw + 2;
  if (lo > 0) {
    upsample_final(pl, ws->pu + ps + 1, ps, ph, u, ws->scratch);
    upsample_final(pl, ws->pv + ps + 1, ps, ph, v, ws->scratch);
  } else {
    for (size_t y = 0; y < ph; y++) {
      memcpy(u + y * pl->w, ws->pu + (y + 1) * ps + 1, pl->w * sizeof(float));
      memcpy(v + y * pl->w, ws->pv + (y + 1) * ps + 1, pl->w * sizeof(float));
    }
  }
}
