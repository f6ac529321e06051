/* slabflow: entry point. Initialises MPI (funneled threads), dispatches the command, and is
 * the only place that turns a status into an exit code. */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5_util.h"
#include "mpi/h5_output.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "pipelines/pipelines.h"
#include "sf_error.h"

/* Top-level usage. */
static void usage(void) {
  printf("slabflow %s: distributed batch processing of large recordings and volumes\n\n"
         "usage: mpirun -np N slabflow <command> INPUT -o OUTPUT.h5 [options]\n\n"
         "commands:\n"
         "  register   motion correction of microscopy videos (optical flow or rigid)\n"
         "  slices     3-D volumes into 2.5-D training slices with context\n"
         "  integrate  azimuthal integration of X-ray detector image stacks (pyFAI's)\n"
         "  eeg        MR gradient-artifact removal from EEG-fMRI recordings (FACET's AAS)\n"
         "  synth      synthetic inputs with known ground truth (synth video|volumes|detector)\n"
         "  version    print the version\n\n"
         "`slabflow <command> --help` lists every option with its default.\n",
         SF_VERSION);
}

/* A run started without a launcher is one process, an MPI singleton. Open MPI then forks a
 * daemon for it and probes the network transports, about 0.3 s of every such run (a third
 * of a short job's wall time here); one process needs neither, so such a run starts isolated
 * with the shared-memory and self transports, unbound (its OpenMP threads use every core).
 * Only where no launcher set its variables, and the user's own settings win. */
static void singleton_defaults(void) {
  static const char *launched[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                   "SLURM_PROCID", NULL};
  for (const char **v = launched; *v; v++)
    if (getenv(*v)) return;
  setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
  setenv("OMPI_MCA_hwloc_base_binding_policy", "none", 0);
  setenv("OMPI_MCA_pml", "ob1", 0);
  setenv("OMPI_MCA_btl", "self,vader", 0);
}

int main(int argc, char **argv) {
  int provided = 0, rank = 0, status = 0;
  singleton_defaults();
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    sf_error_report(SF_ERR_NOMEM, NULL, 0, NULL, "MPI_Init_thread failed");
    return sf_exit_code(SF_ERR_NOMEM);
  }
  /* MPI failures come back to SF_MPI, which reports them with their place and MPI's own
   * message before it stops the job (sf_mpi_fail); HDF5 sets MPI_ERRORS_RETURN on its own
   * duplicates of the communicator anyway. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  sf_mpi_on_abort(sf_output_release_lock);
  SF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  sf_error_set_rank(rank);
  /* Threads call no MPI, but the main thread must be allowed to call it while they exist.
   * Every rank takes the same branch (the lowest level of all ranks). */
  int lowest = provided;
  SF_MPI(MPI_Allreduce(&provided, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  if (lowest < MPI_THREAD_FUNNELED) {
    status = SF_ERR_NOMEM;
    if (rank == 0)
      sf_error_report(status, NULL, 0, NULL,
                      "this MPI library provides thread level %d, below MPI_THREAD_FUNNELED (%d) "
                      "that slabflow needs (OpenMP threads)",
                      lowest, MPI_THREAD_FUNNELED);
    goto cleanup;
  }
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
  } else if (!strcmp(cmd, "integrate")) {
    status = sf_cmd_integrate(argc - 1, argv + 1);
  } else if (!strcmp(cmd, "eeg")) {
    status = sf_cmd_eeg(argc - 1, argv + 1);
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
  SF_MPI(MPI_Barrier(MPI_COMM_WORLD));
cleanup:
  MPI_Finalize();
  return sf_exit_code(status);
}
