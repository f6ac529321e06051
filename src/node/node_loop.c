#include "node/node_loop.h"

#include <limits.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "sf_error.h"

struct sf_node {
  int nthreads;
  void **ws;
  sf_ws_destroy_fn destroy;
  void *ctx;
};

int sf_node_create(int nthreads, sf_ws_create_fn create, sf_ws_destroy_fn destroy, void *ctx,
                   sf_node **out) {
  int status = 0;
  sf_node *n = NULL;
  *out = NULL;
  if (nthreads <= 0) nthreads = omp_get_max_threads();
  SF_ALLOC(n, 1);
  n->nthreads = nthreads;
  n->destroy = destroy;
  n->ctx = ctx;
  SF_ALLOC(n->ws, nthreads);
  for (int t = 0; t < nthreads; t++)
    if (create) SF_CALL(create(ctx, t, &n->ws[t]));
  *out = n;
  n = NULL;
cleanup:
  sf_node_destroy(&n);
  return status;
}

int sf_node_threads(const sf_node *n) { return n->nthreads; }

void *sf_node_workspace(sf_node *n, int t) { return n->ws[t]; }

int sf_node_run(sf_node *n, size_t count, sf_unit_fn fn, void *ctx) {
  return sf_node_run_side(n, count, fn, ctx, NULL);
}

int sf_side_task_finish(sf_side_task *side) {
  if (!side) return 0;
  if (!side->done) {
    side->status = side->fn(side->ctx);
    side->done = 1;
  }
  return side->status;
}

int sf_node_run_side(sf_node *n, size_t count, sf_unit_fn fn, void *ctx, sf_side_task *side) {
  size_t first_bad = SIZE_MAX;
  int bad_status = 0;
  if (side && side->done) side = NULL;
  if (count == 0) {
    sf_side_task_finish(side);
    return 0;
  }
  /* One region: the master (the encountering thread, thread 0) runs the side task first;
   * `master` has no barrier, so the others go straight to the loop, and the dynamic schedule
   * hands the master whatever units are left when it arrives. nowait: the region's closing
   * barrier is the only wait, which also publishes side->status to the caller. */
#pragma omp parallel num_threads(n->nthreads)
  {
#pragma omp master
    sf_side_task_finish(side);
#pragma omp for schedule(dynamic, 1) nowait
    for (size_t k = 0; k < count; k++) {
      int rc = fn(ctx, n->ws[omp_get_thread_num()], k);
      if (rc < 0) {
#pragma omp critical(sf_node_err)
        if (k < first_bad) {
          first_bad = k;
          bad_status = rc;
        }
      }
    }
  }
  return bad_status;
}

void sf_node_destroy(sf_node **pn) {
  if (!pn || !*pn) return;
  sf_node *n = *pn;
  if (n->ws)
    for (int t = 0; t < n->nthreads; t++)
      if (n->destroy) n->destroy(n->ctx, &n->ws[t]);
  free(n->ws);
  free(n);
  *pn = NULL;
}
