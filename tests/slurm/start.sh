#!/usr/bin/env bash
# Starts a real one-node Slurm on this machine for the job-script tests (as root): munged,
# slurmctld and slurmd with their config, state, sockets, pids and logs in DIR, and waits
# until sinfo shows the node idle. Prints the SLURM_CONF to export. Stop it with stop.sh DIR.
#   tests/slurm/start.sh DIR [TIMEOUT_S]
# Recipe and facts: shared/notes/slurm-local.md. MpiDefault stays Debian's stock "none", as
# on most sites, so the job scripts must pick --mpi=pmix themselves.
set -euo pipefail
dir=${1:?usage: start.sh DIR [TIMEOUT_S]}
timeout_s=${2:-60}
[ "$(id -u)" = 0 ] || { echo "start.sh: the daemons run as root here; run as root" >&2; exit 2; }
for p in munged slurmctld slurmd sinfo sbatch; do
  command -v "$p" >/dev/null || { echo "start.sh: $p not found (apt-get install slurm-wlm munge)" >&2; exit 2; }
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -e "$dir/slurmctld.pid" ] || [ -e "$dir/slurmd.pid" ] || [ -e "$dir/munged.pid" ]; then
  echo "start.sh: $dir holds pid files of a running instance; stop.sh $dir first" >&2; exit 2
fi
rm -rf "$dir/state" "$dir/spool" "$dir/munge"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge" "$dir/log"
chmod 0755 "$dir" "$dir/log"
chmod 0700 "$dir/munge"

# munge: our own key, socket, pid and log, so a system munged (if any) is left alone.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$dir/munge/munge.key"
sock=$dir/munge/munge.socket
munged --force --key-file="$dir/munge/munge.key" --socket="$sock" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munge.seed"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
munge -S "$sock" -n | unmunge -S "$sock" | grep -q 'STATUS: *Success' \
  || { echo "start.sh: munge -n | unmunge failed" >&2; cat "$dir/log/munged.log" >&2; exit 1; }

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=sfci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${SF_SLURMCTLD_PORT:-16817}
SlurmdPort=${SF_SLURMD_PORT:-16818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF"
ok=0
for _ in $(seq $((timeout_s * 2))); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n1 || true)
  case "$state" in idle|mix|alloc) ok=1; break ;; esac
  sleep 0.5
done
if [ "$ok" != 1 ]; then
  echo "start.sh: the node is not idle after ${timeout_s} s (state '${state:-none}')" >&2
  sinfo -N -l >&2 || true
  exit 1
fi
echo "SLURM_CONF=$SLURM_CONF"
