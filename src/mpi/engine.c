#include "mpi/engine.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dtype_convert.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "sf_error.h"

/* First non-finite unit of a float batch and its position, for the NaN check. */
static size_t first_nonfinite_unit(const sf_batch *b, size_t ue, size_t *pos) {
  for (size_t k = 0; k < b->count; k++) {
    size_t i = sf_find_nonfinite(b->in + k * ue, ue);
    if (i < ue) {
      *pos = i;
      return k;
    }
  }
  return SIZE_MAX;
}

/* Agrees on non-finite input; the owner of the first bad unit reports it. */
static int check_finite(MPI_Comm comm, const sf_source *src, const sf_batch *b) {
  const sf_source_meta *m = sf_source_get_meta(src);
  if (m->dtype != SF_DTYPE_F32 && m->dtype != SF_DTYPE_F64) return 0;
  size_t ue = sf_source_unit_elems(src), pos = 0;
  size_t k = first_nonfinite_unit(b, ue, &pos);
  unsigned long long mine = k == SIZE_MAX ? ULLONG_MAX : (unsigned long long)(b->first + k);
  unsigned long long first = sf_mpi_min_u64(mine, comm);
  if (first == ULLONG_MAX) return 0;
  if (first == mine) {
    float v = b->in[k * ue + pos];
    size_t px = pos / m->c;
    sf_error_report(SF_ERR_INPUT, __FILE__, __LINE__, __func__,
                    "%s%s%s: frame %llu contains %s at y=%zu, x=%zu; slabflow does not process "
                    "non-finite values",
                    m->path, m->kind == SF_SOURCE_HDF5 ? ":" : "", m->dataset, first,
                    v != v ? "NaN" : "Inf", px / m->w, px % m->w);
  }
  return SF_ERR_INPUT;
}

/* A commit deferred by one step (overlap): the batch as it was computed, and the time the
 * commit took wherever it ran. */
typedef struct pending_commit {
  sf_side_task task; /* task.done: nothing pending */
  const sf_sweep_ops *ops;
  sf_batch b;
  double seconds;
} pending_commit;

/* Overlap modes. SLABFLOW_OVERLAP (diagnostics) chooses among them for sweeps that allow
 * overlap: 0 = off (each commit right after its compute, as sweeps without overlap do);
 * late = deferred, but run after the next compute instead of during it, so that a buffer
 * shared by compute(k) and commit(k-1) would show as wrong output every time rather than by
 * chance of timing; unset or anything else = overlap. */
enum { OVERLAP_OFF = 0, OVERLAP_ON = 1, OVERLAP_LATE = 2 };

/* The mode, rank 0's: ranks in different modes would enter the collectives in different
 * orders. Collective. */
static int overlap_mode(MPI_Comm comm) {
  const char *e = getenv("SLABFLOW_OVERLAP");
  int mode = OVERLAP_ON, status = 0;
  if (e && !strcmp(e, "0")) mode = OVERLAP_OFF;
  else if (e && !strcmp(e, "late")) mode = OVERLAP_LATE;
  SF_MPI_HERE(MPI_Bcast(&mode, 1, MPI_INT, 0, comm));
  (void)status; /* sf_mpi_fail has stopped the job */
  return mode;
}

static int run_pending(void *ctx) {
  pending_commit *p = ctx;
  double t = MPI_Wtime();
  int rc = p->ops->commit(p->ops->ctx, &p->b);
  p->seconds = MPI_Wtime() - t;
  return rc;
}

int sf_sweep_run(MPI_Comm comm, const sf_plan *plan, sf_source *src, const sf_sweep_ops *ops,
                 sf_progress *prog, sf_phase_times *times) {
  int status = 0, rank;
  float *in = NULL;
  pending_commit pend = {{run_pending, NULL, 1, 0}, ops, {0}, 0.0};
  pend.task.ctx = &pend;
  int overlap = ops->overlap && ops->commit ? overlap_mode(comm) : OVERLAP_OFF;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  size_t s0, ns, ue = sf_source_unit_elems(src);
  sf_plan_rank_segments(plan, rank, &s0, &ns);
  size_t halo = ops->halo;
  SF_ALLOC(in, ns ? (plan->seg_units + 2 * halo) * ue : 1);
  status = sf_mpi_agree(status, comm);
  if (status < 0) goto cleanup;
  size_t steps = sf_plan_steps(plan), committed = 0; /* steps whose commit has run */
  for (size_t step = 0; step < steps; step++) {
    sf_batch b = {step, -1, 0, 0, in, 0, 0, NULL};
    if (step < ns) {
      b.segment = (long)(s0 + step);
      sf_plan_segment(plan, s0 + step, &b.first, &b.count);
      size_t end = plan->first_unit + plan->n_units, last = b.first + b.count;
      b.halo_lo = b.first - plan->first_unit < halo ? b.first - plan->first_unit : halo;
      b.halo_hi = end - last < halo ? end - last : halo;
      b.in = in + b.halo_lo * ue;
    }
    double t = MPI_Wtime();
    /* An error agreed here drops a pending commit: the output is then removed anyway (an
     * interrupt, which keeps it, is only taken after the commits of finished steps). */
    status = sf_source_read_batch(src, b.first - b.halo_lo,
                                  b.count ? b.count + b.halo_lo + b.halo_hi : 0, b.first,
                                  b.count, in);
    if (status < 0) goto cleanup;
    status = check_finite(comm, src, &b);
    if (status < 0) goto cleanup;
    double t1 = MPI_Wtime();
    times->read += t1 - t;
    /* Every rank has a pending commit at every step after the first, so the collective
     * writes inside it are entered by all ranks at the same point of the step's sequence of
     * collectives: during compute, or right after it where compute did not run it (no batch,
     * an early error, a compute without a node loop to hang it on). */
    sf_side_task *side = pend.task.done ? NULL : &pend.task;
    b.side = overlap == OVERLAP_LATE ? NULL : side;
    if (b.count > 0) status = ops->compute(ops->ctx, &b);
    double side_in = b.side && pend.task.done ? pend.seconds : 0.0;
    double t2 = MPI_Wtime();
    times->compute += t2 - t1 - side_in;
    if (side) {
      int rc = sf_side_task_finish(&pend.task);
      if (rc < status) status = rc;
      committed = step;
    }
    status = sf_mpi_agree(status, comm);
    if (status < 0) goto cleanup;
    status = sf_interrupt_agree(comm);
    if (status < 0) {
      if (rank == 0)
        sf_error_report(status, __FILE__, __LINE__, __func__,
                        "interrupted by a signal; stopping after %zu of %zu units",
                        sf_plan_units_done(plan, committed), plan->n_units);
      goto cleanup;
    }
    if (overlap) {
      pend.b = b;
      pend.b.in = NULL;
      pend.b.side = NULL;
      pend.task.done = 0;
      pend.task.status = 0;
    } else {
      if (ops->commit) {
        status = ops->commit(ops->ctx, &b);
        if (status < 0) goto cleanup;
      }
      committed = step + 1;
    }
    times->commit += MPI_Wtime() - t2 + side_in;
    if (prog) sf_progress_update(prog, sf_plan_units_done(plan, committed));
  }
  if (!pend.task.done) {
    double t = MPI_Wtime();
    status = sf_mpi_agree(sf_side_task_finish(&pend.task), comm);
    times->commit += MPI_Wtime() - t;
    if (status < 0) goto cleanup;
    committed = steps;
    if (prog) sf_progress_update(prog, sf_plan_units_done(plan, committed));
  }
cleanup:
  free(in);
  return status;
}
