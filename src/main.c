/* slabflow: entry point. Initialises MPI (funneled threads), dispatches the command, and is
 * the only place that turns a status into an exit code. */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "io/h5_util.h"
#include "mpi/h5_output.h"
#include "mpi/mpi_agree.h"
#include "pipelines/pipelines.h"
#include "sf_error.h"

/* Top-level usage. */
static void usage(void) {
  printf("slabflow %s: distributed batch processing of large recordings and volumes\n\n"
         "usage: mpirun -np N slabflow <command> INPUT -o OUTPUT.h5 [options]\n\n"
         "commands:\n"
         "  register   motion correction of microscopy videos (optical flow or rigid)\n"
         "  slices     3-D volumes into 2.5-D training slices with context\n"
         "  synth      synthetic inputs with known ground truth (synth video|volumes)\n"
         "  version    print the version\n\n"
         "`slabflow <command> --help` lists every option with its default.\n",
         SF_VERSION);
}

int main(int argc, char **argv) {
  int provided = 0, rank = 0, status = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  sf_error_set_rank(rank);
  sf_h5_quiet();
  sf_interrupt_install();
  const char *cmd = argc > 1 ? argv[1] : "";
  if (argc < 2 || !strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    if (rank == 0) usage();
    status = argc < 2 ? SF_ERR_USAGE : 0;
  } else if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    if (rank == 0) printf("slabflow %s\n", SF_VERSION);
  } else if (!strcmp(cmd, "register")) {
    status = sf_cmd_register(argc - 1, argv + 1);
  } else if (!strcmp(cmd, "slices")) {
    status = sf_cmd_slices(argc - 1, argv + 1);
  } else if (!strcmp(cmd, "synth")) {
    status = sf_cmd_synth(argc - 1, argv + 1);
  } else {
    if (rank == 0)
      sf_error_report(SF_ERR_USAGE, NULL, 0, NULL, "unknown command '%s' (see slabflow --help)", cmd);
    status = SF_ERR_USAGE;
  }
  /* No rank exits before rank 0 has let go of the output lock: mpirun kills the other ranks
   * as soon as one exits with an error. */
  sf_output_release_lock();
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return sf_exit_code(status);
}
