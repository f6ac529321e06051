#!/usr/bin/env bash
# SF_MPI: every rank reports its failed MPI call (call, file:line, MPI's message) in the error
# format, and the job ends with exit code 3 and no hang.
#   mpi_check.sh TEST_MPI_CHECK NP
source "$(dirname "$0")/common.sh"
prog=$1 np=${2:-2}
set +e
err=$(timeout 60 mpirun -np "$np" --oversubscribe --bind-to none "$prog" 2>&1 >/dev/null)
code=$?
set -e
echo "$err"
[[ $code == 3 ]] || { echo "FAIL: exit code $code, want 3"; exit 1; }
n=$(grep -cE '^slabflow: error: rank [0-9]+: MPI_Bcast failed at test_mpi_check\.c:[0-9]+: .*count' <<<"$err")
[[ $n -ge 1 ]] || { echo "FAIL: no SF_MPI report"; exit 1; }
echo OK
