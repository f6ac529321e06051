/* `slabflow register` internals shared by the command (register.c) and its nonrigid
 * flow steps (register_flow.c). Module-private. */
#ifndef SF_REGISTER_IMPL_H
#define SF_REGISTER_IMPL_H

#include <stddef.h>

#include "kernels/flow_estimate.h"
#include "kernels/flow_preproc.h"
#include "kernels/flow_resample.h"
#include "kernels/warp_shift.h"
#include "kernels/xcorr_rigid.h"
#include "mpi/engine.h"
#include "mpi/h5_output.h"
#include "mpi/unit_source.h"
#include "node/node_loop.h"

#define REG_MAX_CH SF_FLOW_MAX_CH
#define REG_INIT_FRAMES 22  /* frames whose mean flow starts a segment (decision 3) */

enum { REG_RIGID = 0, REG_FLOW = 1 };

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
 * overlaps commit(k-1) with compute(k) (sf_sweep_ops.overlap), so there are two of these and
 * the batch of step s uses slot s % 2 in every pass (reg_slot_of). */
typedef struct reg_slot {
  float *shifts;             /* seg x 2 (rigid) */
  void *outbuf;              /* seg x ue in the input dtype */
  float *stats;              /* seg x 4 (flow) */
  float *flow;               /* seg x hw x 2, interleaved [u, v] (flow); without --save-flow
                              * nothing commits it and both slots share one buffer */
  unsigned char *valid;      /* seg x hw (flow, --save-valid only) */
} reg_slot;

typedef struct reg_job {
  reg_opts o;
  const sf_source_meta *m;
  size_t hw, ue;             /* pixels per frame, values per frame (h*w*c) */
  int nch;
  float wch[REG_MAX_CH];     /* normalised channel weights */
  sf_xcorr_plan *xc;
  sf_node *node;
  sf_interp interp;
  const float *fill;         /* reference used for out-of-bounds pixels (interleaved) */
  /* per-batch buffers (one segment) */
  const sf_batch *b;         /* the batch in compute */
  reg_slot slot[2];
  reg_slot *cur;             /* slot of the batch in compute: reg_slot_of(j, j->b) */
  float *warped;             /* seg x ue (reference pass) */
  double *partials;          /* reference pass: one partial sum per owned segment */
  size_t n_partials;
  int keep_warped;           /* reference pass: keep floats; main pass: convert */
  sf_output *out;
  int id_reg, id_shift, id_ref, id_flow, id_valid, id_stats[4];
  double sum_shift, max_shift;
  /* flow */
  sf_flow_plan *fp;          /* the main pass's flow plan */
  sf_flow_plan *fp_active;   /* plan of the pass in progress */
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
  int use_winit;             /* frames start from winit (else zero) */
  int ref_pass;              /* 1 during the reference preregistration */
  double *smin, *smax;       /* reference pass 1: per channel min/max of the smoothed stack */
  double *partials2;         /* reference pass 1: smoothed sums */
  size_t n_partials2;
} reg_job;

/* The output slot of batch b (by step parity, see reg_slot). */
static inline reg_slot *reg_slot_of(reg_job *j, const sf_batch *b) { return &j->slot[b->step & 1]; }

/* Flow-method setup after the options are checked: plans and batch buffers. Local. */
int reg_flow_setup(reg_job *j);

/* Flow-method workspace pieces of one thread. Local. */
int reg_flow_ws_create(reg_job *j, reg_ws *w);
void reg_flow_ws_destroy(reg_ws *w);

/* The distributed flow reference (spec §4, decision 4) into ref (h,w,c). Collective. */
int reg_flow_build_reference(reg_job *j, sf_source *src, float *ref, sf_phase_times *tm);

/* Prepares the main pass from the reference (h,w,c): normalisation, reference pyramid.
 * Collective (agrees on errors). */
int reg_flow_set_reference(reg_job *j, const float *ref);

/* Main pass compute of a batch. Local. */
int reg_flow_main_compute(void *ctx, const sf_batch *b);

/* Mean over n frames of the fixed-order sum of per-segment partials (double, len values). */
int reg_ordered_mean(double *partials, size_t *n_partials, size_t len, size_t n, float *mean);

#endif
