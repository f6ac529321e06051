#include "mpi/mpi_local.h"

#include "mpi/mpi_check.h"
#include "sf_error.h"

int sf_mpi_node_comm(MPI_Comm comm, MPI_Comm *node) {
  int status = 0, rank = 0;
  *node = MPI_COMM_NULL;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  SF_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, node));
cleanup:
  return status;
}

int sf_mpi_local_rank(MPI_Comm comm, int *local_rank, int *local_size) {
  int status = 0, lr = 0, ls = 1;
  MPI_Comm node = MPI_COMM_NULL;
  SF_CALL(sf_mpi_node_comm(comm, &node));
  SF_MPI(MPI_Comm_rank(node, &lr));
  SF_MPI(MPI_Comm_size(node, &ls));
  if (local_rank) *local_rank = lr;
  if (local_size) *local_size = ls;
cleanup:
  if (node != MPI_COMM_NULL) SF_MPI_HERE(MPI_Comm_free(&node));
  return status;
}
