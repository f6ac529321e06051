#!/bin/bash
# Strong scaling of `slabflow register --method rigid` over MPI ranks x OpenMP threads on
# one node. See benchmarks/README.md.
#
# usage: benchmarks/bench_register.sh [CSV]     (default benchmarks/results/register_rigid.csv)
#
# Environment (defaults in brackets):
#   SLABFLOW        binary [<repo>/build/slabflow]
#   FRAMES          frames of the synthetic video [240]; HEIGHT, WIDTH [512, 512]
#   REPS            timed runs per configuration, after one warm-up [5]
#   RANKS, THREADS  lists to combine ["1 2", "1 2"]
#   SEED            synth seed [1]
#   REGISTER_ARGS   extra `slabflow register` options, word-split [none]
#   RUN_TIMEOUT     seconds before one run counts as hung and fails [900]
#   TOLERANCE_PX    largest accepted RMS shift error after removing the mean offset [0.1]
#   MPIRUN_ARGS     extra mpirun options, word-split [none]
#   KEEP_TMP=1      keep the temporary directory (input, outputs, logs)
#
# Each run is validated (exit status 0, output exists and is complete, /shifts matches
# /truth/shifts to TOLERANCE_PX RMS after removing the mean offset) before its time is
# used; any failure stops the benchmark with the run's log and a non-zero exit status.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

CSV=${1:-$repo/benchmarks/results/register_rigid.csv}
SLABFLOW=${SLABFLOW:-$repo/build/slabflow}
FRAMES=${FRAMES:-240}
HEIGHT=${HEIGHT:-512}
WIDTH=${WIDTH:-512}
REPS=${REPS:-5}
RANKS=${RANKS:-1 2}
THREADS=${THREADS:-1 2}
SEED=${SEED:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
TOLERANCE_PX=${TOLERANCE_PX:-0.1}
read -r -a register_args <<< "${REGISTER_ARGS:-}"
read -r -a extra_mpirun_args <<< "${MPIRUN_ARGS:-}"

die() { echo "bench_register: error: $*" >&2; exit 1; }

[[ -x "$SLABFLOW" ]] || die "slabflow binary '$SLABFLOW' not found; build it" \
    "(cmake -S . -B build && cmake --build build) or set SLABFLOW"
SLABFLOW=$(cd "$(dirname "$SLABFLOW")" && pwd)/$(basename "$SLABFLOW")
command -v mpirun >/dev/null || die "mpirun not on PATH"
command -v python3 >/dev/null || die "python3 not on PATH (needed to validate outputs)"
(( REPS >= 1 )) || die "REPS must be >= 1"
(( REPS >= 5 )) || echo "bench_register: warning: REPS=$REPS < 5: not a house-style result" >&2

cores=$(nproc)
if [[ $(id -u) == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_register.XXXXXX")
cleanup() {
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "bench_register: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

# ---- validation and summary helpers (python3; h5py if present, else h5dump) ------------
cat > "$tmp/check.py" <<'EOF'
"""check.py OUT.h5 IN.h5 FRAMES RANKS THREADS TOL STDOUT_LOG -> one line of timings."""
import math, os, re, subprocess, sys
out, inp, frames, ranks, threads, tol, log = sys.argv[1:8]
frames, ranks, threads, tol = int(frames), int(ranks), int(threads), float(tol)
NAMES = ["time_total_s", "time_setup_s", "time_reference_s", "time_read_s",
         "time_compute_s", "time_write_s", "ranks", "threads", "complete", "backend"]
def fail(msg):
    sys.exit(f"validation failed: {out}: {msg}")
try:
    import h5py, numpy as np
    with h5py.File(out, "r") as f, h5py.File(inp, "r") as g:
        a = {k: f.attrs[k] for k in NAMES if k in f.attrs}
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in a.items()}
        est = f["/shifts"][()].astype(np.float64).reshape(-1, 2).tolist()
        tru = g["/truth/shifts"][()].astype(np.float64).reshape(-1, 2).tolist()
except ImportError:  # h5dump fallback: attributes as text, datasets as raw binary
    import struct
    def attr(name):
        r = subprocess.run(["h5dump", "-a", "/" + name, out], capture_output=True, text=True)
        m = re.search(r"\(0\):\s*(\"?)(.*?)\1\s*$", r.stdout, re.M)
        return m.group(2) if r.returncode == 0 and m else None
    def pairs(path, ds):
        b = os.path.join(os.path.dirname(out), "dump.bin")
        subprocess.run(["h5dump", "-d", ds, "-b", "LE", "-o", b, path],
                       check=True, capture_output=True)
        raw = open(b, "rb").read(); os.remove(b)
        n = len(raw) // 4
        v = struct.unpack(f"<{n}f", raw)
        return [list(v[i:i + 2]) for i in range(0, n, 2)]
    a = {k: attr(k) for k in NAMES}
    a = {k: v for k, v in a.items() if v is not None}
    est, tru = pairs(out, "/shifts"), pairs(inp, "/truth/shifts")
for k in NAMES:
    if k not in a:
        fail(f"attribute /{k} missing")
if int(a["complete"]) != 1:
    fail(f"complete = {a['complete']}, expected 1")
if (int(a["ranks"]), int(a["threads"])) != (ranks, threads):
    fail(f"ranks x threads = {a['ranks']} x {a['threads']}, expected {ranks} x {threads}")
if len(est) != frames or len(tru) != frames:
    fail(f"/shifts has {len(est)} rows, /truth/shifts {len(tru)}, expected {frames}")
d = [[e[0] - t[0], e[1] - t[1]] for e, t in zip(est, tru)]
mu = [sum(r[0] for r in d) / frames, sum(r[1] for r in d) / frames]
rms = math.sqrt(sum((r[0] - mu[0]) ** 2 + (r[1] - mu[1]) ** 2 for r in d) / frames)
if not rms < tol:
    fail(f"RMS shift error {rms:.4f} px after removing the mean offset "
         f"({mu[0]:+.3f}, {mu[1]:+.3f}) px is not < {tol} px")
total = float(a["time_total_s"])
if not total > 0:
    fail(f"time_total_s = {total}")
fps = frames / total
m = re.search(r"([0-9.]+) frames/s overall", open(log).read())
if not m:
    fail("no 'frames/s overall' line on stdout")
if abs(frames / float(m.group(1)) - total) > max(0.01 * total, 0.005):
    print(f"warning: {out}: stdout says {m.group(1)} frames/s, time_total_s gives {fps:.2f}",
          file=sys.stderr)
t = [float(a[k]) for k in NAMES[:6]]
print(a["backend"], f"{fps:.3f}", *(f"{x:.4f}" for x in t), f"{rms:.4f}")
EOF

cat > "$tmp/summary.py" <<'EOF'
"""summary.py CSV: median/min/max frames/s per configuration, strong-scaling efficiency."""
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
configs = {}
for r in rows:
    configs.setdefault(r["config"], []).append(r)
base = configs.get("1x1")
t1 = statistics.median(float(r["total_s"]) for r in base) if base else None
print(f"{'config':>6} {'ranks':>5} {'thr':>3} {'runs':>4} {'median f/s':>10} {'min f/s':>8}"
      f" {'max f/s':>8} {'median s':>8} {'ref s':>6} {'speedup':>7} {'eff':>5}")
for name, rs in configs.items():
    fps = [float(r["frames_per_s"]) for r in rs]
    tot = statistics.median(float(r["total_s"]) for r in rs)
    ref = statistics.median(float(r["reference_s"]) for r in rs)
    n = int(rs[0]["ranks"]) * int(rs[0]["threads"])
    sp = f"{t1 / tot:7.2f}" if t1 else "      -"
    eff = f"{t1 / (n * tot):5.2f}" if t1 else "    -"
    print(f"{name:>6} {rs[0]['ranks']:>5} {rs[0]['threads']:>3} {len(rs):>4}"
          f" {statistics.median(fps):10.2f} {min(fps):8.2f} {max(fps):8.2f}"
          f" {tot:8.3f} {ref:6.3f} {sp} {eff}")
print("eff = T1/(N*TN), N = ranks*threads, T = median time_total_s; "
      "speedup = T1/TN; baseline 1x1 of the same binary on the same input")
EOF

# ---- binary snapshot and input ---------------------------------------------------------
# Run a private copy, so a rebuild of build/ during the benchmark cannot mix two binaries.
cp "$SLABFLOW" "$tmp/slabflow"
echo "bench_register: $(date --iso-8601=seconds) on $(hostname), $cores core(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench_register: $("$tmp/slabflow" version), copy of $SLABFLOW (md5 $(md5sum < "$SLABFLOW" | cut -c1-12)), $(mpirun --version | sed -n 1p)"
SLABFLOW=$tmp/slabflow
input=$tmp/input.h5
"$SLABFLOW" synth video -o "$input" --frames "$FRAMES" --height "$HEIGHT" --width "$WIDTH" \
    --seed "$SEED" --motion rigid > "$tmp/synth.log" 2>&1 \
    || { cat "$tmp/synth.log" >&2; die "slabflow synth video failed"; }
echo "bench_register: input $FRAMES frames of ${HEIGHT}x${WIDTH} uint16 (seed $SEED)," \
     "options: --method rigid ${register_args[*]:-}; $REPS timed run(s) per configuration"

configs=()
for r in $RANKS; do
    for t in $THREADS; do
        configs+=("$r $t")
    done
done

# run_one RANKS THREADS REP: runs, validates and prints "backend fps total setup ... rms".
run_one() {
    local r=$1 t=$2 rep=$3 out log bind
    out=$tmp/out_${r}x${t}_$rep.h5
    log=$tmp/run_${r}x${t}_$rep.log
    rm -f "$out" "$out.partial"
    if (( r * t <= cores )); then
        bind=(--map-by "slot:PE=$t" --bind-to core)       # each rank owns t cores
    else
        bind=(--oversubscribe --bind-to none)               # more threads than cores
    fi
    local status=0
    OMP_NUM_THREADS=$t timeout "$RUN_TIMEOUT" \
        mpirun -np "$r" -x OMP_NUM_THREADS "${bind[@]}" "${extra_mpirun_args[@]}" \
        "$SLABFLOW" register "$input" -o "$out" --method rigid --threads "$t" \
        "${register_args[@]}" > "$log" 2> "$log.err" || status=$?
    if (( status != 0 )) || [[ ! -f "$out" ]]; then
        echo "---- ${r}x${t} rep $rep: exit status $status; output ${out##*/}" \
             "$( [[ -f "$out" ]] && echo exists || echo missing) ----" >&2
        echo "command: OMP_NUM_THREADS=$t mpirun -np $r ${bind[*]} $SLABFLOW register" \
             "$input -o $out --method rigid --threads $t ${register_args[*]:-}" >&2
        tail -n 30 "$log" "$log.err" >&2
        return 1
    fi
    if ! python3 "$tmp/check.py" "$out" "$input" "$FRAMES" "$r" "$t" "$TOLERANCE_PX" "$log"; then
        tail -n 20 "$log" "$log.err" >&2
        return 1
    fi
    rm -f "$out"    # keep the disk footprint at one output
}

# One warm-up per configuration, then REPS rounds that each run every configuration once,
# so slow drift of the machine (other jobs, thermal) spreads over all configurations.
for c in "${configs[@]}"; do
    read -r r t <<< "$c"
    echo "bench_register: warm-up ${r}x${t}"
    run_one "$r" "$t" 0 > /dev/null || die "warm-up ${r}x${t} failed (see above)"
done

mkdir -p "$(dirname "$CSV")"
echo "config,ranks,threads,backend,frames,height,width,rep,frames_per_s,total_s,setup_s,reference_s,read_s,compute_s,write_s" > "$CSV"
for (( rep = 1; rep <= REPS; rep++ )); do
    for c in "${configs[@]}"; do
        read -r r t <<< "$c"
        line=$(run_one "$r" "$t" "$rep") || die "run ${r}x${t} rep $rep failed (see above)"
        read -r backend fps total setup reference read_s compute write rms <<< "$line"
        echo "${r}x${t},$r,$t,$backend,$FRAMES,$HEIGHT,$WIDTH,$rep,$fps,$total,$setup,$reference,$read_s,$compute,$write" >> "$CSV"
        printf 'bench_register: %sx%s rep %d: %8.2f frames/s (%.3f s, rms %.4f px), load %s\n' \
            "$r" "$t" "$rep" "$fps" "$total" "$rms" "$(cut -d' ' -f1 /proc/loadavg)"
    done
done

echo "bench_register: $(date --iso-8601=seconds), load $(cut -d' ' -f1-3 /proc/loadavg); CSV: $CSV"
echo
python3 "$tmp/summary.py" "$CSV"
