/* The pyramid schedule (spec register.md §1.2 items 7-10, §1.4 item 20). */
#include "kernels/flow_pyramid.h"

#include <math.h>
#include <stdlib.h>

#include "sf_error.h"

/* Python's round(): halves to even, which rint gives in the default rounding mode. */
static double round_half_even(double d) { return rint(d); }

/* Levels until the axis would fall below 10 pixels: multiply by eta (repeatedly, like the
 * reference, not by pow) and stop at the first product that rounds below 10. */
static int axis_depth(double d, double eta, int levels) {
  int k = 0;
  for (int it = 0; it < levels; it++) {
    k++;
    d *= eta;
    if (round_half_even(d) < 10.0) break;
  }
  return k;
}

static size_t level_len(size_t n, double eta, int i) {
  double r = round_half_even((double)n * pow(eta, (double)i));
  /* Only absurd eta reach 0 here; keep every level non-empty. */
  return r < 1.0 ? 1 : (size_t)r;
}

int sf_pyramid_schedule(size_t H, size_t W, double eta, int levels, int min_level, sf_pyramid *p) {
  int status = 0;
  sf_pyramid_level *lv = NULL;
  if (!p) return SF_ERR_USAGE;
  p->lv = NULL;
  p->n_levels = 0;
  if (H < 1 || W < 1 || !(eta > 0.0 && eta <= 1.0) || levels < 1 || min_level < 0)
    SF_FAIL_QUIET(SF_ERR_USAGE);
  int ly = axis_depth((double)H, eta, levels), lx = axis_depth((double)W, eta, levels);
  int cap = 4 * (lx < ly ? lx : ly);
  ly = ly < cap ? ly : cap;
  lx = lx < cap ? lx : cap;
  int ltop = lx > ly ? lx : ly;
  if (ltop <= min_level) min_level = ltop - 1;
  if (min_level < 0) min_level = 0;
  lv = calloc((size_t)ltop + 1, sizeof *lv);
  if (!lv) SF_FAIL_QUIET(SF_ERR_NOMEM);
  for (int i = 0; i <= ltop; i++) {
    lv[i].h = level_len(H, eta, i < ly ? i : ly);
    lv[i].w = level_len(W, eta, i < lx ? i : lx);
    lv[i].hy = (double)H / (double)lv[i].h;
    lv[i].hx = (double)W / (double)lv[i].w;
    /* The jump to 1 at the finest processed level is the reference's (§1.4 item 20). */
    lv[i].alpha_scale = i == min_level ? 1.0 : pow(eta, -0.5 * (double)i);
  }
  p->ly = ly;
  p->lx = lx;
  p->ltop = ltop;
  p->min_level = min_level;
  p->n_levels = ltop + 1;
  p->lv = lv;
  lv = NULL;
cleanup:
  free(lv);
  return status;
}

void sf_pyramid_free(sf_pyramid *p) {
  if (!p) return;
  free(p->lv);
  p->lv = NULL;
  p->n_levels = 0;
}
