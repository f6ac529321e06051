/* sf_mpi_local_rank and sf_mpi_node_comm under mpirun on one machine: every rank's local
 * rank lies in [0, local size), the local size is the world size, and the local ranks are
 * distinct (they follow the world ranks); a split communicator gives its own numbering.
 * Every rank runs the checks; the exit status is the same on every rank. */
#include <CUnit/Basic.h>
#include <mpi.h>
#include <stdlib.h>

#include "mpi/mpi_local.h"
#include "sf_cunit.h"
#include "sf_error.h"

static void test_world(void) {
  int rank = 0, size = 1, lr = -1, ls = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CU_ASSERT_EQUAL(sf_mpi_local_rank(MPI_COMM_WORLD, &lr, &ls), 0);
  CU_ASSERT(lr >= 0 && lr < ls);
  CU_ASSERT_EQUAL(ls, size);
  CU_ASSERT_EQUAL(lr, rank); /* one machine: the node's order is the world's */
  int *all = calloc((size_t)size, sizeof *all), *seen = calloc((size_t)size, sizeof *seen);
  CU_ASSERT_FATAL(all && seen);
  MPI_Allgather(&lr, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
  int distinct = 1;
  for (int r = 0; r < size; r++) {
    if (all[r] < 0 || all[r] >= size || seen[all[r]]++) distinct = 0;
  }
  CU_ASSERT(distinct);
  free(all);
  free(seen);
  /* Either pointer may be NULL. */
  int lr2 = -1, ls2 = -1;
  CU_ASSERT_EQUAL(sf_mpi_local_rank(MPI_COMM_WORLD, &lr2, NULL), 0);
  CU_ASSERT_EQUAL(sf_mpi_local_rank(MPI_COMM_WORLD, NULL, &ls2), 0);
  CU_ASSERT(lr2 == lr && ls2 == ls);
}

static void test_split(void) {
  int rank = 0, size = 1, lr = -1, ls = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm half = MPI_COMM_NULL, node = MPI_COMM_NULL;
  /* odd and even world ranks, the odd ones in reverse order */
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank % 2 ? -rank : rank, &half);
  int hrank = 0, hsize = 1;
  MPI_Comm_rank(half, &hrank);
  MPI_Comm_size(half, &hsize);
  CU_ASSERT_EQUAL(sf_mpi_local_rank(half, &lr, &ls), 0);
  CU_ASSERT_EQUAL(ls, hsize);
  CU_ASSERT_EQUAL(lr, hrank);
  CU_ASSERT_EQUAL(sf_mpi_node_comm(half, &node), 0);
  CU_ASSERT_FATAL(node != MPI_COMM_NULL);
  int nsize = 0, nrank = -1;
  MPI_Comm_size(node, &nsize);
  MPI_Comm_rank(node, &nrank);
  CU_ASSERT(nsize == hsize && nrank == hrank);
  MPI_Comm_free(&node);
  MPI_Comm_free(&half);
}

int main(int argc, char **argv) {
  int rank = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  sf_error_set_rank(rank);
  static const sf_test tests[] = {{"local rank and size on one machine", test_world},
                                  {"a split communicator's own local ranks", test_split},
                                  {NULL, NULL}};
  int rc = sf_cunit_run("mpi_local", tests), any = 0;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
