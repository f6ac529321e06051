#!/usr/bin/env bash
# Integration tests of `slabflow slices` against an independent numpy/nibabel computation
# (slices_ref.py) and across rank and thread counts.
#   slices.sh setup WORK                      synthetic nnU-Net dataset + a mixed manifest
#   slices.sh check WORK INPUT NP TH ARGS...  run, then compare every slice with the reference
#   slices.sh same WORK NP TH                 byte-identical to the np=1, 1-thread baseline
#   slices.sh mricron WORK NP                 mricron-data's ch2 with the aal labels
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
PY=/usr/bin/python3
mode=$1 work=$2
shift 2
# The options of the determinism runs: small segments so that contexts cross rank
# boundaries, percentile clipping, skipping, a three-way split.
DET_ARGS=(--window 2 --pad reflect --clip-percentiles 0.5 99.5 --skip-empty --split 0.5,0.25,0.25 --seed 3 --buffer-size 5)

case $mode in
setup)
  rm -rf "$work" && mkdir -p "$work"
  sf_mpirun 2 "$SLABFLOW" synth volumes -o "$work/nn" --cases 4 --size 40 36 24 --seed 5 >/dev/null
  $PY "$here/slices_data.py" mixed "$work/mixed" "$work/nn"
  $PY "$here/slices_data.py" bad "$work/nan" nan >/dev/null
  OMP_NUM_THREADS=1 sf_mpirun 1 "$SLABFLOW" slices "$work/mixed/mixed.txt" -o "$work/base_mixed.h5" "${DET_ARGS[@]}" --threads 1 >/dev/null
  OMP_NUM_THREADS=1 sf_mpirun 1 "$SLABFLOW" slices "$work/nn" -o "$work/base_nn.h5" "${DET_ARGS[@]}" --threads 1 >/dev/null
  ;;
check)
  input=$1 np=$2 th=$3
  shift 3
  [[ $input = /* ]] || input="$work/$input"
  out="$work/check_$RANDOM$RANDOM.h5"
  OMP_NUM_THREADS=$th sf_mpirun "$np" "$SLABFLOW" slices "$input" -o "$out" --threads "$th" "$@" || fail "slices exited $?"
  $PY "$here/slices_ref.py" check "$out" "$input" "$@" || fail "output differs from the reference ($*)"
  rm -f "$out"
  ;;
same)
  np=$1 th=$2
  for ds in mixed nn; do
    input="$work/$ds"
    [ "$ds" = mixed ] && input="$work/mixed/mixed.txt"
    out="$work/np${np}_t${th}_$ds.h5"
    OMP_NUM_THREADS=$th sf_mpirun "$np" "$SLABFLOW" slices "$input" -o "$out" "${DET_ARGS[@]}" --threads "$th" >/dev/null || fail "slices exited $?"
    $PY "$here/slices_ref.py" same "$work/base_$ds.h5" "$out" || fail "np=$np threads=$th differs from np=1 threads=1 ($ds)"
    rm -f "$out"
  done
  ;;
mricron)
  np=$1
  mkdir -p "$work"
  t=/usr/share/mricron/templates
  [ -f $t/ch2.nii.gz ] || { echo "mricron-data is not installed"; exit 77; }
  printf 'ch2 %s/ch2.nii.gz %s/aal.nii.gz\n' $t $t > "$work/mricron.txt"
  out="$work/mricron.h5"
  sf_mpirun "$np" "$SLABFLOW" slices "$work/mricron.txt" -o "$out" --skip-empty --window 2 || fail "slices exited $?"
  $PY - "$out" <<'PY' || fail "mricron output"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
g = f["/train/ch2"]
img, lab = g["image"], g["label"]
print("ch2: image", img.shape, img.dtype, "label", lab.shape, lab.dtype,
      "written", g.attrs["slices_written"], "skipped", g.attrs["slices_skipped"])
assert img.shape == (146, 5, 181, 217) and lab.shape == (146, 181, 217), img.shape
assert g.attrs["slices_written"] == 146 and g.attrs["slices_skipped"] == 35
assert lab[...].max() > 100 and lab[...].min() == 0
PY
  $PY "$here/slices_ref.py" check "$out" "$work/mricron.txt" --skip-empty --window 2 || fail "mricron output differs from the reference"
  ;;
*) fail "unknown mode $mode" ;;
esac
