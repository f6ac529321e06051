#!/usr/bin/env bash
# HDF5 inputs whose values live elsewhere than in a plain dataset, for `register` and
# `slices`. Valid ones (a user block, a virtual dataset, external raw storage, chunks never
# written) must run and give the same datasets as the data stored plainly; defective ones (a
# raw file shorter than the dataset, a missing or short virtual source, a file truncated
# while the job runs) must fail the way every bad input does: no hang, the documented exit
# code, exactly one `slabflow: error:` line naming the file, no output, no OUT.partial, no
# complete=1 anywhere; and no input file may change.
#   bad_h5input.sh CASE DIR [NP] [register|slices]
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$2 np=${3:-2} cmd=${4:-register}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$dir" && mkdir -p "$dir/out"
dir=$(cd "$dir" && pwd)
gen() { /usr/bin/python3 "$here/h5input_data.py" "$@"; }

# run WHERE OUT [ARGS...]: slabflow on WHERE/vol.h5 from inside WHERE (relative raw and
# source file names resolve there, as HDF5 resolves them), stderr to $dir/stderr.
run() {
  local where=$1 out=$2; shift 2
  local args=(register vol.h5 -o "$out" --method rigid)
  [ "$cmd" = slices ] && args=(slices vol.h5:/data -o "$out" --buffer-size 5)
  (cd "$where" && OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
    "$SLABFLOW" "${args[@]}" "$@") 2> "$dir/stderr" > "$dir/stdout"
}
inputs() { find "$dir/plain" "$dir/case" -type f -exec md5sum {} + 2>/dev/null | sort || true; }
no_complete() { # no file anywhere under $dir claims to be a finished result
  local f
  for f in $(find "$dir" -type f); do
    [ "$("$SF_H5CHECK" attr "$f" complete 2>/dev/null)" != 1 ] || fail "$case_: $f has complete=1"
  done
}

want_code=0 want_msg=""
case "$case_" in
  userblock | vds | external | fill) ;;
  external-short) want_code=2; want_msg="vol.h5:/data: external raw data file vol.raw is shorter than the dataset" ;;
  ref-vds-missing) want_code=2; want_msg="vol.h5:/data: source file src1.h5 of the virtual dataset is missing" ;;
  vds-missing)    want_code=2; want_msg="vol.h5:/data: source file src1.h5 of the virtual dataset is missing" ;;
  vds-short)      want_code=2; want_msg="vol.h5:/data: source src1.h5:part of the virtual dataset is 10x48x56, smaller than the 14x48x56" ;;
  truncated-running)
    want_code=3
    want_msg="vol.h5:/data: the file shrank from [0-9]+ to [0-9]+ bytes while frames [0-9]+-[0-9]+ were read .*frames [0-9]+-599 lie past its new end"
    [ "$cmd" = slices ] && want_msg="vol.h5(:/data)?: (.*vol.h5 shrank from [0-9]+ to [0-9]+ bytes while the job ran .*voxels|not a readable HDF5 file .*truncated)" ;;
  *) fail "unknown case $case_" ;;
esac

if [ "$case_" = truncated-running ]; then
  # A long contiguous recording, slowed down per frame (as interrupt.sh does), cut to 40% of
  # its size once the job is under way: the batch read after the cut must notice.
  mkdir -p "$dir/case"
  "$SLABFLOW" synth video -o "$dir/synth.h5" --frames 600 --height 128 --width 128 --seed 9 >/dev/null
  gen long "$dir/case/vol.h5" "$dir/synth.h5"
  rm -f "$dir/synth.h5"
  size=$(stat -c %s "$dir/case/vol.h5")
  out="$dir/out/result.h5"
  if [ "$cmd" = slices ]; then
    # slices is fast: its ranks are stopped (SIGSTOP) once the output exists, the file is
    # cut, and they go on (the output pass reads every slab again).
    run "$dir/case" "$out" --axis 0 --buffer-size 8 &
    pid=$!
    for _ in $(seq 600); do [ -e "$out.partial" ] && break; sleep 0.01; done
    pkill -STOP -f "$SLABFLOW slices" || true
    kill -0 "$pid" 2>/dev/null || fail "$case_: the job ended before the file was cut"
    truncate -s $((size * 4 / 10)) "$dir/case/vol.h5"
    pkill -CONT -f "$SLABFLOW slices" || true
  else
    run "$dir/case" "$out" --buffer-size 4 --reference-frames 0:3 --threads 1 --cc-up 1000 &
    pid=$!
    for _ in $(seq 300); do sleep 0.1; [ -e "$out.partial" ] && break; done
    sleep 0.5
    kill -0 "$pid" 2>/dev/null || fail "$case_: the job ended before the file was cut; make it slower"
    truncate -s $((size * 4 / 10)) "$dir/case/vol.h5"
  fi
  before=$(inputs)
  set +e; wait "$pid"; code=$?; set -e
  cat "$dir/stderr" >&2
elif [ "$case_" = ref-vds-missing ]; then
  # a good video, and a reference file whose virtual source is missing
  gen make vds-missing "$dir"
  before=$(inputs)
  out="$dir/out/result.h5"
  set +e; run "$dir/plain" "$out" --reference-file "$dir/case/vol.h5:/data"; code=$?; set -e
  cat "$dir/stderr" >&2
else
  gen make "$case_" "$dir"
  before=$(inputs)
  if [ "$want_code" -eq 0 ]; then
    run "$dir/plain" "$dir/out/plain.h5" || { cat "$dir/stderr" >&2; fail "$case_: the plain input failed"; }
  fi
  out="$dir/out/result.h5"
  set +e; run "$dir/case" "$out"; code=$?; set -e
  cat "$dir/stderr" >&2
fi

if [ "$want_code" -eq 0 ]; then
  [ "$code" -ne 124 ] || fail "$case_: timed out (a rank hung)"
  [ "$code" -eq 0 ] || fail "$case_: exit code $code, expected 0"
  [ "$("$SF_H5CHECK" attr "$out" complete)" = 1 ] || fail "$case_: the output is not complete"
  gen same "$dir/out/plain.h5" "$out" || fail "$case_: the output differs from the plain input's"
  msg="same datasets as the plain input"
else
  sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" "$dir/stderr" "$out"
  [ ! -e "$out" ] || fail "$case_: an output file was written"
  no_complete
  msg=$(grep '^slabflow: error:' "$dir/stderr")
fi
[ "$(inputs)" = "$before" ] || fail "$case_: an input file was modified"
echo "ok: $cmd $case_ np=$np -> exit $code: $msg"
