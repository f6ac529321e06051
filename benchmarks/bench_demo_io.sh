#!/bin/bash
# The README demo (300 frames of 512x512 uint16, `register --method flow --quality balanced`)
# at 1x1, 1x2 and 2x1 ranks x threads, run by two builds (e.g. before and after a change of
# the engine), with the phases the summary line reports: read and write are the time the
# compute side waited for input and for the collective writes, so reading ahead and writing
# behind show as read and write going to zero.
#
# usage: benchmarks/bench_demo_io.sh OLD_SLABFLOW NEW_SLABFLOW [CSV]
#        (default CSV: benchmarks/results/demo_io.csv)
# Environment: REPS timed runs per configuration after one warm-up [5]; CONFIGS ["1x1 1x2
# 2x1"]; FRAMES [300]; KEEP_TMP=1 keeps the temporary directory.
# Prints the median of every phase per build and configuration; the CSV has every run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
old=$(realpath "$1") new=$(realpath "$2")
csv=${3:-$here/results/demo_io.csv}
REPS=${REPS:-5}
CONFIGS=${CONFIGS:-"1x1 1x2 2x1"}
FRAMES=${FRAMES:-300}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 SLABFLOW_PROGRESS_SECONDS=0
tmp=$(mktemp -d)
[ "${KEEP_TMP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$csv")"

"$new" synth video -o "$tmp/video.h5" --frames "$FRAMES" --height 512 --width 512 \
    --motion nonrigid --max-shift 6 >/dev/null

echo "build,ranks,threads,rep,total_s,setup_s,reference_s,read_s,compute_s,write_s,wait_s,frames_per_s" >"$csv"
for cfg in $CONFIGS; do
    np=${cfg%x*} th=${cfg#*x}
    for b in old new; do
        bin=$old; [ $b = new ] && bin=$new
        for rep in $(seq 0 "$REPS"); do
            rm -f "$tmp/out.h5"
            log=$(OMP_NUM_THREADS=$th mpirun -np "$np" --oversubscribe --bind-to none "$bin" register \
                "$tmp/video.h5" -o "$tmp/out.h5" --method flow --quality balanced --threads "$th" 2>&1) || {
                echo "$log" >&2
                echo "bench_demo_io: $b at $cfg failed" >&2
                exit 1
            }
            [ "$rep" = 0 ] && continue # warm-up
            # "  12.3 frames/s overall (24.40 s: setup 0.10, reference 3.2, read 0.1, compute 19.0,
            # write 2.0[, wait 1.0])" (builds before the wait phase counted it as write)
            line=$(echo "$log" | grep "frames/s overall")
            vals=$(echo "$line" | sed -E 's/^ *([0-9.]+) frames\/s overall \(([0-9.]+) s: setup ([0-9.]+), reference ([0-9.]+), read ([0-9.]+), compute ([0-9.]+), write ([0-9.]+)(, wait ([0-9.]+))?\).*/\2,\3,\4,\5,\6,\7,\9,\1/; s/,,/,,/')
            echo "$b,$np,$th,$rep,$vals" >>"$csv"
        done
    done
done

/usr/bin/python3 - "$csv" <<'PY'
import csv, sys, statistics as st
rows = list(csv.DictReader(open(sys.argv[1])))
keys = ["total_s", "setup_s", "reference_s", "read_s", "compute_s", "write_s", "wait_s", "frames_per_s"]
print("| build | ranks x threads | " + " | ".join(k.replace("_s", " s").replace("_per_", "/") for k in keys) + " |")
print("|---|---|" + "---|" * len(keys))
seen = []
for r in rows:
    k = (r["ranks"], r["threads"], r["build"])
    if k not in seen: seen.append(k)
for np_, th, b in seen:
    sel = [r for r in rows if (r["ranks"], r["threads"], r["build"]) == (np_, th, b)]
    med = [st.median(float(r[k]) for r in sel) if all(r[k] for r in sel) else float("nan") for k in keys]
    print(f"| {b} | {np_} x {th} | " + " | ".join("-" if m != m else f"{m:.2f}" for m in med) + " |")
PY
