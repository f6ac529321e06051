/* `slabflow register --method flow`: the nonrigid steps of the job (spec register.md §1–§4,
 * §6, §7 and slabflow decisions 3–7). Frames are preprocessed (normalised by the reference
 * range, smoothed), each segment starts from the mean flow of its first frames, every frame's
 * flow is estimated against the reference pyramid and the raw frame is warped by it. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_flow.h"
#include "kernels/dtype_convert.h"
#include "kernels/flow_warp.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "mpi/plan.h"
#include "mpi/progress.h"
#include "kernels/xcorr_rigid.h"
#include "pipelines/register_impl.h"
#include "sf_error.h"

/* Effective finest level of a --quality preset (spec §5 item 51). */
static int preset_min_level(int quality) { return quality == 0 ? 6 : quality == 1 ? 4 : 0; }

/* Flow parameters from the options; alpha_add is added to both alphas (reference pass). */
static void flow_params(const reg_job *j, double alpha_add, sf_flow_params *p) {
  const reg_opts *o = &j->o;
  sf_flow_params_default(p, j->nch);
  p->alpha[0] = o->alpha[0] + alpha_add;
  p->alpha[1] = o->alpha[1] + alpha_add;
  p->levels = (int)o->levels;
  p->min_level = o->min_level >= 0 ? (int)o->min_level : preset_min_level(o->quality);
  p->eta = o->eta;
  p->iterations = (int)o->iterations;
  p->update_lag = (int)o->update_lag;
  p->a_smooth = o->a_smooth;
  p->constancy = o->constancy ? SF_CONST_GRAY : SF_CONST_GC;
  for (int k = 0; k < j->nch; k++) {
    p->a_data[k] = o->n_a_data == 1 ? o->a_data[0] : o->a_data[k];
    p->weight[k] = j->wch[k];
  }
  /* Diagnostics: SLABFLOW_SWEEP=redblack solves every level in red-black order on the CPU,
   * the device's order, to compare the device with the CPU's own red-black results. */
  const char *sweep = getenv("SLABFLOW_SWEEP");
  if (sweep && strcmp(sweep, "redblack") == 0) p->order = SF_SWEEP_REDBLACK;
}

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

/* Temporal smoothing of the pass in progress: weights and radius for sigma (frames). The
 * option parser bounds sigma, so the radius stays within SF_GAUSS_MAX_RADIUS. */
static int set_temporal(reg_job *j, double sigma) {
  j->rt = sf_gauss_weights(sigma, j->gt);
  return j->rt;
}

static int flow_setup(reg_job *j) {
  int status = 0;
  const reg_opts *o = &j->o;
  size_t h = j->m->h, w = j->m->w, hw = j->hw, nch = (size_t)j->nch;
  sf_flow_params p;
  flow_params(j, 0.0, &p);
  status = sf_flow_plan_create(h, w, j->nch, &p, &j->fp);
  SF_CHECK(status == 0, status, "cannot plan the flow pyramid for %zux%zu frames", h, w);
  status = sf_smooth_create(h, w, o->sigma[0], o->sigma[1], &j->sm);
  SF_CHECK(status == 0, status, "--sigma: cannot plan the smoothing");
  status = sf_smooth_create(h, w, o->sigma[0] + 1.0, o->sigma[1] + 1.0, &j->sm_ref);
  SF_CHECK(status == 0, status, "--sigma: cannot plan the reference smoothing");
  status = sf_smooth_create(h, w, 1.0, 1.0, &j->sm_def);
  SF_CHECK(status == 0, status, "cannot plan the reference smoothing");
  j->scratch_n = zmax(sf_smooth_scratch(j->sm), sf_smooth_scratch(j->sm_ref));
  j->scratch_n = zmax(j->scratch_n, sf_smooth_scratch(j->sm_def));
  if (o->cc_init) {
    j->cc_h = h < o->cc_hw ? h : o->cc_hw;
    j->cc_w = w < o->cc_hw ? w : o->cc_hw;
    status = sf_resample_create(h, w, j->cc_h, j->cc_w, &j->cc_down);
    SF_CHECK(status == 0, status, "cannot plan the --cc-init downsampling");
    j->scratch_n = zmax(j->scratch_n, sf_resample_scratch(j->cc_down));
    status = sf_xcorr_plan_create(j->cc_h, j->cc_w, (int)o->cc_up, (float)o->cc_sigma, &j->xc);
    SF_CHECK(status == 0, status, "cannot plan the --cc-init correlation");
  }
  /* Halo: the temporal context of the reference stack smoothing (sigma_t + 0.5, spec §4). */
  size_t halo = (size_t)set_temporal(j, o->sigma[2] + 0.5), seg = o->buffer;
  SF_ALLOC(j->proc, (seg + 2 * halo) * nch * hw);
  SF_ALLOC(j->proc_t, seg * nch * hw);
  SF_ALLOC(j->ref_proc, nch * hw);
  SF_ALLOC(j->winit, 2 * hw);
  /* Two output slots (reg_slot): the main pass computes one batch while the previous one is
   * written. The flow buffer is also the initial-flow scratch, so a batch in compute always
   * needs one, but only --save-flow commits it and needs a second. */
  for (int s = 0; s < 2; s++) {
    SF_ALLOC(j->slot[s].stats, 4 * seg);
    if (s == 0 || o->save_flow) SF_ALLOC(j->slot[s].flow, seg * hw * 2);
    else j->slot[s].flow = j->slot[0].flow;
    if (o->save_valid) SF_ALLOC(j->slot[s].valid, seg * hw);
  }
cleanup:
  return status;
}

static int flow_ws_create(reg_job *j, reg_ws *w) {
  int status = 0;
  size_t nch = (size_t)j->nch;
  if (j->xc) SF_CALL(sf_xcorr_ws_create(j->xc, &w->xc));
  SF_ALLOC(w->warped, j->ue);
  SF_CALL(sf_flow_ws_create(j->fp, &w->fw));
  /* Diagnostics: SLABFLOW_SOLVER=c|avx2|avx512|gs64 picks the solver's code path. */
  const char *path = getenv("SLABFLOW_SOLVER");
  if (path && *path) SF_CHECK(sf_flow_ws_force_path(w->fw, path) == 0, SF_ERR_USAGE,
                              "SLABFLOW_SOLVER=%s: not a solver path this CPU has (c, avx2, avx512, gs64)", path);
  SF_ALLOC(w->fu, j->hw);
  SF_ALLOC(w->fv, j->hw);
  SF_ALLOC(w->pa, nch * j->hw);
  SF_ALLOC(w->pb, (nch > 2 ? nch : 2) * j->hw);
  SF_ALLOC(w->scratch, j->scratch_n + 1);
  if (j->o.cc_init) SF_ALLOC(w->small, j->cc_h * j->cc_w);
cleanup:
  return status;
}

static void flow_ws_destroy(reg_ws *w) {
  sf_xcorr_ws_destroy(&w->xc);
  free(w->warped);
  w->warped = NULL;
  sf_flow_ws_destroy(&w->fw);
  free(w->fu);
  free(w->fv);
  free(w->pa);
  free(w->pb);
  free(w->scratch);
  free(w->small);
  w->fu = w->fv = w->pa = w->pb = w->scratch = w->small = NULL;
}

/* ---- per-frame steps ------------------------------------------------------- */

/* Which preprocessing a pass applies. */
enum { PASS_MAIN = 0, PASS_REF1 = 1, PASS_REF2 = 2 };

/* Input frame k of the batch counted from the first halo frame. */
static const float *batch_frame(const reg_job *j, const sf_batch *b, size_t k) {
  return b->in + ((long)k - (long)b->halo_lo) * (long)j->ue;
}

/* Step 1, every read frame (halo included): main pass normalise + smooth; reference passes
 * smooth the raw frame with sigma + [1, 1] (spec §3 item 44, §4 item 47.1). */
static int pre_unit(void *ctx, void *wsp, const sf_batch *b, size_t k) {
  reg_job *j = ctx;
  reg_ws *w = wsp;
  size_t hw = j->hw, nch = (size_t)j->nch;
  float *dst = j->proc + k * nch * hw;
  if (j->ref_pass) {
    float zero[REG_MAX_CH] = {0}, one[REG_MAX_CH];
    for (int c = 0; c < REG_MAX_CH; c++) one[c] = 1.0f;
    sf_normalize_deinterleave(batch_frame(j, b, k), hw, nch, zero, one, dst);
    for (size_t c = 0; c < nch; c++) sf_smooth_execute(j->sm_ref, dst + c * hw, dst + c * hw, w->scratch);
  } else {
    sf_normalize_deinterleave(batch_frame(j, b, k), hw, nch, j->lo, j->inv, dst);
    for (size_t c = 0; c < nch; c++) sf_smooth_execute(j->sm, dst + c * hw, dst + c * hw, w->scratch);
  }
  return 0;
}

/* Reflects absolute unit index i into [a, b] (edge-duplicating, scipy "reflect"). */
static long reflect_index(long i, long a, long b) {
  if (a == b) return a;
  while (i < a || i > b) {
    if (i < a) i = 2 * a - 1 - i;
    if (i > b) i = 2 * b + 1 - i;
  }
  return i;
}

/* Step 2, every frame of the batch: temporal smoothing, reflected at the ends of the
 * reference range (reference passes) or of the batch (main pass, spec §3 item 44); in the
 * second reference pass also the two normalisations and the default smoothing of the
 * preregistration (spec §4 item 47.4). */
static int post_unit(void *ctx, void *wsp, const sf_batch *b, size_t k) {
  reg_job *j = ctx;
  reg_ws *w = wsp;
  size_t hw = j->hw, nch = (size_t)j->nch, fe = nch * hw;
  float *dst = j->proc_t + k * fe;
  long first_read = (long)b->first - (long)b->halo_lo;
  long n_read = (long)(b->count + b->halo_lo + b->halo_hi);
  long ra = j->ta >= 0 ? j->ta : (long)b->first;
  long rb = j->ta >= 0 ? j->tb : (long)(b->first + b->count) - 1;
  if (j->rt == 0) {
    memcpy(dst, j->proc + (k + b->halo_lo) * fe, fe * sizeof(float));
  } else {
    for (size_t i = 0; i < fe; i++) dst[i] = 0.0f;
    for (int d = -j->rt; d <= j->rt; d++) {
      long src = reflect_index((long)(b->first + k) + d, ra, rb) - first_read;
      src = src < 0 ? 0 : src >= n_read ? n_read - 1 : src; /* only when the halo is short */
      const float *s = j->proc + (size_t)src * fe;
      float g = (float)j->gt[d + j->rt];
      for (size_t i = 0; i < fe; i++) dst[i] += g * s[i];
    }
  }
  if (j->ref_pass == PASS_REF2) {
    for (size_t c = 0; c < nch; c++) {
      float *pl = dst + c * hw;
      for (size_t i = 0; i < hw; i++) pl[i] = ((pl[i] - j->lo[c]) * j->inv[c] - j->lo2[c]) * j->inv2[c];
      sf_smooth_execute(j->sm_def, pl, pl, w->scratch);
    }
  }
  return 0;
}

/* Channel combination with the normalised weights (planar input). */
static void combine_planes(const reg_job *j, const float *planes, float *gray) {
  for (size_t i = 0; i < j->hw; i++) gray[i] = 0.0f;
  for (int c = 0; c < j->nch; c++) {
    const float *p = planes + (size_t)c * j->hw;
    float wc = j->wch[c];
    for (size_t i = 0; i < j->hw; i++) gray[i] += wc * p[i];
  }
}

/* Flow of preprocessed frame mov (planar) into w->fu, w->fv. With --cc-init (main pass) the
 * rigid prealignment of spec §6: estimate a shift on the frame warped by the initial flow,
 * estimate the residual flow of the frame warped by initial flow + shift, add them. */
static void frame_flow(reg_job *j, reg_ws *w, const float *mov, int from_init) {
  size_t hw = j->hw, h = j->m->h, wd = j->m->w;
  const float *u0 = from_init ? j->winit : NULL, *v0 = from_init ? j->winit + hw : NULL;
  if (!j->o.cc_init || j->ref_pass) {
    sf_flow_execute(j->fp_active, w->fw, mov, u0, v0, w->fu, w->fv);
    return;
  }
  for (size_t i = 0; i < hw; i++) {
    w->fu[i] = u0 ? u0[i] : 0.0f;
    w->fv[i] = v0 ? v0[i] : 0.0f;
  }
  for (int c = 0; c < j->nch; c++)
    sf_warp_flow(mov + c * hw, j->ref_proc + c * hw, h, wd, 1, w->fu, w->fv, wd, 1.0f, 1.0f,
                 SF_INTERP_LINEAR, w->pa + c * hw, NULL);
  combine_planes(j, w->pa, w->pb);
  sf_resample_execute(j->cc_down, w->pb, wd, w->small, j->cc_w, w->scratch);
  float sh[2];
  sf_xcorr_execute(j->xc, w->xc, w->small, sh);
  float dx = sh[0] * (float)wd / (float)j->cc_w, dy = sh[1] * (float)h / (float)j->cc_h;
  for (size_t i = 0; i < hw; i++) {
    w->fu[i] += dx;
    w->fv[i] += dy;
  }
  for (int c = 0; c < j->nch; c++)
    sf_warp_flow(mov + c * hw, j->ref_proc + c * hw, h, wd, 1, w->fu, w->fv, wd, 1.0f, 1.0f,
                 SF_INTERP_LINEAR, w->pa + c * hw, NULL);
  float *ru = w->pb, *rv = w->pb + hw;
  sf_flow_execute(j->fp_active, w->fw, w->pa, NULL, NULL, ru, rv);
  for (size_t i = 0; i < hw; i++) {
    w->fu[i] += ru[i];
    w->fv[i] += rv[i];
  }
}

/* Initial-flow stage: frame k's flow from zero, kept in the slot's flow buffer. */
static int init_unit(void *ctx, void *wsp, const sf_batch *b, size_t k) {
  reg_job *j = ctx;
  reg_ws *w = wsp;
  frame_flow(j, w, j->proc_t + k * (size_t)j->nch * j->hw, 0);
  float *f = reg_slot_of(j, b)->flow + k * 2 * j->hw;
  memcpy(f, w->fu, j->hw * sizeof(float));
  memcpy(f + j->hw, w->fv, j->hw * sizeof(float));
  return 0;
}

/* Main stage: frame k's flow from the segment's initial flow, the raw frame warped by it. */
static int flow_unit(void *ctx, void *wsp, const sf_batch *b, size_t k) {
  reg_job *j = ctx;
  reg_ws *w = wsp;
  size_t hw = j->hw, ue = j->ue;
  frame_flow(j, w, j->proc_t + k * (size_t)j->nch * hw, 1);
  const float *raw = b->in + k * ue;
  if (j->ref_pass) {
    sf_warp_flow(raw, j->fill, j->m->h, j->m->w, j->m->c, w->fu, w->fv, j->m->w, 1.0f, 1.0f,
                 SF_INTERP_CUBIC, j->warped + k * ue, NULL);
    return 0;
  }
  reg_slot *out = reg_slot_of(j, b);
  sf_warp_flow(raw, j->fill, j->m->h, j->m->w, j->m->c, w->fu, w->fv, j->m->w, 1.0f, 1.0f, j->interp,
               w->warped, out->valid ? out->valid + k * hw : NULL);
  sf_dtype_from_float(j->m->dtype, w->warped, (char *)out->outbuf + k * ue * sf_dtype_size(j->m->dtype), ue);
  float st[4];
  sf_flow_stats(w->fu, w->fv, j->m->h, j->m->w, st);
  size_t seg = j->o.buffer;
  for (int s = 0; s < 4; s++) out->stats[s * seg + k] = st[s];
  float *f = out->flow + k * 2 * hw;
  for (size_t i = 0; i < hw; i++) {
    f[2 * i] = w->fu[i];
    f[2 * i + 1] = w->fv[i];
  }
  return 0;
}

/* A batch's preparation for the per-frame flows (main pass and reference pass 2):
 * preprocessing, then the segment's initial flow (decision 3: the mean flow of its first
 * min(22, n) frames from zero). */
static int flow_prepare(void *ctx, sf_exec *x, const sf_batch *b) {
  reg_job *j = ctx;
  int status = 0;
  reg_slot *sl = reg_slot_of(j, b);
  SF_CALL(sf_exec_run(x, b, b->count + b->halo_lo + b->halo_hi, pre_unit, j));
  SF_CALL(sf_exec_run(x, b, b->count, post_unit, j));
  size_t n0 = b->count < REG_INIT_FRAMES ? b->count : REG_INIT_FRAMES, hw = j->hw;
  SF_CALL(sf_exec_run(x, b, n0, init_unit, j));
  for (size_t i = 0; i < 2 * hw; i++) {
    double s = 0.0;
    for (size_t k = 0; k < n0; k++) s += sl->flow[k * 2 * hw + i];
    j->winit[i] = (float)(s / (double)n0);
  }
cleanup:
  return status;
}

/* Main pass: the batch's displacements into the display statistics. */
static int main_finish(void *ctx, const sf_batch *b, double *partial) {
  reg_job *j = ctx;
  const reg_slot *sl = reg_slot_of(j, b);
  (void)partial;
  for (size_t k = 0; k < b->count; k++) {
    double md = sl->stats[k], mx = sl->stats[j->o.buffer + k];
    j->sum_shift += md;
    if (mx > j->max_shift) j->max_shift = mx;
  }
  return 0;
}

/* Main pass on the device (sf_step.device, --backend cuda): the batch's frames go to the device
 * once; preprocessing, the initial flow, every frame's pyramid (red-black solver), the warp and
 * the statistics run there batched (gpu_flow.h); registered frames, statistics and (for
 * --save-flow, --save-valid) flows and masks come back once. The dtype conversion and the
 * display statistics stay on the host. The device plan is made at the first batch, on the
 * thread the executor made the device current on; every --a-smooth (for != 1 the CPU's
 * lagged-nonlinearity solver, red-black as on the CPU) and --cc-init (the prealignment by
 * phase correlation there too, cuFFT). Reference passes run the CPU steps. Not yet run on a
 * device. */
static int flow_device(void *ctx, const sf_batch *b, double *partial) {
  reg_job *j = ctx;
  int status = 0;
  int *tsrc = NULL;
  float tw[2 * SF_GAUSS_MAX_RADIUS + 1];
  reg_slot *sl = reg_slot_of(j, b);
  const size_t hw = j->hw, ue = j->ue, seg = j->o.buffer, esz = sf_dtype_size(j->m->dtype);
  const size_t n_read = b->count + b->halo_lo + b->halo_hi;
  if (j->ref_pass) {
    SF_CALL(flow_prepare(ctx, j->exec, b));
    SF_CALL(sf_exec_run(j->exec, b, b->count, flow_unit, j));
    return main_finish(ctx, b, partial);
  }
  if (!j->gpu_flow) {
    sf_gpu_flow_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.h = j->m->h;
    cfg.w = j->m->w;
    cfg.c = j->m->c;
    cfg.max_count = seg;
    cfg.max_read = seg + 2 * (size_t)(j->rt > 0 ? j->rt : 0);
    cfg.plan = j->fp;
    cfg.smooth = j->sm;
    cfg.lo = j->lo;
    cfg.inv = j->inv;
    cfg.fill = j->fill;
    cfg.linear = j->interp == SF_INTERP_LINEAR;
    cfg.want_flow = j->o.save_flow;
    cfg.want_valid = j->o.save_valid;
    if (j->o.cc_init) {
      cfg.cc_init = 1;
      cfg.cc_h = j->cc_h;
      cfg.cc_w = j->cc_w;
      cfg.cc_down = j->cc_down;
      cfg.cc_plan = j->xc;
      cfg.cc_refp = j->ref_proc;
      cfg.cc_wch = j->wch;
    }
    SF_CALL(sf_gpu_flow_create(&cfg, &j->gpu_flow));
  }
  /* the temporal taps of post_unit: reflected at the batch's ends, clipped to what was read */
  const int rt = j->rt, ntap = rt > 0 ? 2 * rt + 1 : 0, nt = ntap > 0 ? ntap : 1;
  const long first_read = (long)b->first - (long)b->halo_lo, ra = (long)b->first;
  const long rb = (long)(b->first + b->count) - 1;
  SF_ALLOC(tsrc, b->count * (size_t)nt);
  for (size_t k = 0; k < b->count; k++) {
    if (ntap == 0) {
      tsrc[k] = (int)(k + b->halo_lo);
      continue;
    }
    for (int d = -rt; d <= rt; d++) {
      long src = reflect_index((long)(b->first + k) + d, ra, rb) - first_read;
      src = src < 0 ? 0 : src >= (long)n_read ? (long)n_read - 1 : src;
      tsrc[k * (size_t)nt + (size_t)(d + rt)] = (int)src;
    }
  }
  for (int t = 0; t < ntap; t++) tw[t] = (float)j->gt[t];
  sf_gpu_flow_batch gb = {b->in - b->halo_lo * ue, n_read, b->halo_lo, b->count,
                          b->count < REG_INIT_FRAMES ? b->count : REG_INIT_FRAMES, tsrc, tw, ntap};
  sf_gpu_flow_out go;
  SF_CALL(sf_gpu_flow_execute(j->gpu_flow, &gb, &go));
  for (size_t k = 0; k < b->count; k++) {
    sf_dtype_from_float(j->m->dtype, go.registered + k * ue, (char *)sl->outbuf + k * ue * esz, ue);
    for (int s = 0; s < 4; s++) sl->stats[(size_t)s * seg + k] = go.stats[(size_t)s * b->count + k];
  }
  if (go.flow) memcpy(sl->flow, go.flow, b->count * 2 * hw * sizeof(float));
  if (go.valid && sl->valid) memcpy(sl->valid, go.valid, b->count * hw);
  SF_CALL(main_finish(ctx, b, partial));
cleanup:
  free(tsrc);
  return status;
}

/* Frees the device plan (on the main thread, which the executor also made the device current
 * on). */
static void flow_device_release(reg_job *j) { sf_gpu_flow_destroy(&j->gpu_flow); }

/* ---- reference -------------------------------------------------------------- */

/* Normalisation constants lo, inv from per-channel min/max (joint: over all channels). */
static void norm_from_range(const reg_job *j, const double *mn, const double *mx, float *lo, float *inv) {
  double gmn = mn[0], gmx = mx[0];
  for (int c = 1; c < j->nch; c++) {
    gmn = fmin(gmn, mn[c]);
    gmx = fmax(gmx, mx[c]);
  }
  for (int c = 0; c < j->nch; c++) {
    double a = j->o.separate_norm ? mn[c] : gmn, z = j->o.separate_norm ? mx[c] : gmx;
    lo[c] = (float)a;
    inv[c] = (float)(1.0 / (z - a + 1e-8));
  }
}

/* Per-channel min/max of an interleaved (c = 0) or planar image. */
static void image_range(const reg_job *j, const float *img, int planar, double *mn, double *mx) {
  for (int c = 0; c < j->nch; c++) {
    mn[c] = INFINITY;
    mx[c] = -INFINITY;
  }
  size_t nch = (size_t)j->nch;
  for (size_t i = 0; i < j->hw; i++)
    for (size_t c = 0; c < nch; c++) {
      double x = planar ? img[c * j->hw + i] : img[i * nch + c];
      if (x < mn[c]) mn[c] = x;
      if (x > mx[c]) mx[c] = x;
    }
}

/* Reference pass 1: preprocessing of the raw frames (smoothed over y, x and t). */
static int ref1_prepare(void *ctx, sf_exec *x, const sf_batch *b) {
  reg_job *j = ctx;
  int status = 0;
  SF_CALL(sf_exec_run(x, b, b->count + b->halo_lo + b->halo_hi, pre_unit, j));
  SF_CALL(sf_exec_run(x, b, b->count, post_unit, j));
cleanup:
  return status;
}

/* The batch's raw sums (first ue values of the partial), smoothed sums (next nch*hw) and
 * the smoothed stack's range. */
static int ref1_finish(void *ctx, const sf_batch *b, double *partial) {
  reg_job *j = ctx;
  size_t fe = (size_t)j->nch * j->hw;
  double *pr = partial, *ps = partial + j->ue;
  for (size_t k = 0; k < b->count; k++) {
    const float *f = j->proc_t + k * fe, *r = b->in + k * j->ue;
    for (size_t c = 0; c < (size_t)j->nch; c++)
      for (size_t i = 0; i < j->hw; i++) {
        double x = f[c * j->hw + i];
        if (x < j->smin[c]) j->smin[c] = x;
        if (x > j->smax[c]) j->smax[c] = x;
      }
    for (size_t i = 0; i < fe; i++) ps[i] += f[i];
    for (size_t i = 0; i < j->ue; i++) pr[i] += r[i];
  }
  return 0;
}

/* Reference pass 2: the raw frame of every registered reference frame summed. */
static int ref2_finish(void *ctx, const sf_batch *b, double *partial) {
  reg_job *j = ctx;
  for (size_t k = 0; k < b->count; k++) {
    const float *f = j->warped + k * j->ue;
    for (size_t i = 0; i < j->ue; i++) partial[i] += f[i];
  }
  return 0;
}

/* Preprocessed planar reference from a planar or interleaved image normalised with lo, inv
 * and smoothed by sm, into j->ref_proc; the flow plan's pyramid is built from it. */
static int make_ref_proc(reg_job *j, const float *img, int planar, const float *lo, const float *inv,
                         sf_smooth *sm, sf_flow_plan *fp) {
  reg_ws *w = sf_exec_workspace(j->exec, 0);
  size_t hw = j->hw, nch = (size_t)j->nch;
  for (size_t c = 0; c < nch; c++)
    for (size_t i = 0; i < hw; i++) {
      float x = planar ? img[c * hw + i] : img[i * nch + c];
      j->ref_proc[c * hw + i] = (x - lo[c]) * inv[c];
    }
  for (size_t c = 0; c < nch; c++) sf_smooth_execute(sm, j->ref_proc + c * hw, j->ref_proc + c * hw, w->scratch);
  return sf_flow_set_reference(fp, w->fw, j->ref_proc);
}

static int flow_set_reference(reg_job *j) {
  int status = 0;
  const float *ref = j->ref;
  double mn[REG_MAX_CH], mx[REG_MAX_CH];
  image_range(j, ref, 0, mn, mx);
  norm_from_range(j, mn, mx, j->lo, j->inv);
  SF_CALL(make_ref_proc(j, ref, 0, j->lo, j->inv, j->sm, j->fp));
  j->fp_active = j->fp;
  j->fill = ref;
  if (j->o.cc_init) {
    reg_ws *w = sf_exec_workspace(j->exec, 0);
    combine_planes(j, j->ref_proc, w->pb);
    sf_resample_execute(j->cc_down, w->pb, j->m->w, w->small, j->cc_w, w->scratch);
    SF_CALL(sf_xcorr_set_reference(j->xc, w->xc, w->small));
  }
  set_temporal(j, j->o.sigma[2]);
  j->ta = j->tb = -1;
  j->ref_pass = PASS_MAIN;
cleanup:
  return sf_mpi_agree(status, MPI_COMM_WORLD);
}

/* The reference steps' state back to the main pass's. */
static void ref_reset(reg_job *j) {
  j->ref_pass = PASS_MAIN;
  j->fp_active = j->fp;
  j->fill = NULL;
  sf_flow_plan_destroy(&j->fp2);
  free(j->rawmean);
  free(j->warped);
  j->rawmean = NULL;
  j->warped = NULL;
}

/* Pass 1: the stack smoothed with sigma + [1, 1, 0.5] over (y, x, t), its range and mean,
 * and the mean of the raw frames. */
static int ref1_start(void *ctx) {
  reg_job *j = ctx;
  size_t a, b;
  reg_reference_range(j, &a, &b);
  for (int c = 0; c < j->nch; c++) {
    j->smin[c] = INFINITY;
    j->smax[c] = -INFINITY;
  }
  j->ref_pass = PASS_REF1;
  j->ta = (long)a;
  j->tb = (long)b;
  set_temporal(j, j->o.sigma[2] + 0.5);
  sf_progress_start(&j->ref_prog, j->rank == 0, "reference", "frame visits", 2 * j->ref_plan.n_units);
  return 0;
}

/* Frames are normalised by the stack's range; the provisional reference is their mean, and
 * compensate_arr registers them to it with alpha + 2, the default smoothing and no
 * prealignment. A single frame is the reference as it is (spec §4 item 47). Collective. */
static int ref1_reduced(void *ctx, const double *sum, size_t n) {
  reg_job *j = ctx;
  int status = 0;
  size_t fe = (size_t)j->nch * j->hw;
  float *prov = NULL;
  SF_ALLOC(j->rawmean, j->ue);
  SF_ALLOC(prov, fe);
  reg_mean(sum, j->ue, n, j->rawmean);
  reg_mean(sum + j->ue, fe, n, prov);
  j->single_frame = n == 1;
  if (j->single_frame) {
    memcpy(j->ref, j->rawmean, j->ue * sizeof(float));
    goto cleanup;
  }
  double gmn[REG_MAX_CH], gmx[REG_MAX_CH], pmn[REG_MAX_CH], pmx[REG_MAX_CH];
  SF_MPI(MPI_Allreduce(j->smin, gmn, j->nch, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD));
  SF_MPI(MPI_Allreduce(j->smax, gmx, j->nch, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  norm_from_range(j, gmn, gmx, j->lo, j->inv);
  for (size_t c = 0; c < (size_t)j->nch; c++)
    for (size_t i = 0; i < j->hw; i++) prov[c * j->hw + i] = (prov[c * j->hw + i] - j->lo[c]) * j->inv[c];
  image_range(j, prov, 1, pmn, pmx);
  norm_from_range(j, pmn, pmx, j->lo2, j->inv2);
  sf_flow_params p;
  flow_params(j, 2.0, &p);
  status = sf_flow_plan_create(j->m->h, j->m->w, j->nch, &p, &j->fp2);
  SF_CHECK(status == 0, status, "cannot plan the reference flow pyramid");
  SF_CALL(make_ref_proc(j, prov, 1, j->lo2, j->inv2, j->sm_def, j->fp2));
cleanup:
  free(prov);
  return status;
}

static int ref1_stop(void *ctx, int status) {
  reg_job *j = ctx;
  if (status < 0 || j->single_frame) {
    sf_progress_end(&j->ref_prog);
    ref_reset(j);
  }
  return status;
}

/* Pass 2 (skipped for a single frame): every reference frame registered to the provisional
 * reference, the raw frames warped, their mean the reference. */
static int ref2_skip(void *ctx) { return ((reg_job *)ctx)->single_frame; }

static int ref2_start(void *ctx) {
  reg_job *j = ctx;
  int status = 0;
  SF_ALLOC(j->warped, j->ref_plan.seg_units * j->ue);
  j->fp_active = j->fp2;
  j->fill = j->rawmean;
  j->ref_pass = PASS_REF2;
cleanup:
  return status;
}

static int ref2_reduced(void *ctx, const double *sum, size_t n) {
  reg_job *j = ctx;
  reg_mean(sum, j->ue, n, j->ref);
  return 0;
}

static int ref2_stop(void *ctx, int status) {
  reg_job *j = ctx;
  (void)status;
  sf_progress_end(&j->ref_prog);
  ref_reset(j);
  return status;
}

static size_t flow_reference_steps(reg_job *j, sf_step *st) {
  size_t a, b;
  reg_reference_range(j, &a, &b);
  sf_plan_init(&j->ref_plan, a, b - a + 1, j->o.buffer, j->nranks);
  size_t halo = (size_t)sf_gauss_weights(j->o.sigma[2] + 0.5, j->gt);
  st[0] = (sf_step){.name = "reference pass 1", .kind = SF_STEP_REDUCE, .plan = &j->ref_plan,
                    .halo = halo, .start = ref1_start, .prepare = ref1_prepare,
                    .finish = ref1_finish, .reduce_len = j->ue + (size_t)j->nch * j->hw,
                    .reduced = ref1_reduced, .stop = ref1_stop, .prog = &j->ref_prog};
  st[1] = (sf_step){.name = "reference pass 2", .kind = SF_STEP_REDUCE, .plan = &j->ref_plan,
                    .halo = halo, .skip = ref2_skip, .start = ref2_start,
                    .prepare = flow_prepare, .unit = flow_unit, .finish = ref2_finish,
                    .reduce_len = j->ue, .reduced = ref2_reduced, .stop = ref2_stop,
                    .prog = &j->ref_prog, .progress_base = j->ref_plan.n_units};
  return 2;
}

static void flow_teardown(reg_job *j) {
  ref_reset(j);
  sf_flow_plan_destroy(&j->fp);
  sf_xcorr_plan_destroy(&j->xc);
  sf_smooth_destroy(&j->sm);
  sf_smooth_destroy(&j->sm_ref);
  sf_smooth_destroy(&j->sm_def);
  sf_resample_destroy(&j->cc_down);
  free(j->proc);
  free(j->proc_t);
  free(j->ref_proc);
  free(j->winit);
  j->proc = j->proc_t = j->ref_proc = j->winit = NULL;
  for (int s = 0; s < 2; s++) {
    if (s == 0 || j->slot[1].flow != j->slot[0].flow) free(j->slot[s].flow);
    free(j->slot[s].stats);
    free(j->slot[s].valid);
  }
  for (int s = 0; s < 2; s++) j->slot[s].flow = NULL, j->slot[s].stats = NULL, j->slot[s].valid = NULL;
}

static void flow_budget(const reg_job *j, sf_mem_budget *b, uint64_t threads) {
  const sf_source_meta *m = j->m;
  const reg_opts *o = &j->o;
  uint64_t hw = sf_mul_sat(m->h, m->w), ue = sf_mul_sat(hw, m->c), seg = o->buffer, nch = m->c;
  size_t a, last;
  reg_reference_range(j, &a, &last);
  size_t nref = last - a + 1;
  uint64_t sums = ((nref + seg - 1) / seg + (size_t)j->nranks - 1) / (size_t)j->nranks;
  sf_mem_budget_add(b, 1, sums, sf_add_sat(ue, sf_mul_sat(nch, hw)), sizeof(double),
                    "%llu reference sums of %zux%zux%zu doubles", (unsigned long long)sums, m->h,
                    m->w, m->c);
  sf_mem_budget_add(b, seg, ue, 1, sizeof(float),
                    "the reference pass's %zu warped frames (--buffer-size %zu)", o->buffer, o->buffer);
  uint64_t halo = (uint64_t)(4 * (o->sigma[2] + 0.5) + 0.5);
  sf_mem_budget_add(b, sf_add_sat(sf_mul_sat(2, seg), 2 * halo), nch, hw, sizeof(float),
                    "the preprocessed frames of a batch (--buffer-size %zu)", o->buffer);
  sf_mem_budget_add(b, o->save_flow ? 2 : 1, seg, hw, 2 * sizeof(float),
                    "the flow of %zu frames (--buffer-size %zu)", o->buffer, o->buffer);
  if (o->save_valid)
    sf_mem_budget_add(b, 2, seg, hw, 1, "the valid masks of %zu frames (--buffer-size %zu)",
                      o->buffer, o->buffer);
  /* the reference pyramid; per thread the solver's planes (about 8 per channel + 16) */
  sf_mem_budget_add(b, 4, nch, hw, sizeof(float), "the reference pyramid of %zux%zu", m->h, m->w);
  sf_mem_budget_add(b, threads, sf_add_sat(sf_mul_sat(10, nch), 16), hw, sizeof(float),
                    "the flow workspaces of %llu threads for %zux%zu frames",
                    (unsigned long long)threads, m->h, m->w);
}

static int flow_add_outputs(reg_job *j) {
  int status = 0;
  static const char *stat_names[4] = {"/stats/mean_disp", "/stats/max_disp", "/stats/mean_div",
                                      "/stats/mean_translation"};
  hsize_t tdims[1] = {j->m->t}, fdims[4] = {j->m->t, j->m->h, j->m->w, 2},
          fchunk[4] = {1, j->m->h, j->m->w, 2};
  hsize_t dims[3] = {j->m->t, j->m->h, j->m->w}, chunk[3] = {1, j->m->h, j->m->w};
  for (int k = 0; k < 4; k++)
    SF_CALL(sf_output_add(j->out, stat_names[k], H5T_NATIVE_FLOAT, 1, tdims, NULL, &j->id_stats[k]));
  if (j->o.save_flow)
    SF_CALL(sf_output_add(j->out, "/flow", H5T_NATIVE_FLOAT, 4, fdims, fchunk, &j->id_flow));
  if (j->o.save_valid)
    SF_CALL(sf_output_add(j->out, "/valid", H5T_NATIVE_UCHAR, 3, dims, chunk, &j->id_valid));
cleanup:
  return status;
}

static int flow_commit(reg_job *j, const sf_batch *b) {
  int status = 0;
  const reg_slot *sl = reg_slot_of(j, b);
  for (int k = 0; k < 4; k++)
    SF_CALL(sf_output_write_rows(j->out, j->id_stats[k], b->first, b->count, H5T_NATIVE_FLOAT,
                                 sl->stats + (size_t)k * j->o.buffer));
  if (j->o.save_flow)
    SF_CALL(sf_output_write_rows(j->out, j->id_flow, b->first, b->count, H5T_NATIVE_FLOAT, sl->flow));
  if (j->o.save_valid)
    SF_CALL(sf_output_write_rows(j->out, j->id_valid, b->first, b->count, H5T_NATIVE_UCHAR, sl->valid));
cleanup:
  return status;
}

const reg_method reg_flow_method = {
    .name = "flow",
    .budget = flow_budget,
    .setup = flow_setup,
    .teardown = flow_teardown,
    .ws_create = flow_ws_create,
    .ws_destroy = flow_ws_destroy,
    .reference_steps = flow_reference_steps,
    .set_reference = flow_set_reference,
    .prepare = flow_prepare,
    .unit = flow_unit,
    .finish = main_finish,
    .device = flow_device,
    .device_release = flow_device_release,
    .add_outputs = flow_add_outputs,
    .commit = flow_commit,
};
