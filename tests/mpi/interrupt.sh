#!/usr/bin/env bash
# A signal stops the job at the next batch boundary: exit code 5, no final output, and
# OUT.h5.partial kept with complete=0 and the finished segments marked in /slabflow/done.
# SIGINT and SIGTERM to a single process; SIGUSR1 to mpirun, which forwards it to every rank;
# and as a batch job gets them, through the job scripts' mpirun launcher (no Slurm needed):
# SIGTERM to the script alone (scancel --batch, or a --signal=B: warning) and to the
# script's whole process group (the time limit).
source "$(dirname "$0")/common.sh"
dir=$1 src=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 400 --height 256 --width 256 --seed 9 >/dev/null
# A large --cc-up makes every frame slow enough to be caught in the middle of the run.
opts=(--method rigid --buffer-size 4 --reference-frames 0:3 --threads 1 --cc-up 400)
# signal_and_check WHAT SIG TARGET LAUNCH...: starts LAUNCH in its own process group, sends
# SIG to it (TARGET pid) or to its whole group (TARGET group) once the output exists, and
# checks the outcome, slabflow's "interrupted" line in its log included.
signal_and_check() {
  local what=$1 sig=$2 target=$3 code; shift 3
  setsid "$@" > "$dir/run.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do [ -e "$dir/out.h5.partial" ] && break; sleep 0.05; done
  sleep 0.5
  if [ "$target" = group ]; then kill -"$sig" -- "-$pid"; else kill -"$sig" "$pid"; fi
  set +e; wait "$pid"; code=$?; set -e
  grep -q "interrupted by a signal" "$dir/run.log" || { cat "$dir/run.log" >&2; fail "$what: slabflow did not stop on the signal"; }
  [ "$code" -eq 5 ] || { cat "$dir/run.log" >&2; fail "$what: exit code $code, expected 5"; }
  [ ! -e "$dir/out.h5" ] || fail "$what: a final output was written"
  [ -e "$dir/out.h5.partial" ] || fail "$what: the partial output was not kept"
  [ "$("$SF_H5CHECK" attr "$dir/out.h5.partial" complete)" = 0 ] || fail "$what: complete is not 0"
  rm -f "$dir/out.h5.partial"
  echo "ok: $what -> exit 5, partial kept"
}
reg=("$SLABFLOW" register "$dir/in.h5" -o "$dir/out.h5" "${opts[@]}")
signal_and_check "SIGTERM to slabflow" TERM pid "${reg[@]}"
signal_and_check "SIGINT to slabflow" INT pid "${reg[@]}"
signal_and_check "SIGUSR1 to mpirun" USR1 pid mpirun -np 2 --oversubscribe --bind-to none "${reg[@]}"
export SLABFLOW SLABFLOW_LAUNCHER=mpirun SLABFLOW_MPIRUN_ARGS="--oversubscribe --bind-to none"
job=(bash "$src/jobs/register.sbatch" "$dir/in.h5" "$dir/out.h5" "${opts[@]}")
signal_and_check "SIGTERM to the job script (mpirun launcher)" TERM pid "${job[@]}"
signal_and_check "SIGTERM to the job script's process group (mpirun launcher)" TERM group "${job[@]}"
