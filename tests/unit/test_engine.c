/* CUnit tests of the engine's local parts: the plan, the node loop (with a side task),
 * ordered sums, and the sweep's order of computes and commits on one rank. */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi/engine.h"
#include "mpi/mpi_agree.h"
#include "mpi/plan.h"
#include "node/node_loop.h"
#include "sf_error.h"
#include "sf_cunit.h"

static void test_plan_cover(void) {
  /* Every unit is owned exactly once, contiguously in rank order, for many shapes. */
  for (size_t n = 0; n < 40; n++)
    for (size_t seg = 1; seg < 9; seg++)
      for (int R = 1; R < 7; R++) {
        sf_plan p;
        sf_plan_init(&p, 5, n, seg, R);
        size_t next = 5, steps = 0;
        for (int r = 0; r < R; r++) {
          size_t s0, ns;
          sf_plan_rank_segments(&p, r, &s0, &ns);
          if (ns > steps) steps = ns;
          for (size_t s = s0; s < s0 + ns; s++) {
            size_t f, c;
            sf_plan_segment(&p, s, &f, &c);
            CU_ASSERT_EQUAL(f, next);
            CU_ASSERT(c >= 1 && c <= seg);
            CU_ASSERT_EQUAL(sf_plan_owner(&p, s), r);
            next += c;
          }
        }
        CU_ASSERT_EQUAL(next, 5 + n);
        CU_ASSERT_EQUAL(sf_plan_steps(&p), steps);
        CU_ASSERT_EQUAL(sf_plan_units_done(&p, steps), n);
      }
}

static void test_plan_idle_rank(void) {
  sf_plan p;
  sf_plan_init(&p, 0, 30, 8, 5); /* 4 segments over 5 ranks */
  size_t s0, ns;
  sf_plan_rank_segments(&p, 4, &s0, &ns);
  CU_ASSERT_EQUAL(ns, 0);
  CU_ASSERT_EQUAL(p.n_segments, 4);
  sf_plan_segment(&p, 3, &s0, &ns);
  CU_ASSERT(s0 == 24 && ns == 6);
}

static int fail_from_7(void *ctx, void *ws, size_t k) {
  int *hits = ctx;
  (void)ws;
#pragma omp atomic
  hits[k]++;
  return k >= 7 ? (k == 7 ? SF_ERR_INPUT : SF_ERR_IO) : 0;
}

static int mk_ws(void *ctx, int t, void **ws) {
  (void)ctx;
  *ws = malloc(16);
  ((int *)*ws)[0] = t;
  return *ws ? 0 : SF_ERR_NOMEM;
}

static void free_ws(void *ctx, void **ws) {
  (void)ctx;
  free(*ws);
  *ws = NULL;
}

static void test_node_errors(void) {
  /* The error reported is that of the smallest failing unit, whatever the schedule. */
  sf_node *n = NULL;
  CU_ASSERT_FATAL(sf_node_create(2, mk_ws, free_ws, NULL, &n) == 0);
  CU_ASSERT_EQUAL(sf_node_threads(n), 2);
  CU_ASSERT_EQUAL(((int *)sf_node_workspace(n, 1))[0], 1);
  for (int rep = 0; rep < 20; rep++) {
    int hits[50] = {0};
    CU_ASSERT_EQUAL(sf_node_run(n, 50, fail_from_7, hits), SF_ERR_INPUT);
    for (int k = 0; k < 50; k++) CU_ASSERT_EQUAL(hits[k], 1);
  }
  sf_node_destroy(&n);
  CU_ASSERT(n == NULL);
  sf_node_destroy(NULL);
}

/* Side-task probe: the side task waits (bounded) until the other threads have finished a
 * few units, which shows that units run while it runs, without measuring time. */
typedef struct side_probe {
  int units;        /* units run so far */
  int wait_units;   /* the side task waits for this many (0: none) */
  int seen;         /* units finished when the side task returned */
  int runs;         /* side task runs */
  int on_main;      /* the side task ran on the thread that initialised MPI */
  int team;         /* threads of the team it ran in */
  int *hits;        /* per unit */
} side_probe;

static int probe_unit(void *ctx, void *ws, size_t k) {
  side_probe *p = ctx;
  (void)ws;
#pragma omp atomic
  p->hits[k]++;
#pragma omp atomic
  p->units++;
  return 0;
}

static int probe_side(void *ctx) {
  side_probe *p = ctx;
  int units = 0;
  p->runs++;
  MPI_Is_thread_main(&p->on_main);
  p->team = omp_get_num_threads();
  double t0 = omp_get_wtime();
  do {
#pragma omp atomic read
    units = p->units;
  } while (p->team > 1 && units < p->wait_units && omp_get_wtime() - t0 < 30.0);
  p->seen = units;
  return SF_ERR_IO;
}

static void test_node_side(void) {
  for (int nt = 1; nt <= 2; nt++) {
    sf_node *n = NULL;
    CU_ASSERT_FATAL(sf_node_create(nt, mk_ws, free_ws, NULL, &n) == 0);
    int hits[50] = {0};
    side_probe p = {0, nt > 1 ? 3 : 0, 0, 0, 0, 0, hits};
    sf_side_task side = {probe_side, &p, 0, 0};
    /* The side task's failure is its own status, not the units' (all fine here). */
    CU_ASSERT_EQUAL(sf_node_run_side(n, 50, probe_unit, &p, &side), 0);
    CU_ASSERT(side.done == 1 && side.status == SF_ERR_IO);
    CU_ASSERT_EQUAL(p.runs, 1);
    CU_ASSERT_EQUAL(p.on_main, 1);
    for (int k = 0; k < 50; k++) CU_ASSERT_EQUAL(hits[k], 1);
    if (p.team == 1) {
      CU_ASSERT_EQUAL(p.seen, 0); /* alone, the master runs it before any unit */
    } else {
      CU_ASSERT(p.seen >= 3); /* the other thread computed meanwhile */
    }
    if (nt > 1 && p.team == 1) fprintf(stderr, "\n(OpenMP gave one thread; overlap not shown)\n");
    /* A done task does not run again; a task with no units still runs. */
    CU_ASSERT_EQUAL(sf_node_run_side(n, 50, probe_unit, &p, &side), 0);
    CU_ASSERT_EQUAL(p.runs, 1);
    sf_side_task side2 = {probe_side, &p, 0, 0};
    p.wait_units = 0;
    CU_ASSERT_EQUAL(sf_node_run_side(n, 0, probe_unit, &p, &side2), 0);
    CU_ASSERT(p.runs == 2 && side2.done && side2.status == SF_ERR_IO);
    CU_ASSERT_EQUAL(sf_side_task_finish(&side2), SF_ERR_IO);
    CU_ASSERT_EQUAL(p.runs, 2);
    CU_ASSERT_EQUAL(sf_side_task_finish(NULL), 0);
    /* The first failing unit still decides the status when a side task runs. */
    for (int rep = 0; rep < 10; rep++) {
      int h2[50] = {0};
      sf_side_task side3 = {probe_side, &p, 0, 0};
      CU_ASSERT_EQUAL(sf_node_run_side(n, 50, fail_from_7, h2, &side3), SF_ERR_INPUT);
      CU_ASSERT(side3.done && side3.status == SF_ERR_IO);
      for (int k = 0; k < 50; k++) CU_ASSERT_EQUAL(h2[k], 1);
    }
    sf_node_destroy(&n);
  }
}

/* ---- the sweep on one rank: order of computes and commits ---- */

#define SW_T 11   /* frames of 2x2 uint8, value = frame index */
#define SW_SEG 3  /* segments 3,3,3,2: four steps */

typedef struct sweep_log {
  sf_node *node;
  int use_side;        /* compute hands b->side to its node loop */
  long fail_step;      /* compute fails there, before its node loop (-1: never) */
  int overlap;
  char log[256];       /* "c<k>": compute of step k; "W<k>"/"w<k>": commit of step k inside /
                        * outside a parallel region */
  int bad;             /* a commit or compute saw something wrong */
} sweep_log;

static void sw_log(sweep_log *l, char what, size_t step) {
  size_t n = strlen(l->log);
  snprintf(l->log + n, sizeof l->log - n, "%s%c%zu", n ? " " : "", what, step);
}

static int sw_unit(void *ctx, void *ws, size_t k) {
  (void)ctx;
  (void)ws;
  (void)k;
  return 0;
}

static int sw_compute(void *ctx, const sf_batch *b) {
  sweep_log *l = ctx;
  sw_log(l, 'c', b->step);
  for (size_t k = 0; k < b->count; k++)
    if (b->in[4 * k] != (float)(b->first + k)) l->bad = 1;
  if ((long)b->step == l->fail_step) return SF_ERR_INPUT;
  return sf_node_run_side(l->node, b->count, sw_unit, l, l->use_side ? b->side : NULL);
}

static int sw_commit(void *ctx, const sf_batch *b) {
  sweep_log *l = ctx;
  int main_thread = 0;
  MPI_Is_thread_main(&main_thread);
  if (!main_thread || (l->overlap && b->in != NULL) || b->count != (b->step < 3 ? 3u : 2u) ||
      b->first != SW_SEG * b->step || b->segment != (long)b->step)
    l->bad = 1;
  sw_log(l, omp_in_parallel() ? 'W' : 'w', b->step);
  return 0;
}

/* Runs the sweep over the test file; returns its status, the log in l. */
static int sw_run(const char *path, sweep_log *l, sf_progress *prog) {
  sf_source *src = NULL;
  int status = sf_source_open(MPI_COMM_WORLD, path, "/data", 1, &src);
  if (status < 0) return status;
  sf_plan plan;
  sf_plan_init(&plan, 0, SW_T, SW_SEG, 1);
  sf_sweep_ops ops = {l, sw_compute, sw_commit, 0, l->overlap};
  sf_phase_times tm = {0, 0, 0};
  memset(prog, 0, sizeof *prog);
  prog->active = 1;
  prog->interval = 1e30; /* track p->done, print nothing */
  status = sf_sweep_run(MPI_COMM_WORLD, &plan, src, &ops, prog, &tm);
  sf_source_close(&src);
  return status;
}

static void test_sweep_overlap(void) {
  char path[512];
  const char *tmp = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/sf_test_engine_%d.h5", tmp && *tmp ? tmp : "/tmp", (int)getpid());
  unsigned char v[SW_T * 4];
  for (int i = 0; i < SW_T * 4; i++) v[i] = (unsigned char)(i / 4);
  hsize_t dims[3] = {SW_T, 2, 2};
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  hid_t sp = H5Screate_simple(3, dims, NULL);
  hid_t d = H5Dcreate2(f, "/data", H5T_NATIVE_UINT8, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT_FATAL(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
  H5Dclose(d);
  H5Sclose(sp);
  H5Fclose(f);
  sf_node *n = NULL;
  CU_ASSERT_FATAL(sf_node_create(2, mk_ws, free_ws, NULL, &n) == 0);
  sf_progress prog;
  struct {
    int overlap, use_side;
    long fail;
    int status;
    size_t done;
    const char *log;
  } cases[] = {
      /* Without overlap: each commit right after its compute. */
      {0, 1, -1, 0, SW_T, "c0 w0 c1 w1 c2 w2 c3 w3"},
      /* Overlap: commit k-1 inside compute k's node loop, the last one after the loop. */
      {1, 1, -1, 0, SW_T, "c0 c1 W0 c2 W1 c3 W2 w3"},
      /* A compute that does not take the side task: the engine runs it after compute. */
      {1, 0, -1, 0, SW_T, "c0 c1 w0 c2 w1 c3 w2 w3"},
      /* Compute fails at step 2 before its node loop: commit 1 still runs (it is collective),
       * commit 2 never; progress was last updated after step 1 (commit 0's units). */
      {1, 1, 2, SF_ERR_INPUT, 3, "c0 c1 W0 c2 w1"},
      {0, 1, 2, SF_ERR_INPUT, 6, "c0 w0 c1 w1 c2"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sweep_log l;
    memset(&l, 0, sizeof l);
    l.node = n;
    l.overlap = cases[i].overlap;
    l.use_side = cases[i].use_side;
    l.fail_step = cases[i].fail;
    CU_ASSERT_EQUAL(sw_run(path, &l, &prog), cases[i].status);
    CU_ASSERT_STRING_EQUAL(l.log, cases[i].log);
    CU_ASSERT_EQUAL(l.bad, 0);
    CU_ASSERT_EQUAL(prog.done, cases[i].done);
    if (strcmp(l.log, cases[i].log)) fprintf(stderr, "\ncase %zu: got '%s'\n", i, l.log);
  }
  sf_node_destroy(&n);
  unlink(path);
}

static void test_ordered_sum_single(void) {
  double chunks[6] = {1, 2, 3, 10, 20, 30}, total[3];
  CU_ASSERT_EQUAL(sf_mpi_ordered_sum(chunks, 2, 3, total, MPI_COMM_WORLD), 0);
  CU_ASSERT(total[0] == 11 && total[1] == 22 && total[2] == 33);
  CU_ASSERT_EQUAL(sf_mpi_ordered_sum(chunks, 0, 3, total, MPI_COMM_WORLD), 0);
  CU_ASSERT(total[0] == 0 && total[2] == 0);
}

static void test_exit_codes(void) {
  CU_ASSERT_EQUAL(sf_exit_code(0), 0);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_USAGE), 2);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_INPUT), 2);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_IO), 3);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_NOMEM), 4);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_INTERRUPTED), 5);
  CU_ASSERT_EQUAL(sf_exit_code(SF_ERR_INTERNAL), 1);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  static const sf_test tests[] = {
      {"plan covers every unit once, in rank order", test_plan_cover},
      {"plan leaves extra ranks idle", test_plan_idle_rank},
      {"node loop reports the first failing unit", test_node_errors},
      {"node loop runs a side task on the master while units run", test_node_side},
      {"sweep defers each commit into the next compute", test_sweep_overlap},
      {"ordered sum on one rank", test_ordered_sum_single},
      {"exit codes", test_exit_codes},
      {NULL, NULL}};
  int rc = sf_cunit_run("engine", tests);
  MPI_Finalize();
  return rc;
}
