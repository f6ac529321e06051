#!/usr/bin/env bash
# One bad-input case: exactly one clear "slabflow: error:" line naming the file and the
# problem, the documented exit code, no hang (timeout), no output or .partial file, the
# input untouched and a previous output untouched.
#   bad_input.sh CASE DIR [NP]
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$2 np=${3:-2}
rm -rf "$dir" && mkdir -p "$dir"
in="$dir/in.h5" out="$dir/out.h5" extra=() want_code=2 want_msg=""
method=rigid; [[ "$case_" == flow-* ]] && method=flow
good() { "$SLABFLOW" synth video -o "$1" --frames 12 --height 48 --width 56 --seed 2 >/dev/null; }
case "$case_" in
  missing-file)    in="$dir/nope.h5"; want_msg="nope.h5: cannot open input: No such file" ;;
  missing-dataset) good "$in"; extra=(--dataset /movie); want_msg="in.h5: no dataset /movie \(the file has: /data, /truth\)" ;;
  2d)              "$SF_H5CHECK" mkbad 2d "$in"; want_msg="in.h5:/data: expected 3 or 4 dimensions .*found 2" ;;
  zero-frames)     "$SF_H5CHECK" mkbad zero-frames "$in"; want_msg="in.h5:/data: has 0 frames" ;;
  dtype)           "$SF_H5CHECK" mkbad float16 "$in"; want_msg="in.h5:/data: unsupported data type float16" ;;
  compound)        "$SF_H5CHECK" mkbad compound "$in"; want_msg="in.h5:/data: unsupported data type compound" ;;
  tiny)            "$SF_H5CHECK" mkbad tiny "$in"; want_msg="in.h5:/data: frames are 4x4 pixels" ;;
  truncated)       good "$dir/full.h5"; head -c 40000 "$dir/full.h5" > "$in"
                   want_msg="in.h5: not a readable HDF5 file \(truncated or corrupt\?\)" ;;
  corrupt)         good "$in"; printf 'garbage!garbage!garbage!garbage!' | dd of="$in" bs=1 seek=0 conv=notrunc status=none
                   want_msg="in.h5: neither an HDF5 nor a TIFF file" ;;
  corrupt-header)  good "$in"; dd if=/dev/zero of="$in" bs=1 seek=8 count=40 conv=notrunc status=none
                   want_msg="in.h5: not a readable HDF5 file" ;;
  nan)             "$SF_H5CHECK" mkbad nan "$in"; want_msg="in.h5:/data: frame 17 contains NaN at y=5, x=9" ;;
  unknown-option)  good "$in"; extra=(--frobnicate 3); want_msg="unknown or incomplete option '--frobnicate'" ;;
  bad-value)       good "$in"; extra=(--cc-up 0); want_msg="--cc-up: expected an integer from 1 to 1000, got '0'" ;;
  bad-interp)      good "$in"; extra=(--interp sinc); want_msg="--interp: expected one of linear\|cubic, got 'sinc'" ;;
  out-is-in)       good "$in"; out="$in"; want_msg="in.h5: the output would overwrite the input file .*in.h5" ;;
  out-dir-missing) good "$in"; out="$dir/no/such/dir/out.h5"; want_msg="out.h5: output directory .*/no/such/dir does not exist" ;;
  ref-shape)       good "$in"; "$SF_H5CHECK" mkbad ref-wrong-shape "$dir/ref.h5"; extra=(--reference-file "$dir/ref.h5:/reference")
                   want_msg="ref.h5:/reference: reference is 32x48x1 but the frames are 48x56x1" ;;
  weights)         good "$in"; extra=(--weight 1,2); want_msg="--weight: 2 weights given but .*in.h5 has 1 channel" ;;
  flow-alpha)      good "$in"; extra=(--alpha 0); want_msg="--alpha: every value must be in \(0, 1e\+06\], got '0'" ;;
  flow-alpha-neg)  good "$in"; extra=(--alpha 2,-1); want_msg="--alpha: every value must be in \(0, 1e\+06\], got '2,-1'" ;;
  flow-eta-high)   good "$in"; extra=(--eta 1.2); want_msg="--eta: every value must be in \(0, 1\], got '1.2'" ;;
  flow-eta-zero)   good "$in"; extra=(--eta 0); want_msg="--eta: every value must be in \(0, 1\], got '0'" ;;
  flow-a-data)     good "$in"; extra=(--a-data 1.5); want_msg="--a-data: every value must be in \(0, 1\], got '1.5'" ;;
  flow-a-data-count) good "$in"; extra=(--a-data 0.4,0.5); want_msg="--a-data: 2 values given but .*in.h5 has 1 channel" ;;
  flow-weights)    good "$in"; extra=(--weight 1,2,3); want_msg="--weight: 3 weights given but .*in.h5 has 1 channel" ;;
  flow-ref-shape)  good "$in"; "$SF_H5CHECK" mkbad ref-wrong-shape "$dir/ref.h5"; extra=(--reference-file "$dir/ref.h5:/reference")
                   want_msg="ref.h5:/reference: reference is 32x48x1 but the frames are 48x56x1" ;;
  flow-sigma)      good "$in"; extra=(--sigma 1,2); want_msg="--sigma: expected S or SY,SX,ST, got '1,2'" ;;
  *) fail "unknown case $case_" ;;
esac
# A previous output at the target must survive a failed run.
prev=""
if [ "$out" != "$in" ] && [ -d "$(dirname "$out")" ]; then
  echo "previous result" > "$out"; prev=$(md5sum < "$out")
fi
before=""; [ -f "$in" ] && before=$(md5sum < "$in")
set +e
OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
  "$SLABFLOW" register "$in" -o "$out" --method "$method" "${extra[@]}" 2> "$dir/stderr" > "$dir/stdout"
code=$?
set -e
cat "$dir/stderr" >&2
sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" "$dir/stderr" "$out"
if [ -n "$prev" ]; then
  [ "$(md5sum < "$out")" = "$prev" ] || fail "$case_: the previous output was damaged"
elif [ "$out" != "$in" ]; then
  [ ! -e "$out" ] || fail "$case_: an output file was written"
fi
[ -z "$before" ] || [ "$(md5sum < "$in")" = "$before" ] || fail "$case_: the input was modified"
echo "ok: $case_ -> exit $code: $(grep '^slabflow: error:' "$dir/stderr")"
