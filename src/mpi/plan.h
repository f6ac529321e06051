/* The plan: units split into fixed-size segments, segments owned by ranks in balanced
 * contiguous blocks (rank r's units all precede rank r+1's). */
#ifndef SF_PLAN_H
#define SF_PLAN_H

#include <mpi.h>
#include <stddef.h>

typedef struct sf_plan {
  size_t first_unit;   /* first unit index in the source */
  size_t n_units;      /* units in the plan */
  size_t seg_units;    /* units per segment (the last one may be shorter) */
  size_t n_segments;
  int nranks;
} sf_plan;

/* Builds a plan for units [first, first+n) with segments of seg units over nranks. Local. */
void sf_plan_init(sf_plan *p, size_t first, size_t n, size_t seg, int nranks);

/* Rank 0's plan is broadcast so every rank works from the same one. Collective. */
int sf_plan_bcast(sf_plan *p, MPI_Comm comm);

/* Segments [*s0, *s0 + *ns) owned by rank r. Local. */
void sf_plan_rank_segments(const sf_plan *p, int r, size_t *s0, size_t *ns);

/* Absolute first unit and count of segment s. Local. */
void sf_plan_segment(const sf_plan *p, size_t s, size_t *first, size_t *count);

/* Rank owning segment s. Local. */
int sf_plan_owner(const sf_plan *p, size_t s);

/* Number of lockstep steps: the largest segment count of any rank. Local. */
size_t sf_plan_steps(const sf_plan *p);

/* Units processed by all ranks together after `steps` lockstep steps. Local. */
size_t sf_plan_units_done(const sf_plan *p, size_t steps);

#endif
