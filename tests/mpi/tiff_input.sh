#!/usr/bin/env bash
# A multi-page TIFF input (read on rank 0, sent to the others) gives the same bytes as the
# same video read from HDF5 by every rank.
source "$(dirname "$0")/common.sh"
dir=$1
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 21 --height 64 --width 80 --channels 2 \
  --seed 3 --max-shift 4 --tiff "$dir/in.tif"
for src in h5 tif; do
  OMP_NUM_THREADS=1 sf_mpirun 3 "$SLABFLOW" register "$dir/in.$src" -o "$dir/out-$src.h5" \
    --method rigid --buffer-size 4
done
"$SF_H5CHECK" same "$dir/out-h5.h5" "$dir/out-tif.h5" /registered /shifts /reference
