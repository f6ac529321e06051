#include "mpi/plan.h"

#include "mpi/mpi_check.h"
#include "sf_error.h"

void sf_plan_init(sf_plan *p, size_t first, size_t n, size_t seg, int nranks) {
  p->first_unit = first;
  p->n_units = n;
  p->seg_units = seg ? seg : 1;
  p->n_segments = (n + p->seg_units - 1) / p->seg_units;
  p->nranks = nranks > 0 ? nranks : 1;
}

int sf_plan_bcast(sf_plan *p, MPI_Comm comm) {
  unsigned long long v[4] = {p->first_unit, p->n_units, p->seg_units, (unsigned long long)p->nranks};
  int status = 0;
  SF_MPI(MPI_Bcast(v, 4, MPI_UNSIGNED_LONG_LONG, 0, comm));
  sf_plan_init(p, v[0], v[1], v[2], (int)v[3]);
cleanup:
  return status;
}

void sf_plan_rank_segments(const sf_plan *p, int r, size_t *s0, size_t *ns) {
  size_t n = p->n_segments, R = (size_t)p->nranks, q = n / R, rem = n % R, ur = (size_t)r;
  *s0 = ur * q + (ur < rem ? ur : rem);
  *ns = q + (ur < rem ? 1 : 0);
}

void sf_plan_segment(const sf_plan *p, size_t s, size_t *first, size_t *count) {
  size_t a = s * p->seg_units, b = a + p->seg_units;
  if (b > p->n_units) b = p->n_units;
  *first = p->first_unit + a;
  *count = b > a ? b - a : 0;
}

int sf_plan_owner(const sf_plan *p, size_t s) {
  for (int r = 0; r < p->nranks; r++) {
    size_t s0, ns;
    sf_plan_rank_segments(p, r, &s0, &ns);
    if (s >= s0 && s < s0 + ns) return r;
  }
  return -1;
}

size_t sf_plan_steps(const sf_plan *p) {
  size_t s0, ns;
  sf_plan_rank_segments(p, 0, &s0, &ns); /* rank 0 always has the most */
  return ns;
}

size_t sf_plan_units_done(const sf_plan *p, size_t steps) {
  size_t done = 0;
  for (int r = 0; r < p->nranks; r++) {
    size_t s0, ns;
    sf_plan_rank_segments(p, r, &s0, &ns);
    for (size_t k = 0; k < ns && k < steps; k++) {
      size_t f, c;
      sf_plan_segment(p, s0 + k, &f, &c);
      done += c;
    }
  }
  return done;
}
