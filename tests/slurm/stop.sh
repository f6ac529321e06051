#!/usr/bin/env bash
# Stops what start.sh DIR started, by the pids in DIR's pid files: slurmd, slurmctld, then
# munged (SIGTERM, SIGKILL after 10 s). Prints the daemons' logs first when asked to (--logs).
#   tests/slurm/stop.sh DIR [--logs]
set -uo pipefail
dir=${1:?usage: stop.sh DIR [--logs]}
if [ "${2:-}" = --logs ]; then
  for l in slurmctld slurmd munged; do
    [ -e "$dir/log/$l.log" ] || continue
    echo "---- $dir/log/$l.log (last 60 lines) ----" >&2
    tail -n 60 "$dir/log/$l.log" >&2
  done
fi
for d in slurmd slurmctld munged; do
  f=$dir/$d.pid
  [ -s "$f" ] || { rm -f "$f"; continue; }
  pid=$(cat "$f")
  # only a process that is this daemon: a stale pid file must not kill anything else
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$d" ]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop.sh: $d (pid $pid) still running after 10 s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$f"
done
exit 0
