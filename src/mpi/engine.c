#include "mpi/engine.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernels/dtype_convert.h"
#include "mpi/mpi_agree.h"
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

int sf_sweep_run(MPI_Comm comm, const sf_plan *plan, sf_source *src, const sf_sweep_ops *ops,
                 sf_progress *prog, sf_phase_times *times) {
  int status = 0, rank;
  float *in = NULL;
  MPI_Comm_rank(comm, &rank);
  size_t s0, ns, ue = sf_source_unit_elems(src);
  sf_plan_rank_segments(plan, rank, &s0, &ns);
  size_t halo = ops->halo;
  SF_ALLOC(in, ns ? (plan->seg_units + 2 * halo) * ue : 1);
  status = sf_mpi_agree(status, comm);
  if (status < 0) goto cleanup;
  size_t steps = sf_plan_steps(plan);
  for (size_t step = 0; step < steps; step++) {
    sf_batch b = {step, -1, 0, 0, in, 0, 0};
    if (step < ns) {
      b.segment = (long)(s0 + step);
      sf_plan_segment(plan, s0 + step, &b.first, &b.count);
      size_t end = plan->first_unit + plan->n_units, last = b.first + b.count;
      b.halo_lo = b.first - plan->first_unit < halo ? b.first - plan->first_unit : halo;
      b.halo_hi = end - last < halo ? end - last : halo;
      b.in = in + b.halo_lo * ue;
    }
    double t = MPI_Wtime();
    status = sf_source_read(src, b.first - b.halo_lo, b.count ? b.count + b.halo_lo + b.halo_hi : 0, in);
    if (status < 0) goto cleanup;
    status = check_finite(comm, src, &b);
    if (status < 0) goto cleanup;
    double t1 = MPI_Wtime();
    times->read += t1 - t;
    if (b.count > 0) status = ops->compute(ops->ctx, &b);
    double t2 = MPI_Wtime();
    times->compute += t2 - t1;
    status = sf_mpi_agree(status, comm);
    if (status < 0) goto cleanup;
    status = sf_interrupt_agree(comm);
    if (status < 0) {
      if (rank == 0)
        sf_error_report(status, __FILE__, __LINE__, __func__,
                        "interrupted by a signal; stopping after %zu of %zu units",
                        sf_plan_units_done(plan, step), plan->n_units);
      goto cleanup;
    }
    if (ops->commit) {
      status = ops->commit(ops->ctx, &b);
      if (status < 0) goto cleanup;
    }
    times->commit += MPI_Wtime() - t2;
    if (prog) sf_progress_update(prog, sf_plan_units_done(plan, step + 1));
  }
cleanup:
  free(in);
  return status;
}
