#!/usr/bin/env bash
# Byte-identical results of `register` for any rank and thread count.
#   determinism.sh KIND setup DIR            synthetic input + the np=1, 1-thread baseline
#   determinism.sh KIND check DIR NP THREADS compare a run against the baseline
# KIND rigid: /registered, /shifts, /reference. 30 frames in segments of 8: 4 segments, so
#   np=4 ranks get 1 each and np=3 leaves one rank two segments; np=5 leaves a rank with
#   nothing.
# KIND flow: /registered, /flow, /valid, /stats and /reference of --method flow, with the
#   reference built from the recording (distributed two-pass preregistration with a
#   temporal halo; the reference frames 3:26 span 3 segments) and two weighted channels.
source "$(dirname "$0")/common.sh"
kind=$1 mode=$2 dir=$3
case "$kind" in
  rigid)
    opts=(--method rigid --buffer-size 8 --reference-frames 3:26)
    synth=(--frames 30 --height 96 --width 112 --seed 5 --max-shift 6 --noise-db 25)
    datasets=(/registered /shifts /reference) ;;
  flow)
    opts=(--method flow --quality balanced --buffer-size 8 --reference-frames 3:26 --weight 0.7,0.3
          --save-flow --save-valid)
    synth=(--frames 30 --height 80 --width 96 --channels 2 --seed 7 --motion nonrigid
           --max-shift 3 --noise-db 25)
    datasets=(/registered /flow /valid /reference /stats/mean_disp /stats/max_disp
              /stats/mean_div /stats/mean_translation) ;;
  *) fail "unknown kind $kind" ;;
esac
if [ "$mode" = setup ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  "$SLABFLOW" synth video -o "$dir/in.h5" "${synth[@]}"
  OMP_NUM_THREADS=1 sf_mpirun 1 "$SLABFLOW" register "$dir/in.h5" -o "$dir/base.h5" "${opts[@]}" --threads 1
  exit 0
fi
np=$4 th=$5
out="$dir/out-np$np-t$th.h5"
rm -f "$out"
OMP_NUM_THREADS=$th sf_mpirun "$np" "$SLABFLOW" register "$dir/in.h5" -o "$out" "${opts[@]}" --threads "$th"
"$SF_H5CHECK" same "$dir/base.h5" "$out" "${datasets[@]}"
