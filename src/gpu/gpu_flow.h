/* The optical-flow registration of a batch of frames on one CUDA device (issue 16, --method
 * flow): normalisation and Gaussian preprocessing, temporal smoothing, the segment's initial
 * flow (mean of the first frames' flows from zero), then per frame the whole variational
 * pyramid (resampling, warps, motion tensors, the SOR level solver in red-black order, the
 * 5x5 median of the increments), the final upsampling, the warp of the raw frame with
 * reference fill and the per-frame statistics, all from the per-element bodies the CPU
 * kernels and the host tests run (kernels/flow_hd.h, kernels/flow_solver_hd.h), batched:
 * every launch covers every frame of the batch. Frames go to the device once (pinned buffer,
 * in chunks on a copy stream that overlap the preprocessing) and the results come back once;
 * nothing crosses per level. The reference pyramid is taken from the CPU plan at create.
 * Every a_smooth (1: the red-black solver; else the CPU's lagged-nonlinearity solver,
 * flow_solver_asmooth.c, also red-black), and --cc-init (each frame prealigned by phase
 * correlation, cuFFT, before the pyramid solves the residual from zero). Built from gpu_flow.cu
 * when CUDA is found; without CUDA every function fails with SF_ERR_INTERNAL. Local; call from the
 * thread that made the device current. */
#ifndef SF_GPU_FLOW_H
#define SF_GPU_FLOW_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sf_flow_plan;
struct sf_smooth;
struct sf_resample;
struct sf_xcorr_plan;
typedef struct sf_gpu_flow sf_gpu_flow;

typedef struct sf_gpu_flow_config {
  size_t h, w, c;                  /* frame size; channels (interleaved raw = flow planes) */
  size_t max_read, max_count;      /* most frames read (halo included) and registered per batch */
  const struct sf_flow_plan *plan; /* main pass plan with its reference set (copied) */
  const struct sf_smooth *smooth;  /* per-frame spatial smoothing (copied) */
  const float *lo, *inv;           /* c normalisation constants */
  const float *fill;               /* (h, w, c) reference: fill of the final warp (copied) */
  int linear;                      /* final warp bilinear (else Keys cubic) */
  int want_flow, want_valid;       /* bring back the flow fields, the valid masks */
  /* --cc-init (cc_init != 0): the rigid prealignment of register_flow.c's frame_flow */
  int cc_init;
  size_t cc_h, cc_w;                   /* the correlation grid */
  const struct sf_resample *cc_down;   /* full resolution -> grid (tables copied) */
  const struct sf_xcorr_plan *cc_plan; /* window, weights, reference spectrum (copied) */
  const float *cc_refp;                /* preprocessed reference, c planes of h x w (copied) */
  const float *cc_wch;                 /* c channel weights (copied) */
} sf_gpu_flow_config;

/* One batch: n_read raw (h, w, c) frames (halo included) at in; the count frames registered
 * are in[first_reg ...]; frame k's temporal taps are the read frames tsrc[k*ntap + t] with
 * weights tw[t] (ntap 0: frame tsrc[k] as it is); the first n_init frames' mean flow from
 * zero starts every frame's flow. */
typedef struct sf_gpu_flow_batch {
  const float *in;
  size_t n_read, first_reg, count, n_init;
  const int *tsrc;
  const float *tw;
  int ntap;
} sf_gpu_flow_batch;

/* Results in the plan's pinned buffers, valid until the next execute: registered (count x h x
 * w x c), flow (count x h x w x 2, [u, v] interleaved; NULL unless want_flow), valid (count x
 * h x w; NULL unless want_valid), stats (4 x count: mean |w|, max |w|, mean divergence,
 * |mean flow|, statistic-major). */
typedef struct sf_gpu_flow_out {
  const float *registered, *flow, *stats;
  const unsigned char *valid;
} sf_gpu_flow_out;

/* Plans the device copy: tap tables, reference pyramid, workspaces for max_count frames,
 * pinned buffers, two streams. Returns 0, SF_ERR_USAGE (an unsupported option: more than
 * SF_FLOW_MAX_CH channels), SF_ERR_NOMEM (device or pinned memory) or SF_ERR_IO
 * (another CUDA failure), reported. */
int sf_gpu_flow_create(const sf_gpu_flow_config *cfg, sf_gpu_flow **out);

/* Registers one batch (count 1..max_count, n_read <= max_read). Returns 0 or SF_ERR_*. */
int sf_gpu_flow_execute(sf_gpu_flow *g, const sf_gpu_flow_batch *b, sf_gpu_flow_out *out);

/* Frees; accepts NULL and sets *g to NULL. */
void sf_gpu_flow_destroy(sf_gpu_flow **g);

#ifdef __cplusplus
}
#endif

#endif
