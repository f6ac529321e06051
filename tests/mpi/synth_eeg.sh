#!/usr/bin/env bash
# `slabflow synth eeg`: an EDF+ (8 channels, 1000 Hz, 20 s, TR 2 s, 20 slices) twice with one
# seed gives the same bytes, at np 2 too, another seed other bytes; a BDF+ with 30 slices
# (66.67 samples a slice) and jitter; usage errors; then sf_eeg_check reads each back through
# sf_eeg_open and compares it with its HDF5 truth.
# Usage: synth_eeg.sh DIR SF_EEG_CHECK
source "$(dirname "$0")/common.sh"
dir=$1
check=$2
rm -rf "$dir" && mkdir -p "$dir/a" "$dir/b" "$dir/np2" "$dir/seed"
args=(--channels 8 --rate 1000 --seconds 20 --tr 2 --slices 20 --seed 5)
"$SLABFLOW" synth eeg -o "$dir/a/rec.edf" "${args[@]}"
"$SLABFLOW" synth eeg -o "$dir/b/rec.edf" "${args[@]}"
OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" synth eeg -o "$dir/np2/rec.edf" "${args[@]}"
"$SLABFLOW" synth eeg -o "$dir/seed/rec.edf" --channels 8 --rate 1000 --seconds 20 --tr 2 --slices 20 --seed 6
for d in b np2; do
  cmp "$dir/a/rec.edf" "$dir/$d/rec.edf" || fail "$d: the same seed gave a different EDF file"
  cmp "$dir/a/rec.h5" "$dir/$d/rec.h5" || fail "$d: the same seed gave a different HDF5 file"
done
! cmp -s "$dir/a/rec.edf" "$dir/seed/rec.edf" || fail "another seed gave the same EDF file"
! cmp -s "$dir/a/rec.h5" "$dir/seed/rec.h5" || fail "another seed gave the same HDF5 file"
"$SLABFLOW" synth eeg -o "$dir/a/jit.bdf" --channels 6 --rate 1000 --seconds 20 --tr 2 --slices 30 --jitter --seed 9
"$SLABFLOW" synth eeg -o "$dir/b/jit.bdf" --channels 6 --rate 1000 --seconds 20 --tr 2 --slices 30 --jitter --seed 9
cmp "$dir/a/jit.bdf" "$dir/b/jit.bdf" || fail "the same seed gave a different BDF file"

# Usage errors: exit 2, one message, no file left.
for bad in "--channels 1" "--channels 65" "--seconds 3 --tr 2" "--rate 250 --slices 60 --tr 1" \
           "--tr 0.01" "--slices 200 --tr 2" "--rate 50"; do
  code=0
  # shellcheck disable=SC2086
  "$SLABFLOW" synth eeg -o "$dir/bad.edf" $bad 2>"$dir/stderr" || code=$?
  [ "$code" -eq 2 ] || fail "synth eeg $bad: exit code $code, expected 2"
  [ "$(grep -c '^slabflow: error:' "$dir/stderr")" -eq 1 ] || fail "synth eeg $bad: not one error line"
  [ ! -e "$dir/bad.edf" ] && [ ! -e "$dir/bad.h5" ] || fail "synth eeg $bad: left an output"
done
code=0
"$SLABFLOW" synth eeg -o "$dir/bad.txt" 2>"$dir/stderr" || code=$?
[ "$code" -eq 2 ] || fail "synth eeg -o bad.txt: exit code $code, expected 2"
code=0
sf_mpirun 2 "$SLABFLOW" synth eeg -o "$dir/bad.edf" --channels 8 --seconds 3 2>"$dir/stderr" || code=$?
[ "$code" -eq 2 ] || fail "np 2, too short: exit code $code, expected 2"
[ "$(grep -c '^slabflow: error:' "$dir/stderr")" -eq 1 ] || fail "np 2, too short: not one error line"

"$check" "$dir/a/rec.edf" "$dir/a/rec.h5" 8 1000 20 || fail "rec.edf does not match its truth"
"$check" "$dir/a/jit.bdf" "$dir/a/jit.h5" 6 1000 20 || fail "jit.bdf does not match its truth"
echo "synth eeg: same bytes for the same seed (np 1 and 2), EDF+ and BDF+ read back and checked"
