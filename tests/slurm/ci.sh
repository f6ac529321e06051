#!/usr/bin/env bash
# CI step: starts a one-node Slurm in WORK/slurm (tests/slurm/start.sh), runs the job-script
# tests of tests/slurm/run_jobs.sh against BUILD's slabflow, prints the daemons' logs when one
# fails, and always stops the daemons by their pids (stop.sh). As root.
#   tests/slurm/ci.sh BUILD WORK [TEST...]      TEST: jobs array requeue (default: all three)
# Exit 0 when every test passed or was skipped (exit 77, reported), 1 otherwise.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: ci.sh BUILD WORK [TEST...]}
work=${2:?usage: ci.sh BUILD WORK [TEST...]}
shift 2
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(jobs array requeue)
mkdir -p "$work"
work=$(cd "$work" && pwd)
failed=0
cleanup() {
  if [ "$failed" != 0 ]; then bash "$here/stop.sh" "$work/slurm" --logs; else bash "$here/stop.sh" "$work/slurm"; fi
}
trap cleanup EXIT
trap 'failed=1; exit 1' INT TERM
t0=$SECONDS
if ! out=$(bash "$here/start.sh" "$work/slurm" 60); then
  failed=1
  echo "slurm: the test cluster did not start" >&2
  exit 1
fi
export "$out" # SLURM_CONF=...
echo "slurm: $(sinfo -h -N -o '%N %t %c CPUs') up in $((SECONDS - t0)) s; MpiDefault=$(scontrol show config | awk '$1 == "MpiDefault" {print $3}'); srun --mpi=list: $(srun --mpi=list 2>&1 | awk 'NR > 1 {printf "%s ", $NF}')"
summary=()
for t in "${tests[@]}"; do
  t1=$SECONDS
  bash "$here/run_jobs.sh" "$build" "$work/$t" "$t"
  code=$?
  case $code in
    0) summary+=("PASS $t ($((SECONDS - t1)) s)") ;;
    77) summary+=("SKIP $t ($((SECONDS - t1)) s)") ;;
    *) summary+=("FAIL $t ($((SECONDS - t1)) s)"); failed=1 ;;
  esac
done
printf 'slurm: %s\n' "${summary[@]}"
echo "slurm: $((SECONDS - t0)) s in all"
exit "$failed"
