#!/usr/bin/env bash
# `slabflow synth eeg -o REC.vhdr`: BrainVision REC.vhdr/.vmrk/.eeg (8 channels, 1000 Hz, 20 s,
# TR 2 s, 20 slices) twice with one seed gives the same bytes, at np 2 too; the same options
# as .edf give the very same samples through sf_eeg_open (only the container differs); a
# 2048 Hz recording (fractional sampling interval 488.28125 us) with 30 slices and jitter;
# a rate without a finite interval in us is a usage error that leaves no file; then
# sf_eeg_check reads each back and compares it with its HDF5 truth.
# Usage: synth_eeg_vhdr.sh DIR SF_EEG_CHECK SF_EEG_DUMP
source "$(dirname "$0")/common.sh"
dir=$1
check=$2
dump=$3
rm -rf "$dir" && mkdir -p "$dir/a" "$dir/b" "$dir/np2" "$dir/edf"
args=(--channels 8 --rate 1000 --seconds 20 --tr 2 --slices 20 --seed 5)
"$SLABFLOW" synth eeg -o "$dir/a/rec.vhdr" "${args[@]}"
"$SLABFLOW" synth eeg -o "$dir/b/rec.vhdr" "${args[@]}"
OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" synth eeg -o "$dir/np2/rec.vhdr" "${args[@]}"
"$SLABFLOW" synth eeg -o "$dir/edf/rec.edf" "${args[@]}"
for d in b np2; do
  for f in rec.vhdr rec.vmrk rec.eeg rec.h5; do
    cmp "$dir/a/$f" "$dir/$d/$f" || fail "$d: the same seed gave a different $f"
  done
done
cmp "$dir/a/rec.h5" "$dir/edf/rec.h5" >/dev/null 2>&1 ||
  echo "(the truth files differ only in the annotation attribute's text)"
"$dump" "$dir/a/rec.vhdr" "$dir/a/samples.bin" >"$dir/a/dump.json"
"$dump" "$dir/edf/rec.edf" "$dir/edf/samples.bin" >"$dir/edf/dump.json"
cmp "$dir/a/samples.bin" "$dir/edf/samples.bin" || fail "the .vhdr and the .edf hold different samples"
grep -q '"filetype": 4' "$dir/a/dump.json" || fail "rec.vhdr not read as BrainVision"
grep -q '"text": "S  1"' "$dir/a/dump.json" || fail "no S  1 marker read"
"$SLABFLOW" synth eeg -o "$dir/a/jit.vhdr" --channels 6 --rate 2048 --seconds 20 --tr 2 --slices 30 --jitter --seed 9

# A rate whose sampling interval is no finite decimal of us: exit 2, one message, no file left.
code=0
"$SLABFLOW" synth eeg -o "$dir/bad.vhdr" --rate 3000 2>"$dir/stderr" || code=$?
[ "$code" -eq 2 ] || fail "synth eeg --rate 3000 to .vhdr: exit code $code, expected 2"
[ "$(grep -c '^slabflow: error:' "$dir/stderr")" -eq 1 ] || fail "--rate 3000: not one error line"
for f in bad.vhdr bad.vmrk bad.eeg bad.h5; do [ ! -e "$dir/$f" ] || fail "--rate 3000: left $f"; done

"$check" "$dir/a/rec.vhdr" "$dir/a/rec.h5" 8 1000 20 || fail "rec.vhdr does not match its truth"
"$check" "$dir/a/jit.vhdr" "$dir/a/jit.h5" 6 2048 20 || fail "jit.vhdr does not match its truth"
echo "synth eeg .vhdr: same bytes for the same seed (np 1 and 2), the same samples as the .edf, read back and checked"
