/* The engine: runs a pipeline, a table of steps, over the units of a source on every rank.
 *
 * A step declares what the engine needs to know (ARCHITECTURE.md, "Pipelines are tables of
 * steps"): its kind, its plan (units and segments), its halo, the payload it wants, its
 * workspace start and stop, its per-batch and per-unit functions, its collective commit and
 * an optional device version. Three kinds:
 *
 *   SF_STEP_ONCE      run once on rank 0 (once()), its result (result, result_bytes)
 *                     broadcast to every rank;
 *   SF_STEP_REDUCE    run once as a fixed-order reduction over units: every batch's units
 *                     run, finish() writes the batch's partial (reduce_len doubles), the
 *                     partials are summed in segment order whatever the rank count, and
 *                     reduced() gets the sum on every rank;
 *   SF_STEP_PER_UNIT  every batch's units run and commit() writes the batch collectively.
 *
 * Per batch the engine calls, on the calling (compute) thread: prepare() (serial work, may run
 * executor loops of its own), the executor over unit() for every unit of the batch, finish().
 * A sweep's reads, NaN checks, agreements, commits and progress run on an I/O thread, the
 * only thread that calls MPI or HDF5 while the sweep runs: batch k+1 is read and batch k-1
 * committed while batch k is computed, for any thread count. Hooks that are collective
 * (start, stop, reduced, once) run on the calling thread between sweeps. */
#ifndef SF_ENGINE_H
#define SF_ENGINE_H

#include <mpi.h>
#include <stddef.h>

#include "mpi/plan.h"
#include "mpi/progress.h"
#include "mpi/unit_source.h"
#include "node/batch.h"
#include "node/exec.h"

typedef enum { SF_STEP_ONCE = 1, SF_STEP_REDUCE = 2, SF_STEP_PER_UNIT = 3 } sf_step_kind;

/* Payload a step wants: float32 (converted by the source, the default), the source's own
 * dtype, or the raw bytes of one HDF5 chunk per unit (chunked HDF5 sources only). */
typedef enum { SF_PAYLOAD_F32 = 0, SF_PAYLOAD_NATIVE = 1, SF_PAYLOAD_RAW = 2 } sf_payload;

/* Wall seconds of a sweep as the compute thread saw it: waiting for input (reading not
 * hidden behind compute), computing, waiting for commits and agreements (writing not
 * hidden), and waiting for the other ranks to reach the step (load imbalance: a rank with
 * fewer or no units waits for the others at every collective). They add up to the sweep's
 * wall time. io_read, io_commit and io_wait are what the I/O thread spent reading,
 * committing and waiting for the other ranks, hidden or not. */
typedef struct sf_phase_times {
  double read, compute, commit, wait;
  double io_read, io_commit, io_wait;
} sf_phase_times;

typedef struct sf_step {
  const char *name;       /* for messages */
  sf_step_kind kind;
  /* Collective, every rank, before anything else of the step; nonzero skips the step. */
  int (*skip)(void *ctx);
  /* Units and segments (SF_STEP_REDUCE, SF_STEP_PER_UNIT); NULL: the pipeline's plan. */
  const sf_plan *plan;
  sf_source *src;         /* NULL: the pipeline's source */
  size_t halo;            /* neighbour units read each side of a batch (clipped to the plan) */
  sf_payload payload;
  /* Workspace start and stop: collective, every rank, before the first batch and after the
   * last. stop also runs after a failure of the step, with its status, and returns the
   * step's status: the one given, or its own failure (agreed). */
  int (*start)(void *ctx);
  int (*stop)(void *ctx, int status);
  /* Per batch (non-empty), on the compute thread. prepare may run executor loops itself. */
  int (*prepare)(void *ctx, sf_exec *x, const sf_batch *b);
  sf_unit_fn unit;        /* NULL: no per-unit loop */
  /* After the units; SF_STEP_REDUCE: writes the batch's partial (reduce_len doubles, zeroed
   * by the engine) to partial, NULL otherwise. */
  int (*finish)(void *ctx, const sf_batch *b, double *partial);
  /* SF_STEP_PER_UNIT: collective write of batch b on the I/O thread, every rank at every
   * step, also with an empty batch (b->count == 0). It must read only what b's slot holds
   * (never b->data: the input buffer is being refilled) when overlap is set. */
  int (*commit)(void *ctx, const sf_batch *b);
  /* Nonzero: commit(k) runs during compute(k+1); compute(k+1) then writes only slot
   * (k+1) & 1 of its double buffers and never depends on commit(k). SLABFLOW_OVERLAP=0
   * (rank 0's environment) turns it off. */
  int overlap;
  /* SF_STEP_REDUCE */
  size_t reduce_len;
  int (*reduced)(void *ctx, const double *sum, size_t n_units); /* collective, every rank */
  /* SF_STEP_ONCE: rank 0 computes result; the status and result_bytes of result are then
   * broadcast. */
  int (*once)(void *ctx);
  void *result;
  size_t result_bytes;
  /* SF_STEP_ONCE, optional: after once() succeeded, every rank calls share() to receive what
   * rank 0 made when its size is known only then (a sparse table). Collective; its status
   * is agreed. */
  int (*share)(void *ctx, MPI_Comm comm);
  /* Optional device version of prepare + unit + finish for one batch, run instead of them
   * when the executor drives a device. */
  int (*device)(void *ctx, const sf_batch *b, double *partial);
  /* SF_STEP_PER_UNIT, optional: nonzero when segment seg is already done (a resumed output
   * holds it): its batch is neither read nor computed, and commit() gets it empty. Asked on
   * the I/O thread after start(). */
  int (*done)(void *ctx, long seg);
  /* Optional, for --resume: the step's result kept in the output's journal of run-once
   * results (once_journal.h) under the step's name. keep_steps: how many steps, ending with
   * this one, made that result (0 counts as 1). After this step succeeded or was skipped,
   * rank 0's keep() gives the result as bytes (*bytes malloc'ed, freed by the engine), which
   * are written to the journal before the next step. A run whose journal holds them for its
   * identity (a --resume) runs none of those steps: every rank's restore() gets the bytes
   * instead, at this step's place. Both collective in status (agreed). */
  int (*keep)(void *ctx, void **bytes, size_t *n);
  int (*restore)(void *ctx, const void *bytes, size_t n);
  size_t keep_steps;
  /* Progress: units done are reported to prog (may be NULL) as progress_base + done. */
  sf_progress *prog;
  size_t progress_base;
} sf_step;

typedef struct sf_pipeline {
  MPI_Comm comm;
  void *ctx;              /* handed to every hook */
  sf_exec *exec;
  sf_source *src;         /* default source of the steps */
  const sf_plan *plan;    /* default plan of the steps */
  const sf_step *steps;
  size_t n_steps;
} sf_pipeline;

/* What ran: per step its sweep's phase times (steps without a sweep stay 0), and the backend
 * ("cpu", or "cuda:<device name>" once any step's device version ran). */
typedef struct sf_run_info {
  sf_phase_times *times;  /* n_steps entries, or NULL */
  char backend[160];
} sf_run_info;

/* Runs the steps in table order on every rank. Returns the agreed status: the first failing
 * step's, after its stop hook has run. Collective. */
int sf_pipeline_run(const sf_pipeline *p, sf_run_info *info);

#endif
