#!/usr/bin/env bash
# Signals as a batch job gets them, through the job scripts' mpirun launcher (no Slurm
# needed): SIGTERM to the script alone (scancel --batch, or a --signal=B: warning), SIGTERM to
# the script's whole process group (the time limit), and SIGINT/SIGTERM to slabflow itself.
# Each ends with exit 5, no final output, and OUT.h5.partial kept with complete=0.
#   job_signal.sh DIR
source "$(dirname "$0")/common.sh"
dir=$1 src=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 400 --height 256 --width 256 --seed 9 >/dev/null
opts=(--method rigid --buffer-size 4 --reference-frames 0:3 --cc-up 400)
check() { # WHAT CODE
  [ "$2" -eq 5 ] || fail "$1: exit code $2, expected 5"
  [ ! -e "$dir/out.h5" ] || fail "$1: a final output was written"
  [ -e "$dir/out.h5.partial" ] || fail "$1: the partial output was not kept"
  [ "$("$SF_H5CHECK" attr "$dir/out.h5.partial" complete)" = 0 ] || fail "$1: complete is not 0"
  rm -f "$dir/out.h5.partial"
  echo "ok: $1 -> exit 5, partial kept"
}
started() { for _ in $(seq 200); do [ -e "$dir/out.h5.partial" ] && break; sleep 0.05; done; sleep 0.5; }
export SLABFLOW="$SLABFLOW" SLABFLOW_LAUNCHER=mpirun SLABFLOW_MPIRUN_ARGS="--oversubscribe --bind-to none"
for target in script group; do
  setsid bash "$src/jobs/register.sbatch" "$dir/in.h5" "$dir/out.h5" "${opts[@]}" > "$dir/job-$target.log" 2>&1 &
  pid=$!
  started
  if [ "$target" = script ]; then kill -TERM "$pid"; else kill -TERM -- "-$pid"; fi
  set +e; wait "$pid"; code=$?; set -e
  grep -q "interrupted by a signal" "$dir/job-$target.log" || { cat "$dir/job-$target.log" >&2; fail "$target: slabflow did not stop on the signal"; }
  check "SIGTERM to the job script's $target (mpirun launcher)" "$code"
done
for sig in INT TERM; do
  OMP_NUM_THREADS=1 "$SLABFLOW" register "$dir/in.h5" -o "$dir/out.h5" "${opts[@]}" > /dev/null 2>&1 &
  pid=$!
  started
  kill -"$sig" "$pid"
  set +e; wait "$pid"; code=$?; set -e
  check "SIG$sig to slabflow" "$code"
done
