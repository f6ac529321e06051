#!/usr/bin/env bash
# One bad-input case of `slices`: exactly one clear "slabflow: error:" line naming the file
# and the problem, the documented exit code, no hang, no output or .partial file, the input
# untouched and a previous output untouched.
#   bad_slices.sh CASE DIR [NP]
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$2 np=${3:-2}
rm -rf "$dir" && mkdir -p "$dir"
data() { /usr/bin/python3 "$(dirname "$0")/../mpi/slices_data.py" bad "$dir" "$1"; }
out="$dir/out.h5" extra=() want_code=2 want_msg=""
case "$case_" in
  not3d)          in=$(data not3d); want_msg="flat.nii.gz: .*(3-D|3 dimensions|dimensions).*" ;;
  4d)             in=$(data 4d); want_msg="four.nii.gz: .*(3-D|dimensions).*" ;;
  label-shape)    in=$(data label-shape); want_msg="lab.nii.gz: label is 8x7x5 but its image .*img.nii.gz is 8x7x6" ;;
  label-affine)   in=$(data label-affine); want_msg="lab.nii.gz: label affine differs from its image" ;;
  label-fraction) in=$(data label-fraction); want_msg="lab.nii.gz: label value 1.5 at voxel \(1, 1, 1\) is not an integer" ;;
  corrupt-gz)     in=$(data corrupt-gz); want_msg="img.nii.gz: .*(corrupt|truncated)" ;;
  crc-gz)         in=$(data crc-gz); want_msg="img.nii.gz: truncated or corrupt data \(gzip" ;;
  truncated-gz)   in=$(data truncated-gz); want_msg="img.nii.gz: .*(corrupt|truncated)" ;;
  missing-file)   in=$(data missing-file); want_msg="nowhere.nii.gz: " ;;
  manifest-line)  in=$(data manifest-line); want_msg="list.txt:1: expected 'case image \[label\]', found 4 fields" ;;
  empty-dir)      in=$(data empty-dir); want_msg="imagesTr: no images" ;;
  not-dataset)    mkdir -p "$dir/plain"; in="$dir/plain"; want_msg="plain: not an nnU-Net raw dataset" ;;
  nan)            in=$(data nan); want_msg="img.nii.gz: voxel \(3,2,4\) is not finite .*--nan-fill" ;;
  window)         in=$(data good); extra=(--window 40); want_msg="--window: expected an integer from 0 to 32, got '40'" ;;
  pad)            in=$(data good); extra=(--pad mirror); want_msg="--pad: expected one of zero\|replicate\|reflect\|symmetric, got 'mirror'" ;;
  split-sum)      in=$(data good); extra=(--split 0.5,0.2,0.2); want_msg="--split: the fractions 0.5,0.2,0.2 sum to 0.9; they must sum to 1" ;;
  split-count)    in=$(data good); extra=(--split 0.5,0.5); want_msg="--split: expected three fractions" ;;
  clip-order)     in=$(data good); extra=(--clip 5 1); want_msg="--clip: LO 5 is above HI 1" ;;
  percentile)     in=$(data good); extra=(--clip-percentiles 1 101); want_msg="--clip-percentiles: " ;;
  axis)           in=$(data good); extra=(--axis 3); want_msg="--axis: expected an integer from 0 to 2, got '3'" ;;
  *) fail "unknown case $case_" ;;
esac
prev=""
echo "previous result" > "$out"; prev=$(md5sum < "$out")
before=$(sf_snapshot "$dir")
set +e
OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
  "$SLABFLOW" slices "$in" -o "$out" --buffer-size 3 "${extra[@]}" 2> "$dir/stderr" > "$dir/stdout"
code=$?
set -e
cat "$dir/stderr" >&2
sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" "$dir/stderr" "$out"
[ "$(md5sum < "$out")" = "$prev" ] || fail "$case_: the previous output was damaged"
[ "$(sf_snapshot "$dir")" = "$before" ] || fail "$case_: the input was modified"
echo "ok: $case_ -> exit $code: $(grep '^slabflow: error:' "$dir/stderr")"
