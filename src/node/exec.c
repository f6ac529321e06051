#include "node/exec.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu/gpu_device.h"
#include "sf_error.h"

struct sf_exec {
  sf_exec_kind kind; /* as reported: a CUDA executor without a device is SF_EXEC_OPENMP */
  int shared;        /* units run by the whole team, one after another */
  int nthreads;
  void **ws;
  int *unit_rc; /* shared mode: 2 x nthreads statuses, by unit parity */
  sf_ws_destroy_fn destroy;
  void *ctx;
  int device;
  char device_name[256];
};

int sf_exec_cuda_available(const char **why) {
  const char *w = NULL;
  if (!sf_gpu_built())
    w = "this build has no CUDA";
  else if (sf_gpu_device_count() <= 0)
    w = "no CUDA device visible";
  if (why) *why = w;
  return w == NULL;
}

/* The CUDA slot: device = local rank mod visible devices, made current on the calling
 * thread. Without one, a line (unless quiet) and e stays an OpenMP executor. */
static int exec_pick_device(sf_exec *e, const sf_exec_config *cfg) {
  int status = 0, ndev = 0;
  const char *why = NULL;
  SF_CHECK(cfg->local_rank >= 0, SF_ERR_INTERNAL, "cuda backend: negative local rank %d",
           cfg->local_rank);
  if (!sf_gpu_built())
    why = "this build has no CUDA";
  else if ((ndev = sf_gpu_device_count()) <= 0)
    why = "no CUDA device visible";
  if (why) {
    if (!cfg->quiet) {
      fprintf(stderr, "slabflow: cuda backend: %s; running on the CPU\n", why);
      fflush(stderr);
    }
    return 0;
  }
  int dev = cfg->local_rank % ndev;
  SF_CHECK(sf_gpu_set_device(dev) == 0, SF_ERR_NOMEM,
           "cuda backend: device %d of %d (local rank %d) cannot be made current", dev, ndev,
           cfg->local_rank);
  if (sf_gpu_device_name(dev, e->device_name, sizeof e->device_name) != 0) e->device_name[0] = '\0';
  e->device = dev;
  e->kind = SF_EXEC_CUDA;
cleanup:
  return status;
}

int sf_exec_create(const sf_exec_config *cfg, sf_exec **out) {
  int status = 0;
  sf_exec *e = NULL;
  *out = NULL;
  SF_CHECK(cfg->kind == SF_EXEC_OPENMP || cfg->kind == SF_EXEC_OPENMP_SHARED ||
               cfg->kind == SF_EXEC_CUDA,
           SF_ERR_INTERNAL, "unknown executor kind %d", (int)cfg->kind);
  SF_ALLOC(e, 1);
  e->kind = cfg->kind == SF_EXEC_OPENMP_SHARED ? SF_EXEC_OPENMP_SHARED : SF_EXEC_OPENMP;
  e->shared = cfg->kind == SF_EXEC_OPENMP_SHARED;
  e->nthreads = cfg->nthreads > 0 ? cfg->nthreads : omp_get_max_threads();
  e->destroy = cfg->destroy;
  e->ctx = cfg->ctx;
  e->device = -1;
  if (cfg->kind == SF_EXEC_CUDA) SF_CALL(exec_pick_device(e, cfg));
  SF_ALLOC(e->ws, e->nthreads);
  if (e->shared) SF_ALLOC(e->unit_rc, 2 * (size_t)e->nthreads);
  for (int t = 0; t < e->nthreads; t++)
    if (cfg->create) SF_CALL(cfg->create(cfg->ctx, t, &e->ws[t]));
  *out = e;
  e = NULL;
cleanup:
  sf_exec_destroy(&e);
  return status;
}

sf_exec_kind sf_exec_get_kind(const sf_exec *e) { return e->kind; }

int sf_exec_threads(const sf_exec *e) { return e->nthreads; }

void *sf_exec_workspace(sf_exec *e, int t) { return e->ws[t]; }

int sf_exec_device(const sf_exec *e) { return e->device; }

int sf_exec_enter_thread(const sf_exec *e) {
  if (e->device < 0) return 0;
  if (sf_gpu_set_device(e->device) == 0) return 0;
  return sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                         "cuda backend: device %d cannot be made current on the compute thread",
                         e->device);
}

const char *sf_exec_device_name(const sf_exec *e) { return e->device_name; }

int sf_exec_thread(void) { return omp_get_thread_num(); }

int sf_exec_team(void) { return omp_get_num_threads(); }

/* One unit per thread; every unit runs, the smallest failing k's status is kept. */
static int exec_run_units(sf_exec *e, const sf_batch *b, size_t count, sf_unit_fn fn, void *ctx) {
  size_t first_bad = SIZE_MAX;
  int bad_status = 0;
#pragma omp parallel num_threads(e->nthreads)
  {
#pragma omp for schedule(dynamic, 1)
    for (size_t k = 0; k < count; k++) {
      int rc = fn(ctx, e->ws[omp_get_thread_num()], b, k);
      if (rc < 0) {
#pragma omp critical(sf_exec_err)
        if (k < first_bad) {
          first_bad = k;
          bad_status = rc;
        }
      }
    }
  }
  return bad_status;
}

/* The whole team inside each unit, units in order. Each thread leaves its status of unit k
 * in unit_rc[k % 2][thread]; after the barrier every thread reads the same statuses and so
 * makes the same choice to go on or stop. Two rows: a thread may already write unit k+1's
 * status while a slower one still reads unit k's, but cannot reach unit k+2 before the
 * slower one has passed the barrier of unit k+1. */
static int exec_run_shared(sf_exec *e, const sf_batch *b, size_t count, sf_unit_fn fn, void *ctx) {
  int bad_status = 0;
  int *unit_rc = e->unit_rc;
#pragma omp parallel num_threads(e->nthreads)
  {
    int t = omp_get_thread_num(), team = omp_get_num_threads();
    for (size_t k = 0; k < count; k++) {
      int *row = unit_rc + (k % 2) * (size_t)e->nthreads;
      row[t] = fn(ctx, e->ws[t], b, k);
#pragma omp barrier
      int bad = 0;
      for (int i = 0; i < team && !bad; i++)
        if (row[i] < 0) bad = row[i];
      if (bad) {
        if (t == 0) bad_status = bad; /* the lowest failing thread's status */
        break;
      }
    }
  }
  return bad_status;
}

int sf_exec_run(sf_exec *e, const sf_batch *b, size_t count, sf_unit_fn fn, void *ctx) {
  if (count == 0) return 0;
  return e->shared ? exec_run_shared(e, b, count, fn, ctx) : exec_run_units(e, b, count, fn, ctx);
}

void sf_exec_destroy(sf_exec **pe) {
  if (!pe || !*pe) return;
  sf_exec *e = *pe;
  if (e->ws)
    for (int t = 0; t < e->nthreads; t++)
      if (e->destroy) e->destroy(e->ctx, &e->ws[t]);
  free(e->ws);
  free(e->unit_rc);
  free(e);
  *pe = NULL;
}
