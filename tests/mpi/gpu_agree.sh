#!/usr/bin/env bash
# register --backend cuda against --backend cpu (issue 16 point 2), where a CUDA device is
# usable (exit 77 elsewhere): --method rigid at np 1 and 2, 1 and 2 channels, cubic and
# linear: /shifts within 0.01 px, /registered within 1e-3 of its range, /reference (computed
# on the CPU in both) the same bytes, provenance backend "cuda:<device>".
#   gpu_agree.sh DIR TEST_GPU
source "$(dirname "$0")/common.sh"
dir=$1 test_gpu=$2
if ! "$test_gpu" >/dev/null 2>&1; then echo "no usable CUDA device: skipped"; exit 77; fi
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in1.h5" --frames 40 --height 128 --width 144 --seed 5 --max-shift 6 --noise-db 25 >/dev/null
"$SLABFLOW" synth video -o "$dir/in2.h5" --frames 24 --height 96 --width 81 --channels 2 --seed 9 --max-shift 4 >/dev/null
for input in in1 in2; do
  for interp in cubic linear; do
    for np in 1 2; do
      common=(register "$dir/$input.h5" --method rigid --interp "$interp" --buffer-size 8 --reference-frames 3:26)
      OMP_NUM_THREADS=2 sf_mpirun "$np" "$SLABFLOW" "${common[@]}" -o "$dir/cpu.h5" --backend cpu >/dev/null
      OMP_NUM_THREADS=2 sf_mpirun "$np" "$SLABFLOW" "${common[@]}" -o "$dir/gpu.h5" --backend cuda >/dev/null
      h5dump -a /backend "$dir/gpu.h5" | grep -q '"cuda:' || fail "$input $interp np $np: provenance backend is not cuda:<device>"
      "$SF_H5CHECK" same "$dir/cpu.h5" "$dir/gpu.h5" /reference
      "$SF_H5CHECK" close "$dir/cpu.h5" "$dir/gpu.h5" /shifts 0.01 0 || fail "$input $interp np $np: shifts differ by more than 0.01 px"
      "$SF_H5CHECK" close "$dir/cpu.h5" "$dir/gpu.h5" /registered 0 1e-3 || fail "$input $interp np $np: frames differ by more than 1e-3"
      rm -f "$dir/cpu.h5" "$dir/gpu.h5"
    done
  done
done
echo "gpu_agree: cuda within tolerance of cpu"
