/* SF_MPI: checks an MPI return code (STYLE.md "Errors"). Needs MPI_ERRORS_RETURN on the
 * communicator (main sets it on MPI_COMM_WORLD); with MPI_ERRORS_ARE_FATAL MPI aborts first. */
#ifndef SF_MPI_CHECK_H
#define SF_MPI_CHECK_H

#include <mpi.h>

#include "sf_error.h"

/* Reports a failed MPI call (rank, call, file:line and MPI_Error_string of rc), then stops
 * the job with exit code 3: the other ranks may be waiting inside the collective that
 * failed here, so no collective (agreement, barrier) can follow and the status cannot
 * travel back to main. Returns SF_ERR_IO only if MPI_Abort returns. Local. */
int sf_mpi_fail(int rc, const char *call, const char *file, int line, const char *func);

/* A function sf_mpi_fail calls before it aborts the job (main registers the release of the
 * output lock; NULL: none). Local. */
void sf_mpi_on_abort(void (*fn)(void));

/* Calls an MPI function; on a status other than MPI_SUCCESS, reports it with MPI's own
 * message and stops the job (sf_mpi_fail). Requires `int status` and `cleanup:`. */
#define SF_MPI(call)                                                                               \
  do {                                                                                             \
    int sf_mpi_rc_ = (call);                                                                       \
    if (sf_mpi_rc_ != MPI_SUCCESS) {                                                               \
      status = sf_mpi_fail(sf_mpi_rc_, #call, __FILE__, __LINE__, __func__);                       \
      goto cleanup;                                                                                \
    }                                                                                              \
  } while (0)

/* SF_MPI for cleanup sections and functions without a cleanup label: reports and stops the
 * job the same way, without a jump. Requires `int status`. */
#define SF_MPI_HERE(call)                                                                          \
  do {                                                                                             \
    int sf_mpi_rc_ = (call);                                                                       \
    if (sf_mpi_rc_ != MPI_SUCCESS)                                                                 \
      status = sf_mpi_fail(sf_mpi_rc_, #call, __FILE__, __LINE__, __func__);                       \
  } while (0)

#endif
