/* The ranks that share a node (MPI_COMM_TYPE_SHARED): the local rank that picks a device,
 * and the node communicator that adds up the node's needs. */
#ifndef SF_MPI_LOCAL_H
#define SF_MPI_LOCAL_H

#include <mpi.h>

/* Splits comm into the ranks of this node, ordered as in comm; the caller frees *node
 * (MPI_Comm_free). Returns 0 (a failed MPI call stops the job). Collective over comm. */
int sf_mpi_node_comm(MPI_Comm comm, MPI_Comm *node);

/* This rank's index among the ranks of comm on its node (in comm's order) and their number;
 * either pointer may be NULL. Returns 0 (a failed MPI call stops the job). Collective over
 * comm. */
int sf_mpi_local_rank(MPI_Comm comm, int *local_rank, int *local_size);

#endif
