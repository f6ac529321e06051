#!/usr/bin/env bash
# Byte-identical /registered and /shifts for any rank and thread count.
#   determinism.sh setup DIR            synthetic input + the np=1, 1-thread baseline
#   determinism.sh check DIR NP THREADS compare a run against the baseline
source "$(dirname "$0")/common.sh"
mode=$1 dir=$2
# 30 frames in segments of 8: 4 segments, so np=4 ranks get 1 each and np=3 leaves one
# rank two segments; np=5 would leave a rank with nothing, which 'check DIR 5 1' covers.
opts=(--method rigid --buffer-size 8 --reference-frames 3:26)
if [ "$mode" = setup ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  "$SLABFLOW" synth video -o "$dir/in.h5" --frames 30 --height 96 --width 112 --seed 5 \
    --max-shift 6 --noise-db 25
  OMP_NUM_THREADS=1 sf_mpirun 1 "$SLABFLOW" register "$dir/in.h5" -o "$dir/base.h5" "${opts[@]}" --threads 1
  exit 0
fi
np=$3 th=$4
out="$dir/out-np$np-t$th.h5"
rm -f "$out"
OMP_NUM_THREADS=$th sf_mpirun "$np" "$SLABFLOW" register "$dir/in.h5" -o "$out" "${opts[@]}" --threads "$th"
"$SF_H5CHECK" same "$dir/base.h5" "$out" /registered /shifts /reference
