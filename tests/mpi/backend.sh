#!/usr/bin/env bash
# register --backend (issue 16 point 4), where this machine has no usable CUDA device:
#   --backend cuda  exit 2 before any work, exactly one error line (from rank 0), no output
#                   or .partial left;
#   --backend auto  exactly one warning line, then the bytes of --backend cpu and the
#                   provenance attribute backend = "cpu".
# Where a device is visible (test_gpu exits 0) the cuda case is the GPU tests' business and
# this test checks only that auto and cpu both finish.
#   backend.sh DIR NP TEST_GPU
source "$(dirname "$0")/common.sh"
dir=$1 np=$2 test_gpu=$3
rm -rf "$dir" && mkdir -p "$dir"
"$SLABFLOW" synth video -o "$dir/in.h5" --frames 12 --height 48 --width 56 --seed 2 >/dev/null
opts=(--method rigid --buffer-size 4 --reference-frames 0:9 --threads 1)
run() { # run NAME [options]: exit code in $code, stderr in $dir/NAME.err
  local name=$1; shift
  set +e
  OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
    "$SLABFLOW" register "$dir/in.h5" -o "$dir/$name.h5" "${opts[@]}" "$@" 2> "$dir/$name.err" > "$dir/$name.out"
  code=$?
  set -e
  cat "$dir/$name.err" >&2
}
device=0
set +e; "$test_gpu" >/dev/null 2>&1; [ $? -eq 0 ] && device=1; set -e

run cpu --backend cpu
[ "$code" -eq 0 ] || fail "--backend cpu: exit $code"
! grep -q '^slabflow: warning' "$dir/cpu.err" || fail "--backend cpu: a warning"
run auto --backend auto
[ "$code" -eq 0 ] || fail "--backend auto: exit $code"
if [ "$device" -eq 1 ]; then echo "a CUDA device is visible: auto and cpu finished"; exit 0; fi

n=$(grep -c '^slabflow: warning: --backend auto: .* on [0-9]* of '"$np"' rank(s); they run on the CPU$' "$dir/auto.err" || true)
[ "$n" -eq 1 ] || fail "--backend auto: expected one warning line, found $n"
[ "$(grep -c '^slabflow: \(warning\|error\)' "$dir/auto.err")" -eq 1 ] || fail "--backend auto: more than the warning"
"$SF_H5CHECK" same "$dir/cpu.h5" "$dir/auto.h5" /registered /shifts /reference
h5dump -a /backend "$dir/auto.h5" | grep -q '"cpu"' || fail "--backend auto: provenance backend is not \"cpu\""

run cuda --backend cuda
sf_check_failed_run cuda "$code" 2 "--backend cuda: (this build has no CUDA|no CUDA device visible) \\($np rank\\(s\\)\\); use --backend cpu or auto" \
  "$dir/cuda.err" "$dir/cuda.h5"
[ ! -e "$dir/cuda.h5" ] || fail "--backend cuda: an output was written"
[ "$(grep -c '^slabflow:' "$dir/cuda.err")" -eq 1 ] || fail "--backend cuda: more than the error line (work started?)"
[ ! -s "$dir/cuda.out" ] || fail "--backend cuda: something on stdout (work started?)"

run bad --backend opencl
sf_check_failed_run bad "$code" 2 "--backend: expected one of cpu\\|cuda\\|auto, got 'opencl'" "$dir/bad.err" "$dir/bad.h5"
echo "backend: cpu, auto (warning, same bytes) and cuda (exit 2) as expected at np $np"
