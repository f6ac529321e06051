/* CUnit tests of the engine's local parts: the plan, the node loop, ordered sums. */
#include <CUnit/Basic.h>
#include <mpi.h>
#include <stdlib.h>

#include "mpi/mpi_agree.h"
#include "mpi/plan.h"
#include "node/node_loop.h"
#include "sf_error.h"

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
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("engine", NULL, NULL);
  CU_add_test(s, "plan covers every unit once, in rank order", test_plan_cover);
  CU_add_test(s, "plan leaves extra ranks idle", test_plan_idle_rank);
  CU_add_test(s, "node loop reports the first failing unit", test_node_errors);
  CU_add_test(s, "ordered sum on one rank", test_ordered_sum_single);
  CU_add_test(s, "exit codes", test_exit_codes);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned fails = CU_get_number_of_failures();
  CU_cleanup_registry();
  MPI_Finalize();
  return fails ? 1 : 0;
}
