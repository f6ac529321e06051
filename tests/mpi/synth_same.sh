#!/usr/bin/env bash
# `slabflow synth video`: the same arguments give the same bytes, for any thread count.
source "$(dirname "$0")/common.sh"
dir=$1
rm -rf "$dir" && mkdir -p "$dir"
for m in rigid nonrigid; do
  OMP_NUM_THREADS=1 "$SLABFLOW" synth video -o "$dir/a-$m.h5" --frames 9 --height 64 --width 72 --channels 2 --seed 4 --motion $m
  OMP_NUM_THREADS=2 "$SLABFLOW" synth video -o "$dir/b-$m.h5" --frames 9 --height 64 --width 72 --channels 2 --seed 4 --motion $m
  cmp "$dir/a-$m.h5" "$dir/b-$m.h5" || fail "synth $m: files differ"
done
OMP_NUM_THREADS=2 "$SLABFLOW" synth video -o "$dir/c.h5" --frames 9 --height 64 --width 72 --channels 2 --seed 5
! cmp -s "$dir/a-rigid.h5" "$dir/c.h5" || fail "another seed gave the same file"
echo "synth: identical bytes for identical arguments"
