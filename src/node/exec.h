/* Executors: how one rank's node runs the units of a batch. One interface, three kinds:
 *   SF_EXEC_OPENMP         one unit per thread (schedule(dynamic)), each thread with its own
 *                          workspace made once before any loop (libvips-style start);
 *   SF_EXEC_OPENMP_SHARED  units one after another, every thread of the team inside each
 *                          unit: the unit function is entered by all threads with their own
 *                          workspace and splits its inner loops with orphaned `omp for`
 *                          (an EEG channel, a large frame); every thread must meet the
 *                          same worksharing constructs and barriers, also when it fails
 *                          (finish the loops, then return the status);
 *   SF_EXEC_CUDA           one device per rank (local rank mod visible devices); steps with a
 *                          device version run there, every other step on the OpenMP executor
 *                          it keeps (one unit per thread). The device is made current on the
 *                          creating thread only: device code belongs on that thread. With no
 *                          device (or no CUDA build) it says so in one line and is an OpenMP
 *                          executor.
 * Knows threads and devices, not MPI (the local rank is passed down from src/mpi). */
#ifndef SF_EXEC_H
#define SF_EXEC_H

#include <stddef.h>

#include "node/batch.h"

typedef enum { SF_EXEC_OPENMP = 0, SF_EXEC_OPENMP_SHARED = 1, SF_EXEC_CUDA = 2 } sf_exec_kind;

typedef struct sf_exec sf_exec;

/* Creates per-thread workspace for thread t (0-based). Returns 0 or SF_ERR_*. */
typedef int (*sf_ws_create_fn)(void *ctx, int thread, void **ws);
/* Frees a workspace; must accept *ws == NULL and set it to NULL. */
typedef void (*sf_ws_destroy_fn)(void *ctx, void **ws);
/* Runs unit k (0-based within the batch b, which may be NULL for loops that are not over a
 * batch) with the calling thread's workspace. Returns 0 or SF_ERR_*. */
typedef int (*sf_unit_fn)(void *ctx, void *ws, const sf_batch *b, size_t k);

typedef struct sf_exec_config {
  sf_exec_kind kind;
  int nthreads;           /* <= 0: OpenMP's default */
  int local_rank;         /* this rank's index among the ranks of its node (CUDA) */
  sf_ws_create_fn create; /* may be NULL (no workspaces) */
  sf_ws_destroy_fn destroy;
  void *ctx;
  int quiet; /* nonzero: no line about a missing device (all ranks but one) */
} sf_exec_config;

/* Creates an executor and its workspaces (serially, on the calling thread). Returns 0,
 * the status of a failing create, SF_ERR_NOMEM when a visible device cannot be made current,
 * or SF_ERR_INTERNAL for an unknown kind or a negative local rank (CUDA). Local. */
int sf_exec_create(const sf_exec_config *cfg, sf_exec **out);

/* Whether this rank can drive a CUDA device: 1 when the build has CUDA and a device is visible,
 * 0 otherwise with *why (may be NULL) saying which is missing ("this build has no CUDA", "no
 * CUDA device visible"). Starts nothing; any error of the runtime counts as no device. Local. */
int sf_exec_cuda_available(const char **why);

/* The kind actually running units on the CPU side (a CUDA executor without a device reports
 * SF_EXEC_OPENMP). */
sf_exec_kind sf_exec_get_kind(const sf_exec *e);

/* Threads (and workspaces). */
int sf_exec_threads(const sf_exec *e);

/* Workspace of thread t (for serial setup work on the calling thread). */
void *sf_exec_workspace(sf_exec *e, int t);

/* Runs fn for k = 0..count-1 over the batch b (see the kinds above). Returns 0, or the
 * status of the failing unit with the smallest k, so that the outcome does not depend on
 * scheduling (shared mode: the first failing thread's status of the first failing unit).
 * Local; call from one thread. */
int sf_exec_run(sf_exec *e, const sf_batch *b, size_t count, sf_unit_fn fn, void *ctx);

/* Makes the executor's device current on the calling thread (CUDA's current device is per
 * thread: a thread other than the creator that runs device versions calls this first).
 * 0 without a device. Local. */
int sf_exec_enter_thread(const sf_exec *e);

/* The device this executor drives (-1: none) and its name ("" without one). */
int sf_exec_device(const sf_exec *e);
const char *sf_exec_device_name(const sf_exec *e);

/* Inside a unit function: the calling thread's index in the team and the team's size
 * (0 and 1 outside a parallel region). */
int sf_exec_thread(void);
int sf_exec_team(void);

/* Destroys workspaces and the executor; accepts NULL and sets *e to NULL. */
void sf_exec_destroy(sf_exec **e);

#endif
