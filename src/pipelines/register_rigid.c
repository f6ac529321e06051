/* `slabflow register --method rigid`: the rigid method (spec register.md §4 and decision 4):
 * a shift per frame by phase correlation with upsampled-DFT refinement against the
 * reference, the frame warped by it with the reference as fill. The reference is the mean of
 * the reference frames, each registered once to their plain mean: two fixed-order reductions
 * over the reference frames. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_rigid.h"
#include "kernels/dtype_convert.h"
#include "kernels/warp_shift.h"
#include "kernels/xcorr_rigid.h"
#include "kernels/xcorr_rigid_hd.h"
#include "mpi/mpi_agree.h"
#include "pipelines/register_impl.h"
#include "sf_error.h"

#define REF_SEGMENT 16 /* frames per segment of the rigid reference sums */

/* Weighted channel combination used for shift estimation. */
static void combine_channels(const reg_job *j, const float *frame, float *gray) {
  size_t c = j->m->c;
  if (c == 1) {
    memcpy(gray, frame, j->hw * sizeof(float));
    return;
  }
  for (size_t i = 0; i < j->hw; i++) gray[i] = sf_hd_combine(frame, i, c, j->wch);
}

/* Sets the correlation reference from a (H,W,C) image. */
static int set_reference_image(reg_job *j, const float *img) {
  reg_ws *w = sf_exec_workspace(j->exec, 0);
  combine_channels(j, img, w->gray);
  return sf_xcorr_set_reference(j->xc, w->xc, w->gray);
}

/* Frame k of b: shift estimate into the batch's slot, warp with reference fill into dst. */
static void shift_frame(reg_job *j, reg_ws *w, const sf_batch *b, size_t k, float *dst) {
  const float *frame = b->in + k * j->ue;
  float sh[2];
  reg_slot *sl = reg_slot_of(j, b);
  combine_channels(j, frame, w->gray);
  sf_xcorr_execute(j->xc, w->xc, w->gray, sh);
  sl->shifts[2 * k] = sh[0];
  sl->shifts[2 * k + 1] = sh[1];
  sf_warp_shift(frame, j->fill, j->m->h, j->m->w, j->m->c, sh[0], sh[1], j->interp, w->tmp, dst);
}

/* Main pass unit: the registered frame, converted to the input dtype in the slot. */
static int main_unit(void *ctx, void *wsp, const sf_batch *b, size_t k) {
  reg_job *j = ctx;
  reg_ws *w = wsp;
  shift_frame(j, w, b, k, w->warped);
  size_t esz = sf_dtype_size(j->m->dtype);
  sf_dtype_from_float(j->m->dtype, w->warped, (char *)reg_slot_of(j, b)->outbuf + k * j->ue * esz,
                      j->ue);
  return 0;
}

/* Main pass: the batch's shifts into the display statistics. */
static int main_finish(void *ctx, const sf_batch *b, double *partial) {
  reg_job *j = ctx;
  const reg_slot *sl = reg_slot_of(j, b);
  (void)partial;
  for (size_t k = 0; k < b->count; k++) {
    double m = hypot(sl->shifts[2 * k], sl->shifts[2 * k + 1]);
    j->sum_shift += m;
    if (m > j->max_shift) j->max_shift = m;
  }
  return 0;
}

/* Main pass on the device (sf_step.device, --backend cuda): the batch's frames go to the
 * device once, the whole per-frame pipeline runs there batched (gpu_rigid.h), the warped frames
 * and shifts come back once; the conversion to the input dtype and the display statistics
 * stay on the host. The plan is made at the first batch, on the compute thread the executor
 * made the device current on. Not yet run on a device (issue 16: blocked on the device run). */
static int main_device(void *ctx, const sf_batch *b, double *partial) {
  reg_job *j = ctx;
  int status = 0;
  const float *out = NULL, *sh = NULL;
  reg_slot *sl = reg_slot_of(j, b);
  size_t esz = sf_dtype_size(j->m->dtype);
  if (!j->gpu) {
    SF_CALL(sf_gpu_rigid_create(j->m->h, j->m->w, j->m->c, j->o.buffer, (int)j->o.cc_up,
                                (float)j->o.cc_sigma, j->wch, j->interp == SF_INTERP_LINEAR, &j->gpu));
    SF_CALL(sf_gpu_rigid_set_reference(j->gpu, j->fill));
  }
  SF_CALL(sf_gpu_rigid_execute(j->gpu, b->in, b->count, &out, &sh));
  memcpy(sl->shifts, sh, 2 * b->count * sizeof(float));
  for (size_t k = 0; k < b->count; k++)
    sf_dtype_from_float(j->m->dtype, out + k * j->ue, (char *)sl->outbuf + k * j->ue * esz, j->ue);
  SF_CALL(main_finish(ctx, b, partial));
cleanup:
  return status;
}

/* Frees the device plan (on the main thread, which the executor also made the device current
 * on). */
static void rigid_device_release(reg_job *j) { sf_gpu_rigid_destroy(&j->gpu); }

/* Partial sum of a batch's frames in frame order (double). */
static void sum_frames(const reg_job *j, const sf_batch *b, const float *frames, double *p) {
  for (size_t k = 0; k < b->count; k++) {
    const float *f = frames + k * j->ue;
    for (size_t i = 0; i < j->ue; i++) p[i] += f[i];
  }
}

/* Reference step 1: the raw frames summed. */
static int ref1_finish(void *ctx, const sf_batch *b, double *partial) {
  sum_frames(ctx, b, b->in, partial);
  return 0;
}

/* Their plain mean becomes the provisional reference and the fill. Collective. */
static int ref1_reduced(void *ctx, const double *sum, size_t n) {
  reg_job *j = ctx;
  int status = 0;
  SF_ALLOC(j->mean0, j->ue);
  reg_mean(sum, j->ue, n, j->mean0);
  SF_CALL(set_reference_image(j, j->mean0));
  j->fill = j->mean0;
cleanup:
  return status;
}

/* Reference step 2: every reference frame registered once to the provisional reference. */
static int ref2_start(void *ctx) {
  reg_job *j = ctx;
  int status = 0;
  SF_ALLOC(j->warped, j->ref_plan.seg_units * j->ue);
cleanup:
  return status;
}

static int ref2_unit(void *ctx, void *wsp, const sf_batch *b, size_t k) {
  reg_job *j = ctx;
  shift_frame(j, wsp, b, k, j->warped + k * j->ue);
  return 0;
}

static int ref2_finish(void *ctx, const sf_batch *b, double *partial) {
  reg_job *j = ctx;
  sum_frames(j, b, j->warped, partial);
  return 0;
}

static int ref2_reduced(void *ctx, const double *sum, size_t n) {
  reg_job *j = ctx;
  reg_mean(sum, j->ue, n, j->ref);
  return 0;
}

static int ref2_stop(void *ctx, int status) {
  reg_job *j = ctx;
  free(j->warped);
  free(j->mean0);
  j->warped = j->mean0 = NULL;
  j->fill = NULL;
  sf_progress_end(&j->ref_prog);
  return status;
}

static int ref1_start(void *ctx) {
  reg_job *j = ctx;
  sf_progress_start(&j->ref_prog, j->rank == 0, "reference", "frame visits",
                    2 * j->ref_plan.n_units);
  return 0;
}

/* Smaller fixed segments than the main pass balance the reference over ranks; they depend
 * only on the options, so the fixed-order sum is the same for any rank count. */
static size_t rigid_reference_steps(reg_job *j, sf_step *st) {
  size_t a, b;
  reg_reference_range(j, &a, &b);
  sf_plan_init(&j->ref_plan, a, b - a + 1, j->o.buffer < REF_SEGMENT ? j->o.buffer : REF_SEGMENT,
               j->nranks);
  st[0] = (sf_step){.name = "reference sums", .kind = SF_STEP_REDUCE, .plan = &j->ref_plan,
                    .start = ref1_start, .finish = ref1_finish, .reduce_len = j->ue,
                    .reduced = ref1_reduced, .prog = &j->ref_prog};
  st[1] = (sf_step){.name = "reference", .kind = SF_STEP_REDUCE, .plan = &j->ref_plan,
                    .start = ref2_start, .unit = ref2_unit, .finish = ref2_finish,
                    .reduce_len = j->ue, .reduced = ref2_reduced, .stop = ref2_stop,
                    .prog = &j->ref_prog, .progress_base = j->ref_plan.n_units};
  return 2;
}

static int rigid_set_reference(reg_job *j) {
  int status = set_reference_image(j, j->ref);
  j->fill = j->ref;
  return sf_mpi_agree(status, MPI_COMM_WORLD);
}

static int rigid_setup(reg_job *j) {
  int status = 0;
  status = sf_xcorr_plan_create(j->m->h, j->m->w, (int)j->o.cc_up, (float)j->o.cc_sigma, &j->xc);
  SF_CHECK(status == 0, status, "cannot plan the FFTs");
  for (int s = 0; s < 2; s++) SF_ALLOC(j->slot[s].shifts, 2 * j->o.buffer);
cleanup:
  return status;
}

static void rigid_teardown(reg_job *j) {
  sf_xcorr_plan_destroy(&j->xc);
  for (int s = 0; s < 2; s++) {
    free(j->slot[s].shifts);
    j->slot[s].shifts = NULL;
  }
  free(j->warped);
  free(j->mean0);
  j->warped = j->mean0 = NULL;
}

static int rigid_ws_create(reg_job *j, reg_ws *w) {
  int status = 0;
  SF_CALL(sf_xcorr_ws_create(j->xc, &w->xc));
  SF_ALLOC(w->gray, j->hw);
  SF_ALLOC(w->tmp, j->ue);
  SF_ALLOC(w->warped, j->ue);
cleanup:
  return status;
}

static void rigid_ws_destroy(reg_ws *w) {
  sf_xcorr_ws_destroy(&w->xc);
  free(w->gray);
  free(w->tmp);
  free(w->warped);
  w->gray = w->tmp = w->warped = NULL;
}

static void rigid_budget(const reg_job *j, sf_mem_budget *b, uint64_t threads) {
  const sf_source_meta *m = j->m;
  uint64_t hw = sf_mul_sat(m->h, m->w), ue = sf_mul_sat(hw, m->c);
  size_t a, last;
  reg_reference_range(j, &a, &last);
  size_t rseg = j->o.buffer < REF_SEGMENT ? j->o.buffer : REF_SEGMENT, nref = last - a + 1;
  uint64_t sums = ((nref + rseg - 1) / rseg + (size_t)j->nranks - 1) / (size_t)j->nranks;
  sf_mem_budget_add(b, 1, sums, ue, sizeof(double), "%llu reference sums of %zux%zux%zu doubles",
                    (unsigned long long)sums, m->h, m->w, m->c);
  sf_mem_budget_add(b, rseg, ue, 1, sizeof(float), "the reference pass's %zu warped frames", rseg);
  /* FFT plan (window, gains, reference spectrum) and per thread: spectra and frame scratch */
  sf_mem_budget_add(b, 6, hw, 1, sizeof(float), "the correlation plan of %zux%zu", m->h, m->w);
  sf_mem_budget_add(b, threads, sf_add_sat(sf_mul_sat(6, hw), sf_mul_sat(2, ue)), 1, sizeof(float),
                    "the workspaces of %llu threads for %zux%zux%zu frames",
                    (unsigned long long)threads, m->h, m->w, m->c);
}

static int rigid_add_outputs(reg_job *j) {
  hsize_t sdims[2] = {j->m->t, 2};
  return sf_output_add(j->out, "/shifts", H5T_NATIVE_FLOAT, 2, sdims, NULL, &j->id_shift);
}

static int rigid_commit(reg_job *j, const sf_batch *b) {
  return sf_output_write_rows(j->out, j->id_shift, b->first, b->count, H5T_NATIVE_FLOAT,
                              reg_slot_of(j, b)->shifts);
}

const reg_method reg_rigid_method = {
    .name = "rigid",
    .budget = rigid_budget,
    .setup = rigid_setup,
    .teardown = rigid_teardown,
    .ws_create = rigid_ws_create,
    .ws_destroy = rigid_ws_destroy,
    .reference_steps = rigid_reference_steps,
    .set_reference = rigid_set_reference,
    .unit = main_unit,
    .finish = main_finish,
    .device = main_device,
    .device_release = rigid_device_release,
    .add_outputs = rigid_add_outputs,
    .commit = rigid_commit,
};
