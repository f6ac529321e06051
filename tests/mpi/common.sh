# Shared by the integration tests: paths, an mpirun that works as root in containers, and
# small assertions. Sourced; expects SLABFLOW and SF_H5CHECK in the environment.
set -euo pipefail
: "${SLABFLOW:?SLABFLOW must point at the slabflow binary}"
: "${SF_H5CHECK:?SF_H5CHECK must point at the sf_h5check helper}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export SLABFLOW_PROGRESS_SECONDS=0
# hwloc's OpenCL plugin may load an OpenCL runtime (pocl) into mpirun that takes SIGUSR1,
# which mpirun then no longer forwards (see jobs/register.sbatch)
export HWLOC_COMPONENTS=${HWLOC_COMPONENTS:--opencl}
# Quiet Open MPI's shared-memory warnings in containers.
export OMPI_MCA_btl_vader_single_copy_mechanism=none

# sf_mpirun NP CMD...: runs under mpirun with oversubscription, no binding.
sf_mpirun() {
  local np=$1; shift
  mpirun -np "$np" --oversubscribe --bind-to none "$@"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# sf_check_failed_run CASE CODE WANT_CODE WANT_MSG STDERR OUT: the outcome every bad-input run
# must have: not hung (timeout's 124), the expected exit code, exactly one
# `slabflow: error: rank R: ...` line matching WANT_MSG, and no OUT.partial or OUT.lock left
# behind.
sf_check_failed_run() {
  local case_=$1 code=$2 want_code=$3 want_msg=$4 err=$5 out=$6 n
  [ "$code" -ne 124 ] || fail "$case_: timed out (a rank hung)"
  [ "$code" -eq "$want_code" ] || fail "$case_: exit code $code, expected $want_code"
  n=$(grep -c '^slabflow: error:' "$err" || true)
  [ "$n" -eq 1 ] || fail "$case_: expected exactly one error line, found $n"
  grep -Eq "^slabflow: error: rank [0-9]+: .*$want_msg" "$err" || fail "$case_: message does not match /$want_msg/"
  [ ! -e "$out.partial" ] || fail "$case_: $out.partial left behind"
  [ ! -e "$out.lock" ] || fail "$case_: $out.lock left behind"
}

# sf_snapshot DIR: every file and symbolic link under DIR but a run's own output (out.h5,
# out.h5.*) and logs (stderr, stdout, *.log), one line each: a file with its md5, a link with
# its target. Taken before and after a run to show that no input changed.
sf_snapshot() {
  find "$1" \( -type f -o -type l \) ! -name 'out.h5' ! -name 'out.h5.*' ! -name stderr \
    ! -name stdout ! -name '*.log' -exec sh -c \
    'for f; do if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f $(md5sum < "$f")"; fi; done' \
    _ {} + | sort
}
