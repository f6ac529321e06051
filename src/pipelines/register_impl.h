/* `slabflow register` internals shared by the command (register.c) and its nonrigid
 * flow steps (register_flow.c). Module-private. */
#ifndef SF_REGISTER_IMPL_H
#define SF_REGISTER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/flow_estimate.h"
#include "kernels/flow_preproc.h"
#include "kernels/flow_resample.h"
#include "kernels/warp_shift.h"
#include "kernels/xcorr_rigid.h"
#include "mpi/engine.h"
#include "mpi/h5_output.h"
#include "mpi/unit_source.h"
#include "mpi/mem_check.h"
#include "node/exec.h"

#define REG_MAX_CH SF_FLOW_MAX_CH
#define REG_INIT_FRAMES 22  /* frames whose mean flow starts a segment (decision 3) */
#define REG_MAX_REF_STEPS 2 /* reference steps of a method */

enum { REG_RIGID = 0, REG_FLOW = 1 };
enum { REG_BACKEND_CPU = 0, REG_BACKEND_CUDA = 1, REG_BACKEND_AUTO = 2 }; /* --backend */

typedef struct reg_opts {
  const char *in, *out, *dataset, *ref_file;
  int method;            /* REG_RIGID, REG_FLOW */
  size_t ref_a, ref_b;   /* reference frames, inclusive */
  size_t cc_up;
  double cc_sigma;
  int interp;            /* 0 linear, 1 cubic */
  size_t buffer;         /* 0 until parsed: the method's default */
  int threads;
  double weight[REG_MAX_CH];
  size_t n_weight;
  /* flow */
  int quality;           /* 0 fast, 1 balanced, 2 quality */
  long min_level;        /* -1: from --quality */
  double alpha[2];
  long levels, iterations, update_lag;
  double eta, a_smooth;
  double a_data[REG_MAX_CH];
  size_t n_a_data;
  double sigma[3];       /* rows, columns, time */
  int constancy;         /* 0 gc, 1 gray */
  int separate_norm;     /* 0 joint, 1 per channel */
  int save_flow, save_valid, cc_init;
  size_t cc_hw;
  int resume;
  int backend;           /* REG_BACKEND_* */
} reg_opts;

/* One thread's buffers. */
typedef struct reg_ws {
  sf_xcorr_ws *xc;
  float *gray, *tmp, *warped;
  /* flow */
  sf_flow_ws *fw;
  float *fu, *fv;        /* full-resolution flow */
  float *pa, *pb;        /* nch planes of scratch */
  float *small;          /* cc-init: downsampled image */
  float *scratch;        /* smoothing / resampling scratch */
} reg_ws;

/* Everything the main pass's commit writes for one batch (one segment). The main pass
 * overlaps commit(k-1) with compute(k) (sf_step.overlap), so there are two of these and the
 * batch of step s uses slot b->slot = s % 2 in every pass (reg_slot_of). */
typedef struct reg_slot {
  float *shifts;             /* seg x 2 (rigid) */
  void *outbuf;              /* seg x ue in the input dtype */
  float *stats;              /* seg x 4 (flow) */
  float *flow;               /* seg x hw x 2, interleaved [u, v] (flow); without --save-flow
                              * nothing commits it and both slots share one buffer */
  unsigned char *valid;      /* seg x hw (flow, --save-valid only) */
} reg_slot;

typedef struct reg_job reg_job;

/* A registration method: the rigid and flow methods behind one interface. A method owns its
 * plans and buffers (setup, teardown), adds its reference steps and its part of the per-frame
 * step to the pipeline, and its datasets to the output. register.c holds the command and
 * calls the methods; they never call it. */
typedef struct reg_method {
  const char *name;
  /* Adds the method's big allocations to the memory budget (before setup). Local. */
  void (*budget)(const reg_job *j, sf_mem_budget *b, uint64_t threads);
  /* Plans and the method's own buffers, after the options are checked. Local. */
  int (*setup)(reg_job *j);
  void (*teardown)(reg_job *j);
  /* One thread's part of the workspace. Local. */
  int (*ws_create)(reg_job *j, reg_ws *w);
  void (*ws_destroy)(reg_ws *w);
  /* The reference steps (at most REG_MAX_REF_STEPS) written to steps: together they leave
   * the reference in j->ref. Returns how many. Local. */
  size_t (*reference_steps)(reg_job *j, sf_step *steps);
  /* Prepares the main pass from the reference j->ref. Collective (agrees on errors). */
  int (*set_reference)(reg_job *j);
  /* The per-frame step's compute: prepare (may be NULL), unit, finish (display statistics). */
  int (*prepare)(void *ctx, sf_exec *x, const sf_batch *b);
  sf_unit_fn unit;
  int (*finish)(void *ctx, const sf_batch *b, double *partial);
  /* The per-frame step's device version (sf_step.device; NULL: none, the step runs on the
   * CPU also with --backend cuda) and the release of what it made on the device (called on
   * the thread the executor made the device current on; may be NULL). */
  int (*device)(void *ctx, const sf_batch *b, double *partial);
  void (*device_release)(reg_job *j);
  /* The method's datasets: created with the output, written by each batch's commit. */
  int (*add_outputs)(reg_job *j);
  int (*commit)(reg_job *j, const sf_batch *b);
} reg_method;

extern const reg_method reg_rigid_method, reg_flow_method;

struct reg_job {
  reg_opts o;
  const reg_method *meth;
  const sf_source_meta *m;
  size_t hw, ue;             /* pixels per frame, values per frame (h*w*c) */
  int nch;
  float wch[REG_MAX_CH];     /* normalised channel weights */
  int rank, nranks;
  sf_exec *exec;
  sf_interp interp;
  float *ref;                /* the reference (h,w,c), on every rank */
  const float *fill;         /* reference used for out-of-bounds pixels (interleaved) */
  sf_plan plan;              /* the main pass's plan */
  sf_plan ref_plan;          /* the reference steps' plan */
  sf_progress prog;          /* progress of the main pass */
  double t_start, t_setup, t_ref; /* wall clock: start, setup and reference seconds */
  sf_progress ref_prog;      /* progress of the reference steps (frame visits) */
  reg_slot slot[2];
  sf_output *out;
  int id_reg, id_shift, id_ref, id_flow, id_valid, id_stats[4];
  double sum_shift, max_shift;
  /* rigid */
  sf_xcorr_plan *xc;         /* also the flow method's --cc-init correlation */
  float *mean0;              /* plain mean of the reference frames */
  float *warped;             /* seg x ue: the reference pass's warped frames */
  int on_device;             /* some rank runs the per-frame step on a device (its results may differ
                                in the last bits from the CPU's: part of the resume identity) */
  struct sf_gpu_rigid *gpu;  /* --backend cuda: the device's rigid plan (made at the first batch) */
  struct sf_gpu_flow *gpu_flow; /* --backend cuda: the device's flow plan (made at the first batch) */
  /* flow */
  sf_flow_plan *fp;          /* the main pass's flow plan */
  sf_flow_plan *fp_active;   /* plan of the pass in progress */
  sf_flow_plan *fp2;         /* the reference pass's plan (alpha + 2) */
  sf_smooth *sm;             /* per-frame spatial smoothing (options' sigma) */
  sf_smooth *sm_ref;         /* reference stack smoothing (sigma + [1, 1]) */
  sf_smooth *sm_def;         /* preregistration's second smoothing (default sigma 1, 1) */
  long ta, tb;               /* temporal smoothing reflects at units ta..tb (-1: the batch) */
  double gt[2 * SF_GAUSS_MAX_RADIUS + 1]; /* temporal weights of the pass in progress */
  int rt;                    /* temporal radius of the pass in progress */
  sf_resample *cc_down;      /* cc-init: full -> (Th, Tw) */
  size_t cc_h, cc_w;
  size_t scratch_n;          /* floats of reg_ws.scratch */
  float lo[REG_MAX_CH], inv[REG_MAX_CH];     /* frame normalisation of the pass */
  float lo2[REG_MAX_CH], inv2[REG_MAX_CH];   /* reference pass: second normalisation */
  float *ref_proc;           /* nch planes: preprocessed reference of the pass */
  float *proc;               /* seg (+halo) x nch planes: preprocessed frames */
  float *proc_t;             /* seg x nch planes: after temporal smoothing */
  float *winit;              /* 2 planes: initial flow of the segment */
  int ref_pass;              /* the reference pass in progress (0: the main pass) */
  double smin[REG_MAX_CH], smax[REG_MAX_CH]; /* reference pass 1: range of the smoothed stack */
  float *rawmean;            /* reference pass 1: mean of the raw frames */
  int single_frame;          /* the reference range is one frame: it is the reference */
};

/* The output slot of batch b (by step parity, see reg_slot). */
static inline reg_slot *reg_slot_of(reg_job *j, const sf_batch *b) { return &j->slot[b->slot]; }

/* The reference frames [*a, *b], clipped to the recording (all frames when it is shorter). */
static inline void reg_reference_range(const reg_job *j, size_t *a, size_t *b) {
  *a = j->o.ref_a;
  *b = j->o.ref_b;
  if (*a >= j->m->t) {
    *a = 0;
    *b = j->m->t - 1;
  }
  if (*b >= j->m->t) *b = j->m->t - 1;
}

/* Mean of a fixed-order sum over n frames into len floats (the reference reductions). */
static inline void reg_mean(const double *sum, size_t len, size_t n, float *mean) {
  for (size_t i = 0; i < len; i++) mean[i] = (float)(sum[i] / (double)n);
}

#endif
