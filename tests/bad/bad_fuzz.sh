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
  # a "[" line without "]" inside [Marker Infos]: the counting pass stopped counting there,
  # the parser did not, and wrote marker 1 through a NULL array (SIGSEGV)
  vhdr-marker-line) "$SLABFLOW" synth eeg -o "$dir/in.vhdr" --channels 2 --rate 100 --seconds 2 \
                      --tr 0.5 --slices 2 >/dev/null
    printf '%s\r\n' 'Brain Vision Data Exchange Marker File, Version 1.0' '[Marker Infos]' \
      '[Marker r File Version 2.4' 'Mk1=New Segment,,1,1,0' 'Mk2=Stimulus,S  1,99999,1,0' > "$dir/in.vmrk"
    cmd=(eeg "$dir/in.vhdr" -o "$out")
    want_msg="in.vmrk: marker Mk2 at position 99999: out of range" ;;
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
