/* The memory check every command makes before it allocates its buffers: what one rank will
 * need against what its node and its process can give. */
#ifndef SF_MEM_CHECK_H
#define SF_MEM_CHECK_H

#include <mpi.h>

#include "node/node_memory.h"

/* Compares b (the bytes this rank will allocate) with the memory left on its node, shared by
 * the ranks of comm that run there (MPI_COMM_TYPE_SHARED), and with this process's rlimits.
 * When it does not fit anywhere, the lowest such rank reports once, as "<what>: not enough
 * memory: ..." with the amounts, the largest item of b and hint (may be NULL); every rank
 * returns SF_ERR_NOMEM. SLABFLOW_MEMORY_CHECK=0 (rank 0's) skips the check. Collective. */
int sf_mpi_check_memory(MPI_Comm comm, const sf_mem_budget *b, const char *what, const char *hint);

#endif
