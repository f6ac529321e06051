/* CUnit tests of the executors (src/node/exec.c): every unit runs exactly once in both
 * OpenMP modes at 1, 2 and 4 threads, each thread on its own workspace, the shared mode's
 * team inside every unit with its inner loop split exactly once, the smallest failing
 * unit's status whatever the schedule, and the CUDA slot's fallback to the CPU. */
#include <CUnit/Basic.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu/gpu_device.h"
#include "node/exec.h"
#include "sf_cunit.h"
#include "sf_error.h"

#define MAXT 8
#define NUNITS 37
#define INNER 101

static const int thread_counts[] = {1, 2, 4};

/* Workspaces: a thread index and a guard, counted in and out. */
typedef struct ws_probe {
  int created[MAXT];
  int destroyed[MAXT];
  int fail_at; /* create fails for this thread (-1: never) */
} ws_probe;

typedef struct ws_data {
  int thread;
  int guard;
} ws_data;

static int mk_ws(void *ctx, int t, void **ws) {
  ws_probe *p = ctx;
  if (t == p->fail_at) return SF_ERR_NOMEM;
  ws_data *d = malloc(sizeof *d);
  if (!d) return SF_ERR_NOMEM;
  d->thread = t;
  d->guard = 0x5f5f;
  p->created[t]++;
  *ws = d;
  return 0;
}

static void free_ws(void *ctx, void **ws) {
  ws_probe *p = ctx;
  if (*ws) p->destroyed[((ws_data *)*ws)->thread]++;
  free(*ws);
  *ws = NULL;
}

static sf_exec *make(sf_exec_kind kind, int nthreads, ws_probe *p) {
  sf_exec_config cfg = {.kind = kind,
                        .nthreads = nthreads,
                        .create = mk_ws,
                        .destroy = free_ws,
                        .ctx = p,
                        .quiet = 1};
  sf_exec *e = NULL;
  memset(p, 0, sizeof *p);
  p->fail_at = -1;
  CU_ASSERT_EQUAL(sf_exec_create(&cfg, &e), 0);
  CU_ASSERT_PTR_NOT_NULL(e);
  return e;
}

/* ---- one unit per thread ---------------------------------------------------------- */

typedef struct unit_probe {
  int hits[NUNITS];
  int wrong_ws; /* a unit ran with another thread's workspace */
  int max_team;
  const sf_batch *b; /* the batch every unit must see */
  int wrong_batch;
} unit_probe;

static int count_unit(void *ctx, void *ws, const sf_batch *b, size_t k) {
  unit_probe *u = ctx;
  ws_data *d = ws;
#pragma omp atomic
  u->hits[k]++;
  if (!d || d->thread != sf_exec_thread() || d->guard != 0x5f5f) {
#pragma omp atomic
    u->wrong_ws++;
  }
  if (b != u->b) {
#pragma omp atomic
    u->wrong_batch++;
  }
  int team = sf_exec_team();
#pragma omp critical(test_exec_team)
  if (team > u->max_team) u->max_team = team;
  return 0;
}

static void test_units_once(void) {
  sf_batch batch;
  memset(&batch, 0, sizeof batch);
  for (size_t i = 0; i < sizeof thread_counts / sizeof *thread_counts; i++) {
    int nt = thread_counts[i];
    ws_probe p;
    sf_exec *e = make(SF_EXEC_OPENMP, nt, &p);
    if (!e) continue;
    CU_ASSERT_EQUAL(sf_exec_get_kind(e), SF_EXEC_OPENMP);
    CU_ASSERT_EQUAL(sf_exec_threads(e), nt);
    CU_ASSERT_EQUAL(sf_exec_device(e), -1);
    CU_ASSERT_STRING_EQUAL(sf_exec_device_name(e), "");
    for (int rep = 0; rep < 5; rep++) {
      unit_probe u;
      memset(&u, 0, sizeof u);
      u.b = rep % 2 ? &batch : NULL;
      CU_ASSERT_EQUAL(sf_exec_run(e, u.b, NUNITS, count_unit, &u), 0);
      for (int k = 0; k < NUNITS; k++)
        CU_ASSERT_EQUAL(u.hits[k], 1);
      CU_ASSERT_EQUAL(u.wrong_ws, 0);
      CU_ASSERT_EQUAL(u.wrong_batch, 0);
      CU_ASSERT_EQUAL(u.max_team, nt);
    }
    sf_exec_destroy(&e);
    CU_ASSERT_PTR_NULL(e);
  }
}

/* ---- the whole team inside each unit --------------------------------------------- */

typedef struct shared_probe {
  int unit_hits[NUNITS];     /* counted on thread 0 only */
  int entered[NUNITS][MAXT]; /* per unit and thread */
  int cover[NUNITS][INNER];  /* the orphaned omp for's iterations */
  int early;                 /* a unit began before the previous one was finished */
  int wrong_ws;
  int team[NUNITS];
} shared_probe;

static int shared_unit(void *ctx, void *ws, const sf_batch *b, size_t k) {
  shared_probe *s = ctx;
  ws_data *d = ws;
  int t = sf_exec_thread();
  (void)b;
  if (t == 0) {
#pragma omp atomic
    s->unit_hits[k]++;
    s->team[k] = sf_exec_team();
  }
#pragma omp atomic
  s->entered[k][t]++;
  if (!d || d->thread != t) {
#pragma omp atomic
    s->wrong_ws++;
  }
  /* Every iteration of the previous unit is done before any thread starts this one. */
  if (k > 0)
    for (int i = 0; i < INNER; i++) {
      int c;
#pragma omp atomic read
      c = s->cover[k - 1][i];
      if (c != 1) {
#pragma omp atomic
        s->early++;
        break;
      }
    }
#pragma omp for schedule(static, 3)
  for (int i = 0; i < INNER; i++) {
#pragma omp atomic
    s->cover[k][i]++;
  }
  return 0;
}

static void test_shared_units(void) {
  for (size_t i = 0; i < sizeof thread_counts / sizeof *thread_counts; i++) {
    int nt = thread_counts[i];
    ws_probe p;
    sf_exec *e = make(SF_EXEC_OPENMP_SHARED, nt, &p);
    if (!e) continue;
    CU_ASSERT_EQUAL(sf_exec_get_kind(e), SF_EXEC_OPENMP_SHARED);
    CU_ASSERT_EQUAL(sf_exec_threads(e), nt);
    for (int rep = 0; rep < 3; rep++) {
      shared_probe *s = calloc(1, sizeof *s);
      CU_ASSERT_PTR_NOT_NULL_FATAL(s);
      CU_ASSERT_EQUAL(sf_exec_run(e, NULL, NUNITS, shared_unit, s), 0);
      int bad_hits = 0, bad_enter = 0, bad_cover = 0, bad_team = 0;
      for (int k = 0; k < NUNITS; k++) {
        bad_hits += s->unit_hits[k] != 1;
        bad_team += s->team[k] != nt;
        for (int t = 0; t < MAXT; t++)
          bad_enter += s->entered[k][t] != (t < nt);
        for (int j = 0; j < INNER; j++)
          bad_cover += s->cover[k][j] != 1;
      }
      CU_ASSERT_EQUAL(bad_hits, 0);
      CU_ASSERT_EQUAL(bad_enter, 0);
      CU_ASSERT_EQUAL(bad_cover, 0);
      CU_ASSERT_EQUAL(bad_team, 0);
      CU_ASSERT_EQUAL(s->early, 0);
      CU_ASSERT_EQUAL(s->wrong_ws, 0);
      free(s);
    }
    sf_exec_destroy(&e);
  }
}

/* ---- workspaces ------------------------------------------------------------------- */

static void test_workspaces(void) {
  const sf_exec_kind kinds[] = {SF_EXEC_OPENMP, SF_EXEC_OPENMP_SHARED};
  for (int ki = 0; ki < 2; ki++)
    for (size_t i = 0; i < sizeof thread_counts / sizeof *thread_counts; i++) {
      int nt = thread_counts[i];
      ws_probe p;
      sf_exec *e = make(kinds[ki], nt, &p);
      if (!e) continue;
      for (int t = 0; t < MAXT; t++) {
        CU_ASSERT_EQUAL(p.created[t], t < nt);
        CU_ASSERT_EQUAL(p.destroyed[t], 0);
      }
      for (int t = 0; t < nt; t++) {
        ws_data *d = sf_exec_workspace(e, t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_EQUAL(d->thread, t);
        for (int u = 0; u < t; u++)
          CU_ASSERT_PTR_NOT_EQUAL(sf_exec_workspace(e, u), d);
      }
      sf_exec_destroy(&e);
      CU_ASSERT_PTR_NULL(e);
      for (int t = 0; t < MAXT; t++) {
        CU_ASSERT_EQUAL(p.created[t], t < nt);
        CU_ASSERT_EQUAL(p.destroyed[t], t < nt);
      }
    }
  /* A failing create: its status, no executor, and what was made is freed once. */
  for (int ki = 0; ki < 2; ki++) {
    ws_probe p;
    memset(&p, 0, sizeof p);
    p.fail_at = 2;
    sf_exec_config cfg = {
        .kind = kinds[ki], .nthreads = 4, .create = mk_ws, .destroy = free_ws, .ctx = &p};
    sf_exec *e = (sf_exec *)&p; /* must be reset to NULL */
    CU_ASSERT_EQUAL(sf_exec_create(&cfg, &e), SF_ERR_NOMEM);
    CU_ASSERT_PTR_NULL(e);
    for (int t = 0; t < 4; t++) {
      CU_ASSERT_EQUAL(p.created[t], t < 2);
      CU_ASSERT_EQUAL(p.destroyed[t], t < 2);
    }
  }
  /* No workspaces at all: NULL create and destroy. */
  sf_exec_config cfg = {.kind = SF_EXEC_OPENMP, .nthreads = 2};
  sf_exec *e = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_exec_create(&cfg, &e), 0);
  CU_ASSERT_PTR_NULL(sf_exec_workspace(e, 0));
  CU_ASSERT_PTR_NULL(sf_exec_workspace(e, 1));
  sf_exec_destroy(&e);
  sf_exec_destroy(&e);
  sf_exec_destroy(NULL);
}

/* ---- errors ----------------------------------------------------------------------- */

typedef struct err_probe {
  int hits[NUNITS];
  int cover[NUNITS][INNER];
  int shared;
} err_probe;

/* Units 3 and 7 fail with different codes; unit 3 is slow, so with two or more threads unit
 * 7 usually fails first in time. Shared mode: unit 3 fails on threads 1 (SF_ERR_INPUT) and
 * 2 (SF_ERR_IO) but not 0 (all three when alone), after the inner loop every thread must
 * meet. */
static int failing_unit(void *ctx, void *ws, const sf_batch *b, size_t k) {
  err_probe *p = ctx;
  int t = sf_exec_thread(), team = sf_exec_team();
  (void)ws;
  (void)b;
  if (!p->shared || t == 0) {
#pragma omp atomic
    p->hits[k]++;
  }
  if (k == 3) {
    double t0 = omp_get_wtime();
    while (omp_get_wtime() - t0 < 0.002) {
    }
  }
  if (p->shared) {
#pragma omp for
    for (int i = 0; i < INNER; i++) {
#pragma omp atomic
      p->cover[k][i]++;
    }
    if (k == 3 && (t == 1 || team == 1)) return SF_ERR_INPUT;
    if (k == 3 && t == 2) return SF_ERR_IO;
    if (k == 7) return SF_ERR_NOMEM;
    return 0;
  }
  return k == 3 ? SF_ERR_INPUT : k == 7 ? SF_ERR_IO : 0;
}

static void test_first_error(void) {
  for (int shared = 0; shared < 2; shared++)
    for (size_t i = 0; i < sizeof thread_counts / sizeof *thread_counts; i++) {
      int nt = thread_counts[i];
      ws_probe wp;
      sf_exec *e = make(shared ? SF_EXEC_OPENMP_SHARED : SF_EXEC_OPENMP, nt, &wp);
      if (!e) continue;
      for (int rep = 0; rep < 10; rep++) {
        err_probe *p = calloc(1, sizeof *p);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        p->shared = shared;
        CU_ASSERT_EQUAL(sf_exec_run(e, NULL, NUNITS, failing_unit, p), SF_ERR_INPUT);
        int bad = 0;
        for (int k = 0; k < NUNITS; k++) {
          /* one unit per thread: every unit runs; shared: none after the failing one */
          int want = !shared || k <= 3;
          bad += p->hits[k] != want;
          if (shared)
            for (int j = 0; j < INNER; j++)
              bad += p->cover[k][j] != want;
        }
        CU_ASSERT_EQUAL(bad, 0);
        free(p);
      }
      /* The executor is usable again after a failed run. */
      unit_probe u;
      memset(&u, 0, sizeof u);
      if (!shared) {
        CU_ASSERT_EQUAL(sf_exec_run(e, NULL, NUNITS, count_unit, &u), 0);
        for (int k = 0; k < NUNITS; k++)
          CU_ASSERT_EQUAL(u.hits[k], 1);
      }
      sf_exec_destroy(&e);
    }
}

/* ---- small cases ------------------------------------------------------------------ */

static void test_count_zero(void) {
  for (int kind = SF_EXEC_OPENMP; kind <= SF_EXEC_OPENMP_SHARED; kind++) {
    ws_probe p;
    sf_exec *e = make((sf_exec_kind)kind, 2, &p);
    if (!e) continue;
    unit_probe u;
    memset(&u, 0, sizeof u);
    CU_ASSERT_EQUAL(sf_exec_run(e, NULL, 0, count_unit, &u), 0);
    for (int k = 0; k < NUNITS; k++)
      CU_ASSERT_EQUAL(u.hits[k], 0);
    CU_ASSERT_EQUAL(u.max_team, 0);
    sf_exec_destroy(&e);
  }
}

static void test_defaults(void) {
  CU_ASSERT_EQUAL(sf_exec_thread(), 0);
  CU_ASSERT_EQUAL(sf_exec_team(), 1);
  ws_probe p;
  sf_exec *e = make(SF_EXEC_OPENMP, 0, &p);
  if (e) {
    CU_ASSERT_EQUAL(sf_exec_threads(e), omp_get_max_threads());
    sf_exec_destroy(&e);
  }
  e = make(SF_EXEC_OPENMP_SHARED, -3, &p);
  if (e) {
    CU_ASSERT_EQUAL(sf_exec_threads(e), omp_get_max_threads());
    sf_exec_destroy(&e);
  }
  sf_exec_config cfg = {.kind = (sf_exec_kind)7, .nthreads = 1};
  e = (sf_exec *)&p;
  CU_ASSERT_EQUAL(sf_exec_create(&cfg, &e), SF_ERR_INTERNAL);
  CU_ASSERT_PTR_NULL(e);
}

/* ---- the CUDA slot ---------------------------------------------------------------- */

/* Creates a CUDA executor with stderr sent to a file; the file's text goes to err. */
static int make_cuda_captured(int local_rank, int quiet, ws_probe *p, sf_exec **e, char *err,
                              size_t n) {
  sf_exec_config cfg = {.kind = SF_EXEC_CUDA,
                        .nthreads = 2,
                        .local_rank = local_rank,
                        .create = mk_ws,
                        .destroy = free_ws,
                        .ctx = p,
                        .quiet = quiet};
  memset(p, 0, sizeof *p);
  p->fail_at = -1;
  err[0] = '\0';
  FILE *tmp = tmpfile();
  if (!tmp) return sf_exec_create(&cfg, e);
  fflush(stderr);
  int saved = dup(fileno(stderr));
  dup2(fileno(tmp), fileno(stderr));
  int rc = sf_exec_create(&cfg, e);
  fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  rewind(tmp);
  size_t got = fread(err, 1, n - 1, tmp);
  err[got] = '\0';
  fclose(tmp);
  return rc;
}

static void test_cuda_slot(void) {
  int ndev = sf_gpu_device_count();
  for (int lr = 0; lr < 3; lr++) {
    ws_probe p;
    sf_exec *e = NULL;
    char err[1024];
    CU_ASSERT_EQUAL_FATAL(make_cuda_captured(lr, 0, &p, &e, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(sf_exec_threads(e), 2);
    if (ndev <= 0) {
      /* No device here: one line, then an OpenMP executor. */
      CU_ASSERT_EQUAL(sf_exec_get_kind(e), SF_EXEC_OPENMP);
      CU_ASSERT_EQUAL(sf_exec_device(e), -1);
      CU_ASSERT_STRING_EQUAL(sf_exec_device_name(e), "");
      const char *want =
          sf_gpu_built() ? "slabflow: cuda backend: no CUDA device visible; running on the CPU\n"
                         : "slabflow: cuda backend: this build has no CUDA; running on the CPU\n";
      CU_ASSERT_STRING_EQUAL(err, want);
    } else {
      CU_ASSERT_EQUAL(sf_exec_get_kind(e), SF_EXEC_CUDA);
      CU_ASSERT_EQUAL(sf_exec_device(e), lr % ndev);
      CU_ASSERT(strlen(sf_exec_device_name(e)) > 0);
      CU_ASSERT_STRING_EQUAL(err, "");
      printf("\n  local rank %d: device %d (%s) ", lr, sf_exec_device(e), sf_exec_device_name(e));
    }
    /* Either way the units run on the CPU threads, once each. */
    unit_probe u;
    memset(&u, 0, sizeof u);
    CU_ASSERT_EQUAL(sf_exec_run(e, NULL, NUNITS, count_unit, &u), 0);
    for (int k = 0; k < NUNITS; k++)
      CU_ASSERT_EQUAL(u.hits[k], 1);
    CU_ASSERT_EQUAL(u.wrong_ws, 0);
    CU_ASSERT_EQUAL(u.max_team, 2);
    sf_exec_destroy(&e);
    CU_ASSERT(p.created[0] == 1 && p.created[1] == 1 && p.destroyed[0] == 1 && p.destroyed[1] == 1);
  }
  /* quiet: no line at all. */
  ws_probe p;
  sf_exec *e = NULL;
  char err[1024];
  CU_ASSERT_EQUAL_FATAL(make_cuda_captured(1, 1, &p, &e, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(err, "");
  CU_ASSERT_EQUAL(sf_exec_get_kind(e), ndev > 0 ? SF_EXEC_CUDA : SF_EXEC_OPENMP);
  sf_exec_destroy(&e);
}

int main(void) {
  static const sf_test tests[] = {
      {"one unit per thread runs every unit once (1, 2, 4 threads)", test_units_once},
      {"shared mode: the team enters every unit, inner loop split once", test_shared_units},
      {"each thread its own workspace, made and freed once", test_workspaces},
      {"the smallest failing unit's status, whatever the schedule", test_first_error},
      {"count 0 runs nothing", test_count_zero},
      {"default thread count, unknown kind", test_defaults},
      {"cuda slot: a device, or one line and the CPU", test_cuda_slot},
      {NULL, NULL}};
  return sf_cunit_run("exec", tests);
}
