#!/usr/bin/env bash
# Resumable jobs (issue 15): a rank killed with SIGKILL at a crash point (SLABFLOW_TEST_KILL,
# src/mpi/kill_point.h) leaves OUT.h5.partial that HDF5 opens, with complete = 0 and every
# segment marked done holding its final bytes; `--resume` on another rank and thread count
# ends byte-identical to an uninterrupted run; a resume with another option or a changed
# input is refused (exit 2, one message) and leaves the partial as it was.
# Usage: resume.sh COMMAND DIR   (COMMAND: register, register-rigid, slices, integrate, eeg)
source "$(dirname "$0")/common.sh"
cmd=$1
dir=$2
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
case "$cmd" in
register)
  "$SLABFLOW" synth video -o in.h5 --frames 40 --height 64 --width 72 --seed 3 --motion nonrigid --max-shift 3 \
    --noise-db 25 >/dev/null
  run=(register in.h5 --method flow --quality fast --buffer-size 4 --reference-frames 2:21 --save-flow)
  dsets=(/registered /flow /reference /stats/mean_disp /stats/max_disp)
  seg=4 rows=/registered
  # the reference passes (no output yet), mid-sweep, the last segment's mark, completion
  points=("reduce:3:1" "commit:4:1" "mark:3:0" "finish:1:0")
  other=(--quality balanced)
  kept="the steps from reference pass 1 to reference pass 2 kept by the interrupted run" ;;
register-rigid)
  "$SLABFLOW" synth video -o in.h5 --frames 40 --height 64 --width 72 --seed 4 --max-shift 5 --noise-db 25 >/dev/null
  run=(register in.h5 --method rigid --buffer-size 4 --reference-frames 2:21)
  dsets=(/registered /shifts /reference)
  seg=4 rows=/registered
  points=("commit:2:0" "keep:1:0" "mark:2:1")
  other=(--cc-up 7)
  kept="the steps from reference sums to reference kept by the interrupted run" ;;
slices)
  sf_mpirun 2 "$SLABFLOW" synth volumes -o vol --cases 3 --size 40 36 24 --seed 5 >/dev/null
  run=(slices vol --window 2 --clip-percentiles 0.5 99.5 --split 0.5,0.25,0.25 --seed 3 --buffer-size 5)
  dsets=()
  seg=0 rows=
  # during the statistics passes (no output yet), once they are kept, mid-sweep, at a mark
  points=("commit:2:1" "keep:1:0" "mark:2:1" "mark:1:0")
  other=(--window 1)
  kept="the steps from statistics to moments kept by the interrupted run" ;;
integrate)
  "$SLABFLOW" synth detector -o det.h5 --frames 24 --size 128x120 --compression bslz4 --seed 9 --tilt >/dev/null
  run=(integrate det.h5 --poni det.poni --bins 300 --buffer-size 3 --error-model azimuthal)
  dsets=(/I /sigma /radial /count)
  seg=3 rows=/I
  points=("keep:1:0" "mark:2:0" "commit:3:1")
  other=(--bins 301)
  kept="the step integration table kept by the interrupted run" ;;
eeg)
  "$SLABFLOW" synth eeg -o rec.edf --channels 9 --rate 2048 --seconds 30 --jitter --seed 4 >/dev/null
  run=(eeg rec.edf)
  dsets=(/corrected /metrics/snr /metrics/rms_ratio /metrics/rms_residual /metrics/median_p2p /triggers
         /triggers_aligned /channels)
  seg=1 rows=/corrected
  # during the run-once alignment (no output yet), once it is kept, mid-sweep, at the last
  # channel's mark
  points=("once:2:0" "keep:1:0" "mark:2:1" "mark:2:2")
  other=(--aas-window 25)
  kept="the step alignment kept by the interrupted run" ;;
*) fail "unknown command $cmd" ;;
esac

same() { # same REF OUT: the datasets, or (slices) every group's data and attributes
  if [ ${#dsets[@]} -gt 0 ]; then
    "$SF_H5CHECK" same "$1" "$2" "${dsets[@]}" >/dev/null || { "$SF_H5CHECK" same "$1" "$2" "${dsets[@]}"; return 1; }
  else
    for o in /train /val /test /index /cases; do
      h5ls "$1$o" >/dev/null 2>&1 || continue
      h5diff -q "$1" "$2" "$o" || { echo "differs: $o"; return 1; }
    done
  fi
}

OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" "${run[@]}" -o ref.h5 --threads 1 >/dev/null
np_kill=3
np_res=(1 2 1 2)
t_res=(2 1 1 2)
i=0
for p in "${points[@]}"; do
  rm -f out.h5 out.h5.partial
  code=0
  SLABFLOW_TEST_KILL=$p OMP_NUM_THREADS=1 timeout 300 mpirun -np $np_kill --oversubscribe --bind-to none \
    "$SLABFLOW" "${run[@]}" -o out.h5 --threads 1 >kill.log 2>&1 || code=$?
  [ "$code" -ne 124 ] || fail "$cmd $p: the killed run hung"
  [ "$code" -ne 0 ] || fail "$cmd $p: the run was not killed"
  grep -q "killed at" kill.log || fail "$cmd $p: the crash point was not reached"
  [ ! -e out.h5 ] || fail "$cmd $p: a killed run left out.h5"
  if [ -e out.h5.partial ]; then
    # it opens, it is not complete, and its done segments hold their final bytes
    c=$("$SF_H5CHECK" attr out.h5.partial complete) || fail "$cmd $p: the partial does not open"
    [ "$c" = 0 ] || fail "$cmd $p: the partial says complete=$c"
    if [ -n "$rows" ]; then
      "$SF_H5CHECK" done-rows ref.h5 out.h5.partial "$rows" "$seg" || fail "$cmd $p: a segment marked done differs"
    fi
    cp out.h5.partial partial.copy
    rm -f once.copy
    [ ! -e out.h5.once ] || cp out.h5.once once.copy
    # another option: refused, the partial untouched
    code=0
    OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" "${run[@]}" "${other[@]}" -o out.h5 --resume >other.log 2>&1 || code=$?
    [ "$code" -eq 2 ] || { cat other.log; fail "$cmd $p: a resume with other options exited $code, expected 2"; }
    [ "$(grep -c '^slabflow: error:' other.log)" -eq 1 ] || fail "$cmd $p: not one error line"
    grep -q "cannot be resumed" other.log || fail "$cmd $p: the refusal does not say why"
    cmp -s out.h5.partial partial.copy || fail "$cmd $p: a refused resume changed the partial"
    [ ! -e once.copy ] || cmp -s out.h5.once once.copy || fail "$cmd $p: a refused resume changed the journal"
  else
    echo "$cmd $p: killed before the output existed: the resume starts afresh"
  fi
  OMP_NUM_THREADS=${t_res[$i]} sf_mpirun "${np_res[$i]}" "$SLABFLOW" "${run[@]}" -o out.h5 --resume \
    --threads "${t_res[$i]}" >resume.log 2>&1 || { cat resume.log; fail "$cmd $p: the resume failed"; }
  [ ! -e out.h5.partial ] || fail "$cmd $p: the partial is still there"
  [ ! -e out.h5.once ] || fail "$cmd $p: the journal of run-once results is still there"
  # the run-once results the killed run kept are reused, not computed again
  if { [ -e partial.copy ] || [[ $p == keep:* ]]; } && [ -n "${kept:-}" ]; then
    grep -q "$kept" resume.log || { cat resume.log; fail "$cmd $p: the run-once results were computed again"; }
  fi
  rm -f partial.copy
  same ref.h5 out.h5 || fail "$cmd $p: resumed at np ${np_res[$i]} x ${t_res[$i]} threads, the output differs"
  echo "$cmd $p: resumed at np ${np_res[$i]} x ${t_res[$i]} threads: identical ($(grep -o 'resuming.*' resume.log | head -1))"
  i=$((i + 1))
done
# the journal of run-once results damaged, or written for another run: a note, the results
# computed again, the same output
if [ "$cmd" = slices ] || [ "$cmd" = eeg ] || [ "$cmd" = integrate ]; then
  for fault in damaged other-run truncated; do
    rm -f out.h5 out.h5.partial out.h5.once
    SLABFLOW_TEST_KILL=mark:1:0 OMP_NUM_THREADS=1 timeout 300 mpirun -np 2 --oversubscribe --bind-to none \
      "$SLABFLOW" "${run[@]}" -o out.h5 --threads 1 >/dev/null 2>&1 || true
    [ -e out.h5.once ] || fail "journal $fault: the killed run left no out.h5.once"
    size=$(stat -c %s out.h5.once)
    case $fault in
    damaged) printf '\x5a' | dd of=out.h5.once bs=1 seek=$((size - 12)) conv=notrunc status=none
      note="is damaged after 0 record" ;;
    other-run) printf 'X' | dd of=out.h5.once bs=1 seek=30 conv=notrunc status=none
      note="was written for another input or other options" ;;
    truncated) truncate -s $((size - 5)) out.h5.once
      note="is damaged after 0 record" ;;
    esac
    OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" "${run[@]}" -o out.h5 --resume --threads 1 >journal.log 2>&1 ||
      { cat journal.log; fail "journal $fault: the resume failed"; }
    grep -q "$note" journal.log || { cat journal.log; fail "journal $fault: no note"; }
    ! grep -q "$kept" journal.log || fail "journal $fault: a damaged record was used"
    same ref.h5 out.h5 || fail "journal $fault: the output differs"
    echo "$cmd: journal $fault: noted ($(grep -o 'once .*' journal.log | head -1)), computed again, identical"
  done
  # a run without --resume removes a stale journal with the stale partial
  rm -f out.h5 out.h5.partial out.h5.once
  SLABFLOW_TEST_KILL=mark:1:0 OMP_NUM_THREADS=1 timeout 300 mpirun -np 2 --oversubscribe --bind-to none \
    "$SLABFLOW" "${run[@]}" -o out.h5 --threads 1 >/dev/null 2>&1 || true
  [ -e out.h5.once ] || fail "no journal for the stale-journal case"
  OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" "${run[@]}" -o out.h5 --threads 1 >fresh.log 2>&1 || fail "fresh run failed"
  ! grep -q "kept by the interrupted run" fresh.log || fail "a run without --resume used the journal"
  [ ! -e out.h5.once ] || fail "a run without --resume left the journal"
fi
# the input changed since: refused
if [ "$cmd" = eeg ]; then
  rm -f out.h5 out.h5.partial
  SLABFLOW_TEST_KILL=mark:2:0 OMP_NUM_THREADS=1 timeout 300 mpirun -np 2 --oversubscribe --bind-to none \
    "$SLABFLOW" "${run[@]}" -o out.h5 --threads 1 >/dev/null 2>&1 || true
  [ -e out.h5.partial ] || fail "no partial for the changed-input case"
  touch -d '2001-01-01' rec.edf
  code=0
  sf_mpirun 2 "$SLABFLOW" "${run[@]}" -o out.h5 --resume >changed.log 2>&1 || code=$?
  [ "$code" -eq 2 ] && grep -q "cannot be resumed: it was made from another input" changed.log ||
    { cat changed.log; fail "a changed input was not refused"; }
  # a partial truncated by a crash of the disk: refused with a clear message
  truncate -s 2000 out.h5.partial
  code=0
  sf_mpirun 2 "$SLABFLOW" "${run[@]}" -o out.h5 --resume >trunc.log 2>&1 || code=$?
  [ "$code" -eq 2 ] && grep -q "cannot be resumed: not a readable HDF5 file" trunc.log ||
    { cat trunc.log; fail "a truncated partial was not refused"; }
  # without --resume a stale partial is replaced
  sf_mpirun 2 "$SLABFLOW" "${run[@]}" -o out.h5 >/dev/null 2>&1 || fail "a fresh run over a stale partial failed"
  # SIGTERM as Slurm sends it (scancel, the time limit) to mpirun, which passes it on: every
  # rank stops at the next batch within seconds ("interrupted", exit 5 from slabflow; mpirun
  # itself reports 1 for a terminated job), leaving a partial a resume on one rank finishes
  # identically
  "$SLABFLOW" synth eeg -o big.edf --channels 64 --rate 2048 --seconds 120 --seed 6 >/dev/null
  OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" eeg big.edf -o bigref.h5 --threads 1 >/dev/null
  rm -f out.h5 out.h5.partial
  setsid mpirun -np 2 --oversubscribe --bind-to none "$SLABFLOW" eeg big.edf -o out.h5 --threads 1 >term.log 2>&1 &
  pid=$!
  # the partial appears once the run-once steps are done: the channels (about 2 s of work at
  # the least) are still ahead when the signal comes
  for _ in $(seq 1000); do [ -e out.h5.partial ] && break; sleep 0.02; done
  t0=$(date +%s)
  kill -TERM "$pid"
  set +e; wait "$pid"; code=$?; set -e
  [ "$code" -ne 0 ] && grep -q "interrupted by a signal" term.log || { cat term.log; fail "SIGTERM: exit $code, not stopped by the signal"; }
  [ $(( $(date +%s) - t0 )) -le 10 ] || fail "SIGTERM: took more than 10 s to stop"
  [ "$("$SF_H5CHECK" attr out.h5.partial complete)" = 0 ] || fail "SIGTERM: the partial is not resumable"
  OMP_NUM_THREADS=2 sf_mpirun 1 "$SLABFLOW" eeg big.edf -o out.h5 --threads 2 --resume >resume.log 2>&1 ||
    { cat resume.log; fail "SIGTERM: the resume failed"; }
  "$SF_H5CHECK" same bigref.h5 out.h5 /corrected /metrics/snr /triggers_aligned >/dev/null ||
    fail "SIGTERM: the resumed output differs"
  echo "eeg SIGTERM to mpirun: stopped ($(grep -o 'stopping after.*' term.log)), resumed at np 1: identical ($(grep -o 'resuming.*' resume.log))"
fi
echo "resume $cmd: ok"
