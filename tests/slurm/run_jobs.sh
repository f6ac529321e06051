#!/usr/bin/env bash
# The job scripts under a real Slurm (started by tests/slurm/start.sh; SLURM_CONF set):
#   run_jobs.sh BUILD WORK jobs     every jobs/*.sbatch with the default srun launcher (which
#                                   must pick srun --mpi=pmix: the site's MpiDefault is none)
#                                   and with SLABFLOW_LAUNCHER=mpirun, each output
#                                   byte-identical to a direct `mpirun -np 2` run; and the
#                                   fallback to mpirun when srun lacks the plugin
#   run_jobs.sh BUILD WORK array    a job array over three recordings from a --list file
#                                   (outputs named from the inputs, comments and blank lines
#                                   skipped), each identical to a direct run; and --list's
#                                   refusals outside an array
#   run_jobs.sh BUILD WORK requeue  a register job requeued mid-run (scontrol requeue) that
#                                   restarts by itself, resumes from OUT.h5.partial and ends
#                                   identical to a direct run; exit 77 (skipped) when this
#                                   slabflow has no `register --resume`
# Exit 0 passed, 1 failed, 77 skipped. Small synthetic inputs: a few seconds per job.
set -euo pipefail
build=$(cd "${1:?usage: run_jobs.sh BUILD WORK jobs|array|requeue}" && pwd)
work=${2:?usage: run_jobs.sh BUILD WORK jobs|array|requeue}
what=${3:?usage: run_jobs.sh BUILD WORK jobs|array|requeue}
src=$(cd "$(dirname "$0")/../.." && pwd)
export SLABFLOW=$build/slabflow SF_H5CHECK=$build/tests/sf_h5check
source "$src/tests/mpi/common.sh"
: "${SLURM_CONF:?SLURM_CONF must name the slurm.conf of the test cluster (tests/slurm/start.sh)}"
export SLURM_CONF
# Jobs inherit this environment (sbatch --export=ALL): the binary, Open MPI's root
# permission, and no progress lines unless a test asks for them.
JOB_TIMEOUT=${SF_SLURM_JOB_TIMEOUT:-180}

rm -rf "$work" && mkdir -p "$work/logs"
cd "$work"

# submit NAME SBATCH_OPTION... -- SCRIPT ARGS...: submits with 2 tasks x 1 CPU on one node
# (the options may override that) and prints the job id.
submit() {
  local name=$1; shift
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  sbatch --parsable --job-name="sf-$name" --nodes=1 --ntasks=2 --ntasks-per-node=2 \
    --cpus-per-task=1 --time=10 --output="$work/logs/%x-%j.out" "${opts[@]}" "$@" | cut -d';' -f1
}

# job_states ID: the JobState of the job (every task of an array), one per line.
job_states() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

# wait_done ID...: waits until every job (and array task) has ended; fails unless each
# COMPLETED with exit code 0, printing its log.
wait_done() {
  local id s t0=$SECONDS busy
  for id in "$@"; do
    while :; do
      busy=0
      for s in $(job_states "$id"); do
        case "$s" in
          PENDING|CONFIGURING|RUNNING|COMPLETING|REQUEUED|REQUEUE_FED|REQUEUE_HOLD|RESIZING|SUSPENDED|SIGNALING|STAGE_OUT) busy=1 ;;
        esac
      done
      [ "$busy" = 1 ] || break
      if (( SECONDS - t0 > JOB_TIMEOUT )); then
        scontrol show job "$id" >&2 || true
        fail "job $id still not done after $JOB_TIMEOUT s"
      fi
      sleep 0.5
    done
    if scontrol -o show job "$id" | grep -v 'JobState=COMPLETED .*ExitCode=0:0' | grep -q .; then
      scontrol -o show job "$id" >&2
      cat "$work"/logs/*-"$id"*.out >&2 2>/dev/null || true
      fail "job $id did not complete with exit code 0"
    fi
  done
}

# same REF OUT: OUT is complete and holds REF's datasets, byte for byte.
same() {
  local ref=$1 out=$2 dsets
  [ -e "$out" ] || fail "$out was not written"
  [ "$("$SF_H5CHECK" attr "$out" complete)" = 1 ] || fail "$out: complete is not 1"
  mapfile -t dsets < <(h5ls -r "$ref" | awk '$2 == "Dataset" {print $1}')
  [ "${#dsets[@]}" -gt 0 ] || fail "$ref: no datasets found"
  local theirs
  theirs=$(h5ls -r "$out" | awk '$2 == "Dataset" {print $1}')
  [ "$(printf '%s\n' "${dsets[@]}")" = "$theirs" ] || fail "$out: datasets differ from $ref's: $theirs"
  "$SF_H5CHECK" same "$ref" "$out" "${dsets[@]}" >/dev/null || fail "$out differs from $ref"
  echo "ok: $out identical to $ref (${#dsets[@]} datasets: ${dsets[*]})"
}

# direct NP OUT COMMAND IN ARGS...: the same command under plain mpirun, one thread per rank.
direct() {
  local np=$1 out=$2 cmd=$3 in=$4; shift 4
  sf_mpirun "$np" "$SLABFLOW" "$cmd" "$in" -o "$out" --threads 1 "$@" >"$out.log" 2>&1 \
    || { cat "$out.log" >&2; fail "direct mpirun -np $np $cmd failed"; }
}

# log_of ID: the job's log file.
log_of() { ls "$work"/logs/*-"$1".out; }

# The site's MpiDefault as the jobs see it.
site_mpi=$(scontrol show config | awk '$1 == "MpiDefault" {print $3}')
srun_expect="srun --mpi=pmix"
[ "$site_mpi" = none ] || srun_expect="srun"
[ -z "${SLABFLOW_SRUN_MPI:-}" ] || srun_expect="srun --mpi=$SLABFLOW_SRUN_MPI"

case "$what" in
jobs)
  "$SLABFLOW" synth video -o vid.h5 --frames 48 --height 64 --width 64 --seed 3 >/dev/null
  "$SLABFLOW" synth volumes -o vols --cases 3 --size 48 48 24 >/dev/null
  "$SLABFLOW" synth detector -o det.h5 --frames 6 --size 256x240 --compression bslz4 --seed 7 >/dev/null
  "$SLABFLOW" synth eeg -o rec.edf --channels 4 --rate 1000 --seconds 20 --tr 1.5 --slices 15 --seed 4 >/dev/null
  declare -A in opts
  in[register]=vid.h5 opts[register]="--quality fast --buffer-size 8"
  in[slices]=vols opts[slices]="--window 1 --buffer-size 8"
  in[integrate]=det.h5 opts[integrate]="--poni det.poni --bins 200 --buffer-size 2"
  in[eeg]=rec.edf opts[eeg]=""
  cmds=(register slices integrate eeg)
  # every job script is tested here: a new one needs its input and options above
  have=$(cd "$src/jobs" && ls -- *.sbatch | sed 's/\.sbatch$//' | sort | tr '\n' ' ')
  [ "$have" = "$(printf '%s\n' "${cmds[@]}" | sort | tr '\n' ' ')" ] \
    || fail "jobs/ has the scripts '$have', this test covers '${cmds[*]}'"
  declare -A ids
  for c in "${cmds[@]}"; do
    read -r -a o <<< "${opts[$c]}"
    ids[$c.srun]=$(submit "$c-srun" -- "$src/jobs/$c.sbatch" "${in[$c]}" "$c-srun.h5" "${o[@]}")
    ids[$c.mpirun]=$(submit "$c-mpirun" --export=ALL,SLABFLOW_LAUNCHER=mpirun -- \
      "$src/jobs/$c.sbatch" "${in[$c]}" "$c-mpirun.h5" "${o[@]}")
  done
  # an srun without the plugin asked for: the script starts the ranks with mpirun instead
  read -r -a o <<< "${opts[register]}"
  ids[fallback]=$(submit register-fallback --export=ALL,SLABFLOW_SRUN_MPI=no_such_plugin -- \
    "$src/jobs/register.sbatch" vid.h5 register-fallback.h5 "${o[@]}")
  # the direct runs while the jobs queue up
  for c in "${cmds[@]}"; do
    read -r -a o <<< "${opts[$c]}"
    direct 2 "$c-ref.h5" "$c" "${in[$c]}" "${o[@]}"
  done
  for c in "${cmds[@]}"; do
    for l in srun mpirun; do
      id=${ids[$c.$l]}
      wait_done "$id"
      log=$(log_of "$id")
      want=$srun_expect
      [ "$l" = srun ] || want=mpirun
      grep -q "^launcher:  $want, 2 task(s) x 1 thread(s)" "$log" \
        || { cat "$log" >&2; fail "$c job $id ($l): the log does not say 'launcher:  $want'"; }
      grep -q "2 rank(s)" "$log" || { cat "$log" >&2; fail "$c job $id ($l): not 2 ranks in one MPI job"; }
      same "$c-ref.h5" "$c-$l.h5"
      echo "ok: $c under sbatch with $want (job $id)"
    done
  done
  id=${ids[fallback]}
  wait_done "$id"
  log=$(log_of "$id")
  grep -q "srun has no --mpi=no_such_plugin plugin" "$log" && grep -q "^launcher:  mpirun, 2 task(s)" "$log" \
    || { cat "$log" >&2; fail "register job $id: no fallback to mpirun without the srun plugin"; }
  same register-ref.h5 register-fallback.h5
  echo "ok: register under sbatch falls back to mpirun when srun lacks the MPI plugin (job $id)"
  ;;

array)
  mkdir -p arr
  for k in 1 2 3; do
    "$SLABFLOW" synth video -o "arr/rec$k.h5" --frames 32 --height 48 --width 48 --seed "$k" >/dev/null
  done
  cat > arr/list.txt <<EOF
# three recordings; the second names its output
arr/rec1.h5

arr/rec2.h5   arr/second.h5
arr/rec3.h5
EOF
  o=(--method rigid --buffer-size 8)
  # --list's refusals (no Slurm needed): outside an array, past the list's end
  code=0; bash "$src/jobs/register.sbatch" --list arr/list.txt "${o[@]}" >/dev/null 2>err.txt || code=$?
  [ "$code" = 2 ] && grep -q 'needs a job array' err.txt || { cat err.txt >&2; fail "--list outside an array: exit $code"; }
  code=0; SLURM_ARRAY_TASK_ID=4 bash "$src/jobs/register.sbatch" --list arr/list.txt >/dev/null 2>err.txt || code=$?
  [ "$code" = 2 ] && grep -q 'has no entry 4 .*3 entries' err.txt || { cat err.txt >&2; fail "--list past its end: exit $code"; }
  echo "ok: --list outside an array and past the list's end: exit 2"
  n=$(grep -Evc '^[[:space:]]*(#|$)' arr/list.txt)
  [ "$n" = 3 ] || fail "the list has $n entries, not 3"
  # one task per array element, one rank each, so that two run at once on two cores
  id=$(submit array --array=1-"$n" --ntasks=1 --ntasks-per-node=1 --output="$work/logs/%x-%A_%a.out" \
       -- "$src/jobs/register.sbatch" --list arr/list.txt "${o[@]}")
  for k in 1 2 3; do direct 1 "arr/ref$k.h5" register "arr/rec$k.h5" "${o[@]}"; done
  wait_done "$id"
  [ "$(job_states "$id" | grep -c COMPLETED)" = 3 ] || fail "array job $id: not 3 completed tasks"
  same arr/ref1.h5 arr/rec1_registered.h5
  same arr/ref2.h5 arr/second.h5
  same arr/ref3.h5 arr/rec3_registered.h5
  for k in 1 2 3; do
    grep -q "^array task $k of job $id: entry $k of arr/list.txt" "$work/logs/sf-array-${id}_$k.out" \
      || fail "array task $k's log does not name its entry"
  done
  echo "ok: job array $id over 3 recordings"
  ;;

requeue)
  have_resume=1
  "$SLABFLOW" register --help 2>&1 | grep -q -- '--resume' || have_resume=0
  # about 6 s of flow on 2 ranks, segments of 8 frames
  "$SLABFLOW" synth video -o long.h5 --frames 400 --height 192 --width 192 --seed 9 >/dev/null
  o=(--quality quality --iterations 100 --buffer-size 8 --reference-frames 0:3)
  id=$(submit requeue --open-mode=append --export=ALL,SLABFLOW_PROGRESS_SECONDS=1 \
       -- "$src/jobs/register.sbatch" long.h5 long-out.h5 "${o[@]}")
  log=$work/logs/sf-requeue-$id.out
  # wait until the job runs and rank 0 reports registered frames
  t0=$SECONDS
  until [ -e "$log" ] && grep -Eq '^slabflow: register: [1-9][0-9]*/400 frames' "$log"; do
    (( SECONDS - t0 < JOB_TIMEOUT )) || { cat "$log" >&2 || true; fail "job $id never reported progress"; }
    job_states "$id" | grep -Eq 'PENDING|CONFIGURING|RUNNING' || { cat "$log" >&2 || true; fail "job $id ended before its requeue"; }
    sleep 0.2
  done
  scontrol requeue "$id"
  echo "requeued job $id at $(grep -E '^slabflow: register: ' "$log" | tail -n1)"
  # Slurm makes a requeued job eligible only 120 s later (its BeginTime); no need to wait
  # for that here: once it is pending again, let it start now.
  t0=$SECONDS
  until job_states "$id" | grep -q PENDING; do
    (( SECONDS - t0 < 60 )) || fail "job $id did not go back to pending after scontrol requeue"
    sleep 0.2
  done
  scontrol update JobId="$id" StartTime=now
  direct 2 long-ref.h5 register long.h5 "${o[@]}"
  wait_done "$id"
  scontrol -o show job "$id" | grep -q 'Restarts=1' || fail "job $id: Restarts is not 1"
  [ "$(grep -c '^==== slabflow register job' "$log")" = 2 ] || { cat "$log" >&2; fail "job $id did not run twice"; }
  grep -q 'exit status 5' "$log" || { cat "$log" >&2; fail "job $id's first run did not stop with exit 5"; }
  grep -q "^resume:    long-out.h5.partial found" "$log" || { cat "$log" >&2; fail "job $id's restart found no partial output"; }
  same long-ref.h5 long-out.h5
  if [ "$have_resume" = 1 ]; then
    grep -q '^command: .* --resume' "$log" || { cat "$log" >&2; fail "job $id's restart did not pass --resume"; }
    grep -Eq '^slabflow: register: resuming long-out.h5.partial: [1-9][0-9]* of [0-9]+ segments already done' "$log" \
      || { cat "$log" >&2; fail "job $id's restart did not keep the segments done before the requeue"; }
    echo "ok: job $id requeued mid-run, resumed with --resume and ended identical"
  else
    echo "SKIP: job $id was requeued mid-run, restarted by itself and ended identical, but it" \
         "started over: this slabflow has no 'register --resume' yet, so resuming is untested"
    exit 77
  fi
  ;;
*) fail "unknown test '$what' (jobs, array or requeue)" ;;
esac
