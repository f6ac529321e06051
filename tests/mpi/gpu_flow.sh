#!/usr/bin/env bash
# register --method flow --backend cuda against --backend cpu (issue 16 point 4), where a CUDA
# device is usable (exit 77 elsewhere): `synth video` 512x512 nonrigid, 30 dB, registered
# against the clean scene, for each --quality preset: the mean end-point error of /flow against
# the truth (25-px border cropped) within 0.01 px of the CPU's, /registered within REG_TOL
# relative (L2 norm of the difference over the CPU's), mean displacement within 0.01 px,
# /reference (CPU in both) the same bytes, the provenance backend "cuda:<device>"; and the
# balanced preset with --a-smooth 0.5 (the lagged-nonlinearity solver: red-black on the CPU as
# on the device) and with --cc-init (the prealignment by phase correlation), same criteria.
# REG_TOL is 1e-2, not the issue's 1e-3: the device solves each level in red-black order, the
# CPU in the reference's order (decision 1), and the pyramid grows last-bit differences (a
# 1/32-px warp position, a median's rank). Measured on this data with the device's arithmetic
# on the CPU (a CPU-only build with CMAKE_C_FLAGS=-ffp-contract=off run with
# SLABFLOW_SWEEP=redblack, whose kernels unit.gpu_flow_exact shows the device's steps reproduce
# bit for bit): /registered differs from the default CPU run by 6.7e-3 (fast), 4.8e-3
# (balanced), 3.1e-3 (quality) relative, and by 4.6e-3 even from the CPU's own red-black run
# with contraction; the EPE by at most 1e-4 px. Set REG_TOL=1e-3 for the issue's figure. With
# SLABFLOW_NOCONTRACT (such a build's slabflow) the device is also compared with it in
# red-black order: /flow within NOCONTRACT_TOL px (1e-4) and frames within 1e-6 relative (the
# same operations: expected equal).
#   gpu_flow.sh DIR TEST_GPU [NP]
source "$(dirname "$0")/common.sh"
dir=$1 test_gpu=$2 np=${3:-1}
REG_TOL=${REG_TOL:-1e-2} NOCONTRACT_TOL=${NOCONTRACT_TOL:-1e-4}
if ! "$test_gpu" >/dev/null 2>&1; then echo "no usable CUDA device: skipped"; exit 77; fi
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 12 --height 512 --width 512 --seed 21 \
  --motion nonrigid --max-shift 4 --noise-db 30 >/dev/null
epe_of() { sed -E 's/.*EPE ([0-9.]+) px \(worst.*/\1/' <<<"$1"; }
# each case: a preset and its extra options (--a-smooth 0.5: the lagged-nonlinearity solver,
# red-black on the CPU too; --cc-init: the phase-correlation prealignment, cuFFT on the device)
for case in fast balanced quality "balanced --a-smooth 0.5" "balanced --cc-init"; do
  read -r -a extra <<<"$case"
  q=${extra[0]} extra=("${extra[@]:1}")
  common=(register "$dir/in.h5" --method flow --quality "$q" --save-flow --buffer-size 6
          --reference-file "$dir/in.h5:/truth/clean_mean" "${extra[@]}")
  q="$case"
  OMP_NUM_THREADS=2 sf_mpirun "$np" "$SLABFLOW" "${common[@]}" -o "$dir/cpu.h5" --backend cpu >/dev/null
  OMP_NUM_THREADS=2 sf_mpirun "$np" "$SLABFLOW" "${common[@]}" -o "$dir/gpu.h5" --backend cuda >/dev/null ||
    fail "$q: --backend cuda failed"
  h5dump -a /backend "$dir/gpu.h5" | grep -q '"cuda:' || fail "$q: provenance backend is not cuda:<device>"
  "$SF_H5CHECK" same "$dir/cpu.h5" "$dir/gpu.h5" /reference || fail "$q: /reference differs"
  lc=$("$SF_H5CHECK" epe "$dir/cpu.h5" "$dir/in.h5" 25 100) || fail "$q: cannot score the CPU's flow"
  lg=$("$SF_H5CHECK" epe "$dir/gpu.h5" "$dir/in.h5" 25 100) || fail "$q: cannot score the device's flow"
  ec=$(epe_of "$lc") eg=$(epe_of "$lg")
  echo "$q: EPE cpu $ec px, cuda $eg px"
  awk -v a="$ec" -v b="$eg" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.01) }' ||
    fail "$q: device EPE $eg px differs from the CPU's $ec px by more than 0.01 px"
  "$SF_H5CHECK" relnorm "$dir/cpu.h5" "$dir/gpu.h5" /registered "$REG_TOL" ||
    fail "$q: registered frames differ by more than $REG_TOL relative"
  "$SF_H5CHECK" relnorm "$dir/cpu.h5" "$dir/gpu.h5" /registered 1e-3 >/dev/null ||
    echo "$q: (registered frames beyond the issue's 1e-3 relative, as measured without a device)"
  if [ -n "${SLABFLOW_NOCONTRACT:-}" ] && [[ "$case" == *--cc-init* ]]; then
    echo "$q: no-contraction comparison not applied (cuFFT and FFTW shifts differ in the last bits)"
  elif [ -n "${SLABFLOW_NOCONTRACT:-}" ]; then
    OMP_NUM_THREADS=2 SLABFLOW_SWEEP=redblack sf_mpirun "$np" "$SLABFLOW_NOCONTRACT" "${common[@]}" -o "$dir/nocontract.h5" \
      --backend cpu >/dev/null || fail "$q: the no-contraction CPU build failed"
    "$SF_H5CHECK" close "$dir/nocontract.h5" "$dir/gpu.h5" /flow "$NOCONTRACT_TOL" 0 ||
      fail "$q: device flow differs from the no-contraction red-black CPU run by more than $NOCONTRACT_TOL px"
    "$SF_H5CHECK" relnorm "$dir/nocontract.h5" "$dir/gpu.h5" /registered 1e-6 ||
      fail "$q: device frames differ from the no-contraction red-black CPU run"
    rm -f "$dir/nocontract.h5"
  fi
  "$SF_H5CHECK" close "$dir/cpu.h5" "$dir/gpu.h5" /stats/mean_disp 0.01 0 ||
    fail "$q: mean displacement differs by more than 0.01 px"
  rm -f "$dir/cpu.h5" "$dir/gpu.h5"
done
echo "gpu_flow: cuda within tolerance of cpu"
