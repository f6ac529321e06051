/* The engine: a lockstep sweep of all ranks over the segments of a plan. At each step every
 * rank reads its batch (one segment, or nothing), checks it, computes it on the node, and
 * commits it collectively; errors are agreed before every collective. */
#ifndef SF_ENGINE_H
#define SF_ENGINE_H

#include <mpi.h>
#include <stddef.h>

#include "mpi/plan.h"
#include "mpi/progress.h"
#include "mpi/unit_source.h"

typedef struct sf_batch {
  size_t step;      /* lockstep step */
  long segment;     /* segment index in the plan, -1 when this rank has none at this step */
  size_t first;     /* first unit (absolute index in the source) */
  size_t count;     /* units in the batch (0 when segment is -1) */
  float *in;        /* count * unit_elems input values */
  size_t halo_lo;   /* units before `first` also read (in[-halo_lo*unit_elems...]) */
  size_t halo_hi;   /* units after the batch also read */
} sf_batch;

typedef struct sf_phase_times {
  double read, compute, commit; /* seconds spent by this rank */
} sf_phase_times;

typedef struct sf_sweep_ops {
  void *ctx;
  /* Local work on a non-empty batch, on the master thread (typically sf_node_run). */
  int (*compute)(void *ctx, const sf_batch *b);
  /* Collective: every rank, every step, also with an empty batch. */
  int (*commit)(void *ctx, const sf_batch *b);
  /* Neighbour units read on each side of a batch (clipped to the plan's range), for
   * computations with a context window along the unit axis. */
  size_t halo;
} sf_sweep_ops;

/* Runs the sweep over plan with input from src. Float inputs are checked for NaN/Inf after
 * each read; the first bad unit (in unit order) is reported once by its owner. Progress is
 * updated after each step. Returns the agreed status. Collective. */
int sf_sweep_run(MPI_Comm comm, const sf_plan *plan, sf_source *src, const sf_sweep_ops *ops,
                 sf_progress *prog, sf_phase_times *times);

#endif
