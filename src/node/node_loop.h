/* Node loop: runs the units of a batch on OpenMP threads, each thread with a workspace
 * prepared once before any loop (libvips-style start function). Knows threads, not MPI. */
#ifndef SF_NODE_LOOP_H
#define SF_NODE_LOOP_H

#include <stddef.h>

typedef struct sf_node sf_node;

/* Creates per-thread workspace for thread t (0-based). Returns 0 or SF_ERR_*. */
typedef int (*sf_ws_create_fn)(void *ctx, int thread, void **ws);
/* Frees a workspace; must accept *ws == NULL and set it to NULL. */
typedef void (*sf_ws_destroy_fn)(void *ctx, void **ws);
/* Runs unit k (0-based within the batch) with the calling thread's workspace. */
typedef int (*sf_unit_fn)(void *ctx, void *ws, size_t k);

/* Creates an executor with nthreads threads (<= 0: OpenMP's default) and one workspace per
 * thread, made here, serially, from the calling thread. Local. */
int sf_node_create(int nthreads, sf_ws_create_fn create, sf_ws_destroy_fn destroy, void *ctx,
                   sf_node **out);

/* Number of threads (and workspaces). */
int sf_node_threads(const sf_node *n);

/* Workspace of thread t (for serial setup work on the calling thread). */
void *sf_node_workspace(sf_node *n, int t);

/* Runs fn for k = 0..count-1, one unit per thread at a time (schedule(dynamic)). Returns 0,
 * or the status of the failing unit with the smallest k (so the outcome does not depend on
 * scheduling). Local; call from the master thread. */
int sf_node_run(sf_node *n, size_t count, sf_unit_fn fn, void *ctx);

/* A task the master thread runs once while the other threads start on the units (e.g. the
 * collective write of the previous batch, overlapped with the compute of this one). */
typedef struct sf_side_task {
  int (*fn)(void *ctx); /* returns 0 or SF_ERR_*; may call MPI/HDF5 (it runs on the master) */
  void *ctx;
  int done;             /* set once fn has run (a task never runs twice) */
  int status;           /* fn's return value once done */
} sf_side_task;

/* As sf_node_run, and side (may be NULL or already done) runs first on the master thread of
 * the team, which is the calling thread, so a caller that may call MPI under
 * MPI_THREAD_FUNNELED keeps that right inside the side task. The other threads take units
 * meanwhile; the master joins them when the side task returns. The side task's status is
 * left in side->status, not mixed into the return value (the units' first bad status).
 * Local; call from the thread that initialised MPI. */
int sf_node_run_side(sf_node *n, size_t count, sf_unit_fn fn, void *ctx, sf_side_task *side);

/* Runs side now on the calling thread unless it is NULL or done. Returns side->status (or 0). */
int sf_side_task_finish(sf_side_task *side);

/* Destroys the workspaces; accepts NULL and sets *n to NULL. */
void sf_node_destroy(sf_node **n);

#endif
