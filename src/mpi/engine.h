/* The engine: a lockstep sweep of all ranks over the segments of a plan. At each step every
 * rank reads its batch (one segment, or nothing), checks it, computes it on the node, and
 * commits it collectively; errors are agreed before every collective. A sweep may overlap
 * the commit of one batch with the compute of the next (sf_sweep_ops.overlap). */
#ifndef SF_ENGINE_H
#define SF_ENGINE_H

#include <mpi.h>
#include <stddef.h>

#include "mpi/plan.h"
#include "mpi/progress.h"
#include "mpi/unit_source.h"
#include "node/node_loop.h"

typedef struct sf_batch {
  size_t step;      /* lockstep step */
  long segment;     /* segment index in the plan, -1 when this rank has none at this step */
  size_t first;     /* first unit (absolute index in the source) */
  size_t count;     /* units in the batch (0 when segment is -1) */
  float *in;        /* count * unit_elems input values */
  size_t halo_lo;   /* units before `first` also read (in[-halo_lo*unit_elems...]) */
  size_t halo_hi;   /* units after the batch also read */
  /* Overlap only: the previous step's commit, still to run (NULL: none). compute hands it to
   * sf_node_run_side of its longest node loop, so the master thread writes the previous batch
   * while the other threads compute this one; the engine runs it after compute otherwise. */
  sf_side_task *side;
} sf_batch;

/* Seconds this rank's master thread spent in each phase of the steps: read (with the NaN
 * check), compute (less any commit run inside it), commit (every commit wherever it ran, and
 * the agreements after compute). With overlap they still add up to the steps' wall time;
 * the other threads' work during a commit is in no phase. */
typedef struct sf_phase_times {
  double read, compute, commit;
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
  /* Nonzero: commit(k) is deferred to step k+1 and runs during compute(k+1) (see
   * sf_batch.side), the last one after the loop. Then compute(k+1) must not write anything
   * commit(k) reads (double-buffer by b->step parity), commit must not read b->in (the input
   * buffer already holds the next batch; it is NULL there), and no compute may depend on the
   * previous commit's result. 0: commit(k) runs right after compute(k). SLABFLOW_OVERLAP=0
   * or late (rank 0's environment) turns it off or runs each deferred commit after the
   * next compute rather than during it (diagnostics, see engine.c). */
  int overlap;
} sf_sweep_ops;

/* Runs the sweep over plan with input from src. Float inputs are checked for NaN/Inf after
 * each read; the first bad unit (in unit order) is reported once by its owner. Progress
 * (units whose commit has run) is updated after each step. Every rank runs every commit,
 * in step order, also for its empty batches, and the status of a commit overlapped with a
 * compute is agreed together with that compute's. Returns the agreed status. Collective. */
int sf_sweep_run(MPI_Comm comm, const sf_plan *plan, sf_source *src, const sf_sweep_ops *ops,
                 sf_progress *prog, sf_phase_times *times);

#endif
