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
  size_t first_bad = SIZE_MAX;
  int bad_status = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n->nthreads)
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
