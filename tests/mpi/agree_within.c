/* sf_mpi_agree_within under mpirun -np 2: the agreement of two ranks that both arrive gives
 * the most severe status; a rank that never arrives is noticed by the other within the
 * time-out (and not long after), instead of a hang. Exit 0 on success. */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

#include "mpi/mpi_agree.h"
#include "sf_error.h"

int main(int argc, char **argv) {
  int rank, size, bad = 0, stalled = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 2) {
    if (rank == 0) fprintf(stderr, "agree_within: run with 2 ranks\n");
    MPI_Finalize();
    return 2;
  }
  /* both arrive: the minimum status, no stall */
  int st = sf_mpi_agree_within(rank == 1 ? SF_ERR_IO : 0, MPI_COMM_WORLD, 5.0, &stalled);
  if (st != SF_ERR_IO || stalled) bad = 1;
  st = sf_mpi_agree_within(0, MPI_COMM_WORLD, 5.0, &stalled);
  if (st != 0 || stalled) bad = 1;
  MPI_Barrier(MPI_COMM_WORLD);
  /* rank 1 stays away for 4 s: rank 0 gives up after 1 s */
  if (rank == 0) {
    double t0 = MPI_Wtime();
    st = sf_mpi_agree_within(SF_ERR_IO, MPI_COMM_WORLD, 1.0, &stalled);
    double dt = MPI_Wtime() - t0;
    if (!stalled || st != SF_ERR_IO || dt < 1.0 || dt > 2.5) bad = 1;
    printf("agree_within: stalled=%d after %.2f s (time-out 1 s)\n", stalled, dt);
  } else {
    sleep(4);
    st = sf_mpi_agree_within(0, MPI_COMM_WORLD, 10.0, &stalled); /* completes the request */
  }
  int any = 0;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) printf("agree_within: %s\n", any ? "FAIL" : "ok");
  MPI_Finalize();
  return any;
}
