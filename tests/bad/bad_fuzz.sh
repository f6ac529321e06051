#!/usr/bin/env bash
# Inputs the fuzzers (tests/fuzz) found, run through slabflow itself: exactly one clear
# "slabflow: error:" line naming the file or option, the documented exit code, no hang.
#   bad_fuzz.sh CASE DIR
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$2
regress=$(cd "$(dirname "$0")/../fuzz/regress" && pwd)
rm -rf "$dir" && mkdir -p "$dir"
out="$dir/out.h5" want_code=2 want_msg="" cmd=()
video() { "$SLABFLOW" synth video -o "$1" --frames 12 --height 48 --width 56 --seed 2 >/dev/null; }
case "$case_" in
  # sscanf's %llu read "1:-2" as 1 and 2^64 - 2
  cli-range-negative) video "$dir/in.h5"
    cmd=(register "$dir/in.h5" -o "$out" --reference-frames 1:-2)
    want_msg="--reference-frames: expected FIRST:LAST frame indices with FIRST <= LAST, got '1:-2'" ;;
  *) fail "unknown case $case_" ;;
esac
set +e
OMP_NUM_THREADS=1 timeout 120 mpirun -np 1 --oversubscribe --bind-to none \
  "$SLABFLOW" "${cmd[@]}" 2> "$dir/stderr" > "$dir/stdout"
code=$?
set -e
cat "$dir/stderr" >&2
sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" "$dir/stderr" "$out"
[ ! -e "$out" ] || fail "$case_: $out written"
echo "PASS $case_"
