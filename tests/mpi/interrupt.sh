#!/usr/bin/env bash
# A signal stops the job at the next batch boundary: exit code 5, no final output, and
# OUT.h5.partial kept with complete=0 and the finished segments marked in /slabflow/done.
# SIGTERM to a single process; SIGUSR1 to mpirun, which forwards it to every rank.
source "$(dirname "$0")/common.sh"
dir=$1
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 400 --height 256 --width 256 --seed 9 >/dev/null
run_and_signal() { # SIG LAUNCH...
  local sig=$1; shift
  "$@" & local pid=$!
  for _ in $(seq 100); do sleep 0.1; [ -e "$dir/out.h5.partial" ] && break; done
  sleep 0.5
  kill -"$sig" "$pid"
  set +e; wait "$pid"; local code=$?; set -e
  [ "$code" -eq 5 ] || fail "$sig: exit code $code, expected 5"
  [ ! -e "$dir/out.h5" ] || fail "$sig: a final output was written"
  [ -e "$dir/out.h5.partial" ] || fail "$sig: the partial output was not kept"
  [ "$("$SF_H5CHECK" attr "$dir/out.h5.partial" complete)" = 0 ] || fail "$sig: complete is not 0"
  rm -f "$dir/out.h5.partial"
  echo "ok: $sig -> exit 5, partial kept"
}
# A large --cc-up makes every frame slow enough to be caught in the middle of the run.
opts=(register "$dir/in.h5" -o "$dir/out.h5" --method rigid --buffer-size 4 --reference-frames 0:3 --threads 1 --cc-up 400)
run_and_signal TERM "$SLABFLOW" "${opts[@]}"
run_and_signal USR1 mpirun -np 2 --oversubscribe --bind-to none "$SLABFLOW" "${opts[@]}"
