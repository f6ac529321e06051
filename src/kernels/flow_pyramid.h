/* The pyramid schedule of the flow solver (spec register.md §1.2, §1.4 item 20). Pure. */
#ifndef SF_FLOW_PYRAMID_H
#define SF_FLOW_PYRAMID_H

#include <stddef.h>

typedef struct sf_pyramid_level {
  size_t h, w;         /* level size: round-half-even(H eta^min(i,Ly)), likewise W with Lx */
  double hy, hx;       /* grid spacing in full-resolution pixels: H/h, W/w */
  double alpha_scale;  /* eta^(-i/2), or 1 at the finest level processed (i == min_level) */
} sf_pyramid_level;

typedef struct sf_pyramid {
  int ly, lx;          /* depth per axis, after the cap 4*min(Lx,Ly) */
  int ltop;            /* max(Lx, Ly): the coarsest level */
  int min_level;       /* effective finest level (clamped to [0, ltop-1] when ltop <= min_level) */
  int n_levels;        /* ltop + 1 entries in lv, index = level number (0 = full resolution) */
  sf_pyramid_level *lv;
} sf_pyramid;

/* Computes the schedule for an H x W image: depth(d) counts k += 1, d *= eta until
 * round(d) < 10, at most `levels` times. eta in (0,1], levels >= 1, min_level >= 0.
 * Allocates p->lv. Returns 0, SF_ERR_USAGE or SF_ERR_NOMEM. Local. */
int sf_pyramid_schedule(size_t H, size_t W, double eta, int levels, int min_level, sf_pyramid *p);

/* Frees p->lv (accepts a zeroed struct). */
void sf_pyramid_free(sf_pyramid *p);

#endif
