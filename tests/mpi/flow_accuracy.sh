#!/usr/bin/env bash
# Nonrigid accuracy on `synth video --motion nonrigid` (512x512, 12 frames, a smooth field up
# to 4 px, 30 dB), registered against the clean scene (--reference-file). Mean endpoint error
# of /flow against the truth with a 25-px border cropped:
#  - default options, every preset: at least 10x below the zero-flow error; balanced <= 0.15 px;
#  - with the smoothness weight raised to suit 30 dB data (alpha 16, other options default):
#    every preset at least 10x below the zero-flow error, balanced <= 0.15 px, and the presets
#    in order of their finest level: quality <= balanced <= fast.
# At the default alpha 1.5 the finest levels of the quality preset follow the noise, so on
# this smooth field quality scores worse than balanced; the reference implementation does the
# same on the same pairs (benchmarks/README.md, "flow_alpha_sweep.sh"), and every preset
# improves as alpha rises to 16.
#   flow_accuracy.sh DIR [NP]
source "$(dirname "$0")/common.sh"
dir=$1 np=${2:-2}
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 12 --height 512 --width 512 --seed 21 \
  --motion nonrigid --max-shift 4 --noise-db 30
run() { # run NAME EXTRA...: registers, prints the EPE line, stores the EPE in epe[NAME]
  local name=$1 max=$2; shift 2
  OMP_NUM_THREADS=1 sf_mpirun "$np" "$SLABFLOW" register "$dir/in.h5" -o "$dir/$name.h5" --threads 1 \
    --save-flow --buffer-size 6 --reference-file "$dir/in.h5:/truth/clean_mean" "$@" >/dev/null
  local line
  line=$("$SF_H5CHECK" epe "$dir/$name.h5" "$dir/in.h5" 25 "$max" 10) || { echo "$name: $line"; fail "$name: EPE above $max px or not 10x below the zero-flow error"; }
  echo "$name: $line"
  epe[$name]=$(sed -E 's/.*EPE ([0-9.]+) px \(worst.*/\1/' <<<"$line")
}
declare -A epe
run fast 1 --quality fast
run balanced 0.15 --quality balanced
run quality 1 --quality quality
run fast-a16 1 --quality fast --alpha 16
run balanced-a16 0.15 --quality balanced --alpha 16
run quality-a16 1 --quality quality --alpha 16
awk -v q="${epe[quality-a16]}" -v b="${epe[balanced-a16]}" 'BEGIN { exit !(q <= b) }' ||
  fail "quality EPE ${epe[quality-a16]} worse than balanced ${epe[balanced-a16]} (alpha 16)"
awk -v b="${epe[balanced-a16]}" -v f="${epe[fast-a16]}" 'BEGIN { exit !(b <= f) }' ||
  fail "balanced EPE ${epe[balanced-a16]} worse than fast ${epe[fast-a16]} (alpha 16)"
echo "EPE (defaults) fast ${epe[fast]} balanced ${epe[balanced]} quality ${epe[quality]};" \
  "alpha 16: fast ${epe[fast-a16]} balanced ${epe[balanced-a16]} quality ${epe[quality-a16]}"
# Rigid prealignment (--cc-init) on a larger motion (up to 16 px, 256x256) stays accurate.
"$SLABFLOW" synth video -o "$dir/big.h5" --frames 12 --height 256 --width 256 --seed 4 \
  --motion nonrigid --max-shift 16 --noise-db 30
OMP_NUM_THREADS=1 sf_mpirun "$np" "$SLABFLOW" register "$dir/big.h5" -o "$dir/cc.h5" --threads 1 \
  --quality balanced --cc-init --save-flow --buffer-size 6 --reference-file "$dir/big.h5:/truth/clean_mean" >/dev/null
"$SF_H5CHECK" epe "$dir/cc.h5" "$dir/big.h5" 25 0.15 10 || fail "--cc-init: EPE above 0.15 px"
