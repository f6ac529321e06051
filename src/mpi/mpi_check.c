#include "mpi/mpi_check.h"

#include <stdio.h>
#include <string.h>

static void (*g_on_abort)(void);

void sf_mpi_on_abort(void (*fn)(void)) { g_on_abort = fn; }

int sf_mpi_fail(int rc, const char *call, const char *file, int line, const char *func) {
  char text[MPI_MAX_ERROR_STRING + 1] = "";
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
    snprintf(text, sizeof text, "MPI error %d", rc);
  /* The call's name without its arguments: "MPI_Bcast(&n, 1, ...)" -> "MPI_Bcast". */
  size_t n = strcspn(call, "(");
  const char *base = strrchr(file, '/');
  sf_error_report(SF_ERR_IO, file, line, func, "%.*s failed at %s:%d: %s", (int)n, call,
                  base ? base + 1 : file, line, text);
  /* The second MPI_Abort outside main (see abort_stalled in h5_output.c): after a failed MPI
   * call MPI itself can no longer unwind. What main registered goes first (the output
   * lock, released as main does before it exits). */
  if (g_on_abort) g_on_abort();
  MPI_Abort(MPI_COMM_WORLD, sf_exit_code(SF_ERR_IO));
  return SF_ERR_IO;
}
