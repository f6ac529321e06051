#!/usr/bin/env bash
# Byte-identical /registered, /flow, /valid, /stats and /reference of --method flow for any
# rank and thread count, with the reference built from the recording (distributed two-pass
# preregistration with a temporal halo) and two weighted channels.
#   flow_determinism.sh setup DIR            input + the np=1, 1-thread baseline
#   flow_determinism.sh check DIR NP THREADS compare a run against the baseline
source "$(dirname "$0")/common.sh"
mode=$1 dir=$2
# 30 frames in segments of 8 (4 segments); the reference frames 3:26 span 3 segments.
opts=(--method flow --quality balanced --buffer-size 8 --reference-frames 3:26 --weight 0.7,0.3
      --save-flow --save-valid)
if [ "$mode" = setup ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  "$SLABFLOW" synth video -o "$dir/in.h5" --frames 30 --height 80 --width 96 --channels 2 --seed 7 \
    --motion nonrigid --max-shift 3 --noise-db 25
  OMP_NUM_THREADS=1 sf_mpirun 1 "$SLABFLOW" register "$dir/in.h5" -o "$dir/base.h5" "${opts[@]}" --threads 1
  exit 0
fi
np=$3 th=$4
out="$dir/out-np$np-t$th.h5"
rm -f "$out"
OMP_NUM_THREADS=$th sf_mpirun "$np" "$SLABFLOW" register "$dir/in.h5" -o "$out" "${opts[@]}" --threads "$th"
"$SF_H5CHECK" same "$dir/base.h5" "$out" /registered /flow /valid /reference /stats/mean_disp \
  /stats/max_disp /stats/mean_div /stats/mean_translation
