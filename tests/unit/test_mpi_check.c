/* SF_MPI: a failed MPI call is reported once per rank with the call, the place and MPI's own
 * message, and the job stops with exit code 3 (tests/mpi/mpi_check.sh checks the output). */
#include <mpi.h>
#include <stdio.h>

#include "mpi/mpi_check.h"

/* A broadcast with a negative count: MPI_ERR_COUNT on every rank, before any message. */
static int bad_bcast(void) {
  int status = 0, x = 0;
  SF_MPI(MPI_Bcast(&x, -1, MPI_INT, 0, MPI_COMM_WORLD));
  printf("not reached\n");
cleanup:
  return status;
}

int main(int argc, char **argv) {
  int rank = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  sf_error_set_rank(rank);
  int status = bad_bcast();
  printf("bad_bcast returned %d\n", status);
  MPI_Finalize();
  return 0;
}
