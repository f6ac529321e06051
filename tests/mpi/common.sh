# Shared by the integration tests: paths, an mpirun that works as root in containers, and
# small assertions. Sourced; expects SLABFLOW and SF_H5CHECK in the environment.
set -euo pipefail
: "${SLABFLOW:?SLABFLOW must point at the slabflow binary}"
: "${SF_H5CHECK:?SF_H5CHECK must point at the sf_h5check helper}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export SLABFLOW_PROGRESS_SECONDS=0
# Quiet Open MPI's shared-memory warnings in containers.
export OMPI_MCA_btl_vader_single_copy_mechanism=none

# sf_mpirun NP CMD...: runs under mpirun with oversubscription, no binding.
sf_mpirun() {
  local np=$1; shift
  mpirun -np "$np" --oversubscribe --bind-to none "$@"
}

fail() { echo "FAIL: $*" >&2; exit 1; }
