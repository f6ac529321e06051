#include "mpi/mem_check.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_check.h"
#include "mpi/mpi_local.h"
#include "sf_error.h"

int sf_mpi_check_memory(MPI_Comm comm, const sf_mem_budget *b, const char *what, const char *hint) {
  int rank = 0, skip = 0, on_node = 1, status = 0;
  MPI_Comm node = MPI_COMM_NULL;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    const char *e = getenv("SLABFLOW_MEMORY_CHECK");
    skip = e && !strcmp(e, "0");
  }
  /* rank 0's choice: ranks that disagreed would leave the collectives below unmatched */
  SF_MPI(MPI_Bcast(&skip, 1, MPI_INT, 0, comm));
  if (skip) return 0;
  sf_node_mem m;
  sf_node_memory(&m);
  /* The ranks of one node share its memory: their needs add up. Doubles, because a sum of
   * saturated (UINT64_MAX) needs must stay "too much" rather than wrap. */
  double mine = (double)b->total, node_need = mine;
  SF_CALL(sf_mpi_node_comm(comm, &node));
  SF_MPI(MPI_Allreduce(&mine, &node_need, 1, MPI_DOUBLE, MPI_SUM, node));
  SF_MPI(MPI_Comm_size(node, &on_node));
  SF_MPI(MPI_Comm_free(&node));
  int short_node = node_need > (double)m.node, short_proc = b->total > m.process;
  int first = short_node || short_proc ? rank : INT_MAX, lowest = INT_MAX;
  SF_MPI(MPI_Allreduce(&first, &lowest, 1, MPI_INT, MPI_MIN, comm));
  if (lowest == INT_MAX) return 0;
  if (lowest == rank) {
    char need[32], all[32], have[32], part[32], where[256];
    sf_mem_text(b->total, need, sizeof need);
    sf_mem_text(node_need >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)node_need, all,
                sizeof all);
    sf_mem_text(b->largest, part, sizeof part);
    if (short_node) {
      sf_mem_text(m.node, have, sizeof have);
      if (on_node > 1)
        snprintf(where, sizeof where,
                 "%s for the %d ranks on this node, which has %s available (%s)", all, on_node,
                 have, m.node_from);
      else
        snprintf(where, sizeof where, "and this node has %s available (%s)", have, m.node_from);
    } else {
      sf_mem_text(m.process, have, sizeof have);
      snprintf(where, sizeof where, "and the process may allocate %s more (%s)", have,
               m.process_from);
    }
    sf_error_report(SF_ERR_NOMEM, __FILE__, __LINE__, __func__,
                    "%s: not enough memory: the run needs about %s per rank, %s; the largest part "
                    "is %s: %s%s%s",
                    what, need, where, b->largest_what, part, hint ? "; " : "", hint ? hint : "");
  }
  return SF_ERR_NOMEM;
cleanup: /* only after a failed MPI call: sf_mpi_fail has stopped the job */
  return status;
}
