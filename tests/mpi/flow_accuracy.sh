#!/usr/bin/env bash
# Nonrigid accuracy: a smooth field up to 4 px on a 256x256 scene at 30 dB, registered
# against the clean scene (--reference-file). Mean endpoint error of /flow against the truth,
# 25-px border cropped: balanced <= 0.15 px and >= 10x below the zero-flow error; fast and
# quality likewise, and quality no worse than balanced.
#   flow_accuracy.sh DIR [NP]
source "$(dirname "$0")/common.sh"
dir=$1 np=${2:-2}
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 12 --height 256 --width 256 --seed 21 \
  --motion nonrigid --max-shift 4 --noise-db 30
declare -A epe
for q in fast balanced quality; do
  OMP_NUM_THREADS=1 sf_mpirun "$np" "$SLABFLOW" register "$dir/in.h5" -o "$dir/$q.h5" --threads 1 \
    --quality "$q" --save-flow --buffer-size 6 --reference-file "$dir/in.h5:/truth/clean_mean"
  max=0.15; [ "$q" = fast ] && max=0.30
  line=$("$SF_H5CHECK" epe "$dir/$q.h5" "$dir/in.h5" 25 "$max" 10) || { echo "$q: $line"; fail "$q: EPE above $max px or not 10x below zero flow"; }
  echo "$q: $line"
  epe[$q]=$(sed -E 's/.*EPE ([0-9.]+) px \(worst.*/\1/' <<<"$line")
done
awk -v q="${epe[quality]}" -v b="${epe[balanced]}" 'BEGIN { exit !(q <= b + 0.005) }' ||
  fail "quality EPE ${epe[quality]} worse than balanced ${epe[balanced]}"
echo "EPE fast ${epe[fast]} balanced ${epe[balanced]} quality ${epe[quality]}"
