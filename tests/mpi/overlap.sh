#!/usr/bin/env bash
# The main pass writes batch k-1 while it computes batch k, from two output buffers chosen by
# step parity. With many small segments, 2 ranks (rigid) or 3 (flow: one rank runs out of
# segments a step early, so its commits run outside any compute) and 2 threads, the output
# must be byte-identical to the unoverlapped order (SLABFLOW_OVERLAP=0, 1 rank, 1 thread),
# both with each commit during the next compute (the default) and after it
# (SLABFLOW_OVERLAP=late: were a buffer shared by compute(k) and commit(k-1), commit(k-1)
# would then write batch k's values every time, not only when the timing happens to race).
#   overlap.sh DIR
source "$(dirname "$0")/common.sh"
dir=$1
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 23 --height 64 --width 72 --seed 11 \
  --motion nonrigid --max-shift 3 --noise-db 25 >/dev/null
run() { # NAME MODE NP THREADS OPTS...
  local name=$1 mode=$2 np=$3 th=$4; shift 4
  SLABFLOW_OVERLAP=$mode OMP_NUM_THREADS=$th sf_mpirun "$np" "$SLABFLOW" register "$dir/in.h5" \
    -o "$dir/$name.h5" --threads "$th" "$@" >/dev/null
}
rigid=(--method rigid --buffer-size 2 --reference-frames 0:9)
flow=(--method flow --quality fast --buffer-size 3 --reference-frames 0:8 --save-flow --save-valid)
run rigid-base 0 1 1 "${rigid[@]}"
run flow-base 0 1 1 "${flow[@]}"
for mode in late 1; do
  run "rigid-$mode" "$mode" 2 2 "${rigid[@]}"
  "$SF_H5CHECK" same "$dir/rigid-base.h5" "$dir/rigid-$mode.h5" /registered /shifts /reference \
    /slabflow/done || fail "rigid, SLABFLOW_OVERLAP=$mode: output differs"
  run "flow-$mode" "$mode" 3 2 "${flow[@]}"
  "$SF_H5CHECK" same "$dir/flow-base.h5" "$dir/flow-$mode.h5" /registered /flow /valid /reference \
    /stats/mean_disp /stats/max_disp /stats/mean_div /stats/mean_translation /slabflow/done ||
    fail "flow, SLABFLOW_OVERLAP=$mode: output differs"
  echo "ok: SLABFLOW_OVERLAP=$mode matches the unoverlapped order"
done
