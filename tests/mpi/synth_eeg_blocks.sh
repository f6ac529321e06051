#!/usr/bin/env bash
# `slabflow synth eeg --blocks N --pause S` (issue 14 point 2): --blocks 1 gives the bytes of a
# run without the option; 3 blocks with pauses of 4 s in an EDF+ of 40 s and 2 blocks with
# jitter in a BDF+ (the same bytes at np 1 and 2); sf_eeg_check reads each back: /trigger_block
# and equal blocks, the slice period within blocks, a pause of S s plus one slice period between
# blocks with no annotation and no gradient in it; blocks that do not fit are a usage error.
# Usage: synth_eeg_blocks.sh DIR SF_EEG_CHECK
source "$(dirname "$0")/common.sh"
dir=$1
check=$2
rm -rf "$dir" && mkdir -p "$dir/a" "$dir/b" "$dir/np2"
args=(--channels 8 --rate 1000 --seconds 20 --tr 2 --slices 20 --seed 5)
"$SLABFLOW" synth eeg -o "$dir/a/one.edf" "${args[@]}"
"$SLABFLOW" synth eeg -o "$dir/b/one.edf" "${args[@]}" --blocks 1 --pause 3
cmp "$dir/a/one.edf" "$dir/b/one.edf" || fail "--blocks 1 changed the EDF file"
cmp "$dir/a/one.h5" "$dir/b/one.h5" || fail "--blocks 1 changed the HDF5 file"

"$SLABFLOW" synth eeg -o "$dir/a/three.edf" --channels 8 --rate 1000 --seconds 40 --tr 2 \
  --slices 20 --blocks 3 --pause 4 --seed 5 >"$dir/a/three.log"
grep -q "3 blocks with pauses of 4 s" "$dir/a/three.log" || fail "no blocks in the summary line"
"$check" "$dir/a/three.edf" "$dir/a/three.h5" 8 1000 40 >"$dir/a/three.check" ||
  { cat "$dir/a/three.check"; fail "three.edf does not match its truth"; }
grep -q "180 slice annotations .* in 3 block(s)" "$dir/a/three.check" ||
  { cat "$dir/a/three.check"; fail "three.edf: not 3 blocks of 3 volumes x 20 slices"; }

jit=(--channels 6 --rate 1000 --seconds 30 --tr 1.5 --slices 30 --jitter --blocks 2 --pause 6.5 --seed 9)
"$SLABFLOW" synth eeg -o "$dir/a/jit.bdf" "${jit[@]}"
OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" synth eeg -o "$dir/np2/jit.bdf" "${jit[@]}"
cmp "$dir/a/jit.bdf" "$dir/np2/jit.bdf" || fail "np 2: the same seed gave a different BDF file"
cmp "$dir/a/jit.h5" "$dir/np2/jit.h5" || fail "np 2: the same seed gave a different HDF5 file"
"$check" "$dir/a/jit.bdf" "$dir/a/jit.h5" 6 1000 30 >"$dir/a/jit.check" ||
  { cat "$dir/a/jit.check"; fail "jit.bdf does not match its truth"; }
grep -q "in 2 block(s)" "$dir/a/jit.check" || { cat "$dir/a/jit.check"; fail "jit.bdf: not 2 blocks"; }

# Blocks that do not fit, a zero pause, no blocks: exit 2, one message, no file left.
for bad in "--seconds 20 --blocks 5 --pause 10" "--seconds 20 --blocks 2 --pause 9" \
           "--blocks 2 --pause 0" "--blocks 0" "--blocks 1001"; do
  code=0
  # shellcheck disable=SC2086
  "$SLABFLOW" synth eeg -o "$dir/bad.edf" --channels 4 --rate 1000 --tr 2 --slices 10 $bad \
    2>"$dir/stderr" || code=$?
  [ "$code" -eq 2 ] || fail "synth eeg $bad: exit code $code, expected 2"
  [ "$(grep -c '^slabflow: error:' "$dir/stderr")" -eq 1 ] || fail "synth eeg $bad: not one error line"
  [ ! -e "$dir/bad.edf" ] && [ ! -e "$dir/bad.h5" ] || fail "synth eeg $bad: left an output"
done
grep -q "blocks" "$dir/stderr" || fail "the last usage error does not name --blocks"
code=0
"$SLABFLOW" synth eeg -o "$dir/bad.edf" --channels 4 --seconds 20 --blocks 5 --pause 10 2>"$dir/stderr" || code=$?
grep -q "fewer --blocks" "$dir/stderr" || { cat "$dir/stderr"; fail "blocks that do not fit: no clear message"; }
echo "synth eeg --blocks: 1 block = no blocks (same bytes), 3 and 2 blocks read back with their pauses"
