#!/bin/bash
# Throughput of `slabflow slices` at 1 and 2 ranks (one thread each) against the same work
# done the anchor's way (benchmarks/peer_slices.py: numpy + nibabel, one process, one .npz
# per slice as the AVTE preprocess_2d_slices tool writes them). See benchmarks/README.md.
#
# usage: benchmarks/bench_slices.sh [CSV]   (default benchmarks/results/slices.csv)
#
# Environment (defaults in brackets):
#   SLABFLOW      binary [<repo>/build/slabflow]
#   CASES         synthetic cases [20]; SIZE "X Y Z" voxels per case ["256 256 128"]
#   REPS          timed slabflow runs per rank count, after one warm-up [5]
#   PY_REPS       timed Python runs, after PY_WARMUP warm-ups [5]; PY_WARMUP [1]
#   PY_CASES      cases the Python runs take (the first ones; its per-slice rate does not
#                 depend on how many) [4]; all of them: PY_CASES=$CASES
#   RANKS         rank counts ["1 2"]
#   WINDOW        context neighbours each side [2]
#   PY_COMPRESS   1: np.savez_compressed as the anchor does; 0: np.savez [1]
#   PYTHON        interpreter with numpy and nibabel [/usr/bin/python3]
#   KEEP_TMP=1    keep the temporary directory
#
# Each slabflow run is validated (exit 0, complete output, the expected slice count); the
# first is also compared slice by slice with tests/mpi/slices_ref.py. Peak RSS per rank
# comes from /usr/bin/time around every rank. Times are wall-clock of the whole command
# (startup, reading and decompressing, statistics, writing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
CSV=${1:-$repo/benchmarks/results/slices.csv}
SLABFLOW=${SLABFLOW:-$repo/build/slabflow}
CASES=${CASES:-20}
SIZE=${SIZE:-256 256 128}
REPS=${REPS:-5}
PY_REPS=${PY_REPS:-5}
PY_WARMUP=${PY_WARMUP:-1}
RANKS=${RANKS:-1 2}
WINDOW=${WINDOW:-2}
PY_COMPRESS=${PY_COMPRESS:-1}
PY_CASES=${PY_CASES:-4}
PYTHON=${PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SLABFLOW_PROGRESS_SECONDS=0
export OMPI_MCA_btl_vader_single_copy_mechanism=none

tmp=$(mktemp -d /tmp/bench_slices.XXXXXX)
[ "${KEEP_TMP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$CSV")"
read -r X Y Z <<<"$SIZE"
slices=$((CASES * Z))
mb=$("$PYTHON" -c "print($slices * (2 * $WINDOW + 1) * $X * $Y * 4 / 1e6)")

echo "bench_slices: $CASES cases of ${X}x${Y}x${Z} int16 (.nii.gz), window $WINDOW: $slices slices, $mb MB of float32 output" >&2
mpirun -np 2 --oversubscribe --bind-to none "$SLABFLOW" synth volumes -o "$tmp/data" --cases "$CASES" --size $X $Y $Z --seed 1 >&2
du -sh "$tmp/data" >&2

echo "tool,ranks,threads,run,seconds,slices,slices_per_s,MB_per_s,peak_rss_MB_per_rank" > "$CSV"

# slabflow: one run; prints "seconds max_rss_MB"
run_slabflow() {
  local np=$1 out=$tmp/out_np$1.h5
  rm -f "$out" "$tmp"/rss.*
  local t0 t1
  t0=$(date +%s.%N)
  OMP_NUM_THREADS=1 mpirun -np "$np" --oversubscribe --bind-to none \
    bash -c '/usr/bin/time -f "%M" -o "$0/rss.$OMPI_COMM_WORLD_RANK" "$@"' "$tmp" \
    "$SLABFLOW" slices "$tmp/data" -o "$out" --window "$WINDOW" --threads 1 > "$tmp/log" 2>&1 ||
    { cat "$tmp/log" >&2; echo "bench_slices: error: slabflow failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  "$PYTHON" - "$out" "$slices" <<'PY' || { echo "bench_slices: error: bad output" >&2; exit 1; }
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["complete"] == 1 and f.attrs["slices_written"] == int(sys.argv[2]), dict(f.attrs)
PY
  local rss
  rss=$(cat "$tmp"/rss.* | sort -n | tail -1)
  echo "$("$PYTHON" -c "print($t1 - $t0)") $((rss / 1024))"
}

for np in $RANKS; do
  run_slabflow "$np" > "$tmp/res" # warm-up (and page cache)
  if [ "$np" = "$(echo $RANKS | cut -d' ' -f1)" ]; then
    "$PYTHON" "$repo/tests/mpi/slices_ref.py" check "$tmp/out_np$np.h5" "$tmp/data" --window "$WINDOW" >&2 ||
      { echo "bench_slices: error: output differs from the reference" >&2; exit 1; }
  fi
  for r in $(seq 1 "$REPS"); do
    run_slabflow "$np" > "$tmp/res"
    read -r s rss < "$tmp/res"
    echo "slabflow,$np,1,$r,$s,$slices,$("$PYTHON" -c "print($slices/$s)"),$("$PYTHON" -c "print($mb/$s)"),$rss" >> "$CSV"
    echo "  slabflow np=$np run $r: $s s, peak RSS $rss MB per rank" >&2
  done
done

mkdir -p "$tmp/pydata/imagesTr" "$tmp/pydata/labelsTr"
for f in $(ls "$tmp/data/imagesTr" | sort | head -n "$PY_CASES"); do
  c=${f%_0000.nii.gz}
  ln -s "$tmp/data/imagesTr/$f" "$tmp/pydata/imagesTr/$f"
  ln -s "$tmp/data/labelsTr/$c.nii.gz" "$tmp/pydata/labelsTr/$c.nii.gz"
done
py_slices=$((PY_CASES * Z))
pyargs=(--window "$WINDOW")
[ "$PY_COMPRESS" = 1 ] && pyargs+=(--compress) || pyargs+=(--no-compress)
for r in $(seq $((1 - PY_WARMUP)) "$PY_REPS"); do
  rm -rf "$tmp/py"
  /usr/bin/time -f "%M" -o "$tmp/rss.py" "$PYTHON" "$here/peer_slices.py" "$tmp/pydata" "$tmp/py" "${pyargs[@]}" > "$tmp/pyline"
  IFS=, read -r n s sps mbs < <(tail -1 "$tmp/pyline")
  [ "$n" = "$py_slices" ] || { echo "bench_slices: error: python wrote $n slices, expected $py_slices" >&2; exit 1; }
  echo "  python run $r: $s s" >&2
  [ "$r" -ge 1 ] && echo "python,1,1,$r,$s,$n,$sps,$mbs,$(($(cat "$tmp/rss.py") / 1024))" >> "$CSV"
done
# The anchor's slices equal ours: one .npz per slice against the HDF5 output.
"$PYTHON" - "$tmp/py" "$tmp/out_np1.h5" <<'PY' >&2 || { echo "bench_slices: error: python and slabflow disagree" >&2; exit 1; }
import glob, os, sys, h5py, numpy as np
f = h5py.File(sys.argv[2], "r")
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.npz")))
worst = 0.0
for p in files[:: max(1, len(files) // 40)]:
    stem = os.path.basename(p)[:-4]
    case, t = stem.rsplit("_", 1)
    z = np.load(p)
    ours = f["/train/%s/image" % case][int(t)]
    worst = max(worst, float(np.abs(ours - z["image"]).max()))
    assert np.array_equal(f["/train/%s/label" % case][int(t)], z["label"].astype(np.int64))
assert worst < 1e-4, worst
print("bench_slices: python and slabflow slices agree (largest difference %.3g)" % worst)
PY

"$PYTHON" - "$CSV" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["tool"], int(r["ranks"])), []).append(r)
py = statistics.median(float(r["slices_per_s"]) for r in groups[("python", 1)])
print("| tool | ranks x threads | median s | slices/s | MB/s | per core vs Python | peak RSS/rank MB |")
print("|---|---|---|---|---|---|---|")
for (tool, np_), rs in sorted(groups.items(), key=lambda k: (k[0][0] != "slabflow", k[0][1])):
    s = statistics.median(float(r["seconds"]) for r in rs)
    sps = statistics.median(float(r["slices_per_s"]) for r in rs)
    mbs = statistics.median(float(r["MB_per_s"]) for r in rs)
    rss = max(int(r["peak_rss_MB_per_rank"]) for r in rs)
    print("| %s | %dx1 | %.2f | %.1f | %.1f | %.1fx | %d |" % (tool, np_, s, sps, mbs, sps / np_ / py, rss))
PY
