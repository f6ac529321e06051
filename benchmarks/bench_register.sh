#!/bin/bash
# Strong scaling of `slabflow register --method rigid` (METHOD=flow: `--method flow`) over
# MPI ranks x OpenMP threads on one node. See benchmarks/README.md.
#
# usage: benchmarks/bench_register.sh [CSV]   (default benchmarks/results/register_METHOD.csv)
#
# Environment (defaults in brackets; "rigid | flow" where they differ by METHOD):
#   METHOD          rigid or flow [rigid]
#   SLABFLOW        binary [<repo>/build/slabflow]
#   FRAMES          frames of the synthetic video [240 | 256]; HEIGHT, WIDTH [512, 512]
#   REPS            timed runs per configuration, after one warm-up [5]
#   RANKS, THREADS  lists to combine ["1 2", "1 2"]
#   SEED            synth seed [1]
#   REGISTER_ARGS   extra `slabflow register` options, word-split [none]
#   RUN_TIMEOUT     seconds before one run counts as hung and fails [900]
#   TOLERANCE_PX    rigid: largest accepted RMS shift error after removing the mean offset
#                   [0.1]; flow: largest accepted mean endpoint error of /flow, 25-px border
#                   cropped [0.3]
#   QUALITY         flow only: --quality fast|balanced|quality [balanced]
#   MPIRUN_ARGS     extra mpirun options, word-split [none]
#   KEEP_TMP=1      keep the temporary directory (input, outputs, logs)
#
# rigid: synth --motion rigid; each run is validated (exit status 0, output exists and is
# complete, /shifts matches /truth/shifts to TOLERANCE_PX RMS after removing the mean
# offset) before its time is used.
# flow: synth --motion nonrigid --max-shift 4; register --quality QUALITY --save-flow
# --reference-file INPUT:/truth/clean_mean (no reference-building phase), validated by the
# mean endpoint error of /flow against /truth/flow (25-px border cropped, needs numpy).
# Any failure stops the benchmark with the run's log and a non-zero exit status.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

METHOD=${METHOD:-rigid}
case $METHOD in
    rigid) default_frames=240 default_tol=0.1 default_buffer=64 ;;
    flow)  default_frames=256 default_tol=0.3 default_buffer=128 ;;
    *) echo "bench_register: error: METHOD must be rigid or flow, not '$METHOD'" >&2; exit 1 ;;
esac
CSV=${1:-$repo/benchmarks/results/register_$METHOD.csv}
SLABFLOW=${SLABFLOW:-$repo/build/slabflow}
FRAMES=${FRAMES:-$default_frames}
HEIGHT=${HEIGHT:-512}
WIDTH=${WIDTH:-512}
REPS=${REPS:-5}
RANKS=${RANKS:-1 2}
THREADS=${THREADS:-1 2}
SEED=${SEED:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
TOLERANCE_PX=${TOLERANCE_PX:-$default_tol}
QUALITY=${QUALITY:-balanced}
read -r -a register_args <<< "${REGISTER_ARGS:-}"
read -r -a extra_mpirun_args <<< "${MPIRUN_ARGS:-}"

die() { echo "bench_register: error: $*" >&2; exit 1; }

[[ -x "$SLABFLOW" ]] || die "slabflow binary '$SLABFLOW' not found; build it" \
    "(cmake -S . -B build && cmake --build build) or set SLABFLOW"
SLABFLOW=$(cd "$(dirname "$SLABFLOW")" && pwd)/$(basename "$SLABFLOW")
command -v mpirun >/dev/null || die "mpirun not on PATH"
command -v python3 >/dev/null || die "python3 not on PATH (needed to validate outputs)"
if [[ $METHOD == flow ]]; then
    python3 -c 'import numpy' 2>/dev/null || die "METHOD=flow needs numpy for python3 (pip install numpy h5py)"
fi
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
"""check.py METHOD OUT.h5 IN.h5 FRAMES RANKS THREADS TOL STDOUT_LOG -> one line of timings.

rigid: RMS of /shifts - /truth/shifts after removing the mean offset < TOL (last field);
flow: mean endpoint error of /flow against /truth/flow, 25-px border cropped, <= TOL."""
import math, os, re, subprocess, sys
method, out, inp, frames, ranks, threads, tol, log = sys.argv[1:9]
frames, ranks, threads, tol = int(frames), int(ranks), int(threads), float(tol)
NAMES = ["time_total_s", "time_setup_s", "time_reference_s", "time_read_s",
         "time_compute_s", "time_write_s", "ranks", "threads", "complete", "backend"]
CROP = 25  # border excluded from the EPE (pyflowreg's synthetic protocol, as bench_flow_peer)
def fail(msg):
    sys.exit(f"validation failed: {out}: {msg}")
try:
    import h5py
except ImportError:
    h5py = None
if h5py is not None:
    import numpy as np
    with h5py.File(out, "r") as f:
        a = {k: f.attrs[k] for k in NAMES if k in f.attrs}
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in a.items()}
    def pairs(path, ds):
        with h5py.File(path, "r") as f:
            return f[ds][()].astype(np.float64).reshape(-1, 2).tolist()
    def flow_frames(path, ds):  # shape, then (T,H,W,2) float32 blocks of frames
        f = h5py.File(path, "r")
        d = f[ds]
        def blocks():
            with f:
                for t0 in range(0, d.shape[0], 8):
                    yield d[t0:t0 + 8]
        return d.shape, blocks()
else:  # h5dump fallback: attributes as text, datasets as raw binary
    import struct
    def attr(name):
        r = subprocess.run(["h5dump", "-a", "/" + name, out], capture_output=True, text=True)
        m = re.search(r"\(0\):\s*(\"?)(.*?)\1\s*$", r.stdout, re.M)
        return m.group(2) if r.returncode == 0 and m else None
    def dump(path, ds, name):
        b = os.path.join(os.path.dirname(out), name)
        subprocess.run(["h5dump", "-d", ds, "-b", "LE", "-o", b, path],
                       check=True, capture_output=True)
        return b
    def pairs(path, ds):
        b = dump(path, ds, "dump.bin")
        raw = open(b, "rb").read(); os.remove(b)
        n = len(raw) // 4
        v = struct.unpack(f"<{n}f", raw)
        return [list(v[i:i + 2]) for i in range(0, n, 2)]
    def flow_frames(path, ds):
        import numpy as np
        r = subprocess.run(["h5dump", "-H", "-d", ds, path], capture_output=True, text=True)
        m = re.search(r"DATASPACE\s+SIMPLE\s*\{\s*\(([^)]*)\)", r.stdout)
        if r.returncode != 0 or not m:
            fail(f"cannot read the shape of {path}:{ds}")
        shape = tuple(int(x) for x in m.group(1).split(","))
        b = dump(path, ds, "dump_" + ds.strip("/").replace("/", "_") + ".bin")
        v = np.fromfile(b, dtype="<f4"); os.remove(b)
        if v.size != math.prod(shape):
            fail(f"{path}:{ds} dump has {v.size} values, shape {shape}")
        v = v.reshape(shape)
        return shape, (v[t0:t0 + 8] for t0 in range(0, shape[0], 8))
    a = {k: attr(k) for k in NAMES}
    a = {k: v for k, v in a.items() if v is not None}
for k in NAMES:
    if k not in a:
        fail(f"attribute /{k} missing")
if int(a["complete"]) != 1:
    fail(f"complete = {a['complete']}, expected 1")
if (int(a["ranks"]), int(a["threads"])) != (ranks, threads):
    fail(f"ranks x threads = {a['ranks']} x {a['threads']}, expected {ranks} x {threads}")
if method == "rigid":
    est, tru = pairs(out, "/shifts"), pairs(inp, "/truth/shifts")
    if len(est) != frames or len(tru) != frames:
        fail(f"/shifts has {len(est)} rows, /truth/shifts {len(tru)}, expected {frames}")
    d = [[e[0] - t[0], e[1] - t[1]] for e, t in zip(est, tru)]
    mu = [sum(r[0] for r in d) / frames, sum(r[1] for r in d) / frames]
    err = math.sqrt(sum((r[0] - mu[0]) ** 2 + (r[1] - mu[1]) ** 2 for r in d) / frames)
    if not err < tol:
        fail(f"RMS shift error {err:.4f} px after removing the mean offset "
             f"({mu[0]:+.3f}, {mu[1]:+.3f}) px is not < {tol} px")
else:
    import numpy as np
    es, eblocks = flow_frames(out, "/flow")
    ts, tblocks = flow_frames(inp, "/truth/flow")
    if len(es) != 4 or es[0] != frames or es[3] != 2 or tuple(ts) != tuple(es):
        fail(f"/flow is {tuple(es)}, /truth/flow {tuple(ts)}, expected ({frames},H,W,2)")
    if es[1] <= 2 * CROP or es[2] <= 2 * CROP:
        fail(f"frames of {es[1]}x{es[2]} are too small for a {CROP}-px crop")
    total_epe, n = 0.0, 0
    for e, t in zip(eblocks, tblocks):
        if not np.isfinite(e).all():
            fail("/flow contains NaN or Inf")
        d = (e[:, CROP:-CROP, CROP:-CROP, :].astype(np.float64)
             - t[:, CROP:-CROP, CROP:-CROP, :].astype(np.float64))
        total_epe += float(np.sqrt((d * d).sum(axis=-1)).sum())
        n += d.shape[0] * d.shape[1] * d.shape[2]
    err = total_epe / n
    if not err <= tol:
        fail(f"mean endpoint error of /flow {err:.4f} px ({CROP}-px border cropped) "
             f"is not <= {tol} px")
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
print(a["backend"], f"{fps:.3f}", *(f"{x:.4f}" for x in t), f"{err:.4f}")
EOF

cat > "$tmp/summary.py" <<'EOF'
"""summary.py CSV: median/min/max frames/s per configuration, strong-scaling efficiency
(and the median EPE when the CSV has an epe_px column, METHOD=flow)."""
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
has_epe = bool(rows) and "epe_px" in rows[0]
configs = {}
for r in rows:
    configs.setdefault(r["config"], []).append(r)
base = configs.get("1x1")
t1 = statistics.median(float(r["total_s"]) for r in base) if base else None
print(f"{'config':>6} {'ranks':>5} {'thr':>3} {'runs':>4} {'median f/s':>10} {'min f/s':>8}"
      f" {'max f/s':>8} {'median s':>8} {'ref s':>6} {'speedup':>7} {'eff':>5}"
      + (f" {'EPE px':>6}" if has_epe else ""))
for name, rs in configs.items():
    fps = [float(r["frames_per_s"]) for r in rs]
    tot = statistics.median(float(r["total_s"]) for r in rs)
    ref = statistics.median(float(r["reference_s"]) for r in rs)
    n = int(rs[0]["ranks"]) * int(rs[0]["threads"])
    sp = f"{t1 / tot:7.2f}" if t1 else "      -"
    eff = f"{t1 / (n * tot):5.2f}" if t1 else "    -"
    print(f"{name:>6} {rs[0]['ranks']:>5} {rs[0]['threads']:>3} {len(rs):>4}"
          f" {statistics.median(fps):10.2f} {min(fps):8.2f} {max(fps):8.2f}"
          f" {tot:8.3f} {ref:6.3f} {sp} {eff}"
          + (f" {statistics.median(float(r['epe_px']) for r in rs):6.4f}" if has_epe else ""))
print("eff = T1/(N*TN), N = ranks*threads, T = median time_total_s; "
      "speedup = T1/TN; baseline 1x1 of the same binary on the same input")
if has_epe:
    print("EPE = median over runs of the mean endpoint error of /flow against /truth/flow, "
          "25-px border cropped")
EOF

# ---- binary snapshot and input ---------------------------------------------------------
# Run a private copy, so a rebuild of build/ during the benchmark cannot mix two binaries.
cp "$SLABFLOW" "$tmp/slabflow"
echo "bench_register: $(date --iso-8601=seconds) on $(hostname), $cores core(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench_register: $("$tmp/slabflow" version), copy of $SLABFLOW (md5 $(md5sum < "$SLABFLOW" | cut -c1-12)), $(mpirun --version | sed -n 1p)"
SLABFLOW=$tmp/slabflow
input=$tmp/input.h5
if [[ $METHOD == rigid ]]; then
    synth_args=(--motion rigid)
    method_args=(--method rigid)
    method_shown=(--method rigid)
else
    # The truth's motion-free scene as the reference makes /flow absolute, comparable with
    # /truth/flow; slabflow then builds no reference, so that phase is not timed here.
    synth_args=(--motion nonrigid --max-shift 4)
    method_args=(--method flow --quality "$QUALITY" --save-flow
                 --reference-file "$input:/truth/clean_mean")
    method_shown=(--method flow --quality "$QUALITY" --save-flow
                  --reference-file INPUT:/truth/clean_mean)
fi
"$SLABFLOW" synth video -o "$input" --frames "$FRAMES" --height "$HEIGHT" --width "$WIDTH" \
    --seed "$SEED" "${synth_args[@]}" > "$tmp/synth.log" 2>&1 \
    || { cat "$tmp/synth.log" >&2; die "slabflow synth video failed"; }
motion_note=""
[[ $METHOD == rigid ]] || motion_note=", nonrigid motion up to 4 px"
echo "bench_register: input $FRAMES frames of ${HEIGHT}x${WIDTH} uint16 (seed $SEED$motion_note)," \
     "options: ${method_shown[*]} ${register_args[*]:-}; $REPS timed run(s) per configuration"

# Frames are spread over ranks in whole segments of --buffer-size frames: a rank without a
# segment idles, and the scaling over ranks says nothing.
buffer=$default_buffer
for (( i = 0; i < ${#register_args[@]}; i++ )); do
    case ${register_args[i]} in
        --buffer-size) buffer=${register_args[i + 1]:-$buffer} ;;
        --buffer-size=*) buffer=${register_args[i]#*=} ;;
    esac
done
segments=$(( (FRAMES + buffer - 1) / buffer ))
for r in $RANKS; do
    (( r <= segments )) || echo "bench_register: warning: $FRAMES frames make $segments" \
        "segment(s) of --buffer-size $buffer: with $r ranks some ranks idle" >&2
done

configs=()
for r in $RANKS; do
    for t in $THREADS; do
        configs+=("$r $t")
    done
done

# run_one RANKS THREADS REP: runs, validates and prints "backend fps total setup ... err"
# (err: the RMS shift error for rigid, the EPE for flow).
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
        "$SLABFLOW" register "$input" -o "$out" "${method_args[@]}" --threads "$t" \
        "${register_args[@]}" > "$log" 2> "$log.err" || status=$?
    if (( status != 0 )) || [[ ! -f "$out" ]]; then
        echo "---- ${r}x${t} rep $rep: exit status $status; output ${out##*/}" \
             "$( [[ -f "$out" ]] && echo exists || echo missing) ----" >&2
        echo "command: OMP_NUM_THREADS=$t mpirun -np $r ${bind[*]} $SLABFLOW register" \
             "$input -o $out ${method_args[*]} --threads $t ${register_args[*]:-}" >&2
        tail -n 30 "$log" "$log.err" >&2
        return 1
    fi
    if ! python3 "$tmp/check.py" "$METHOD" "$out" "$input" "$FRAMES" "$r" "$t" "$TOLERANCE_PX" "$log"; then
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
if [[ $METHOD == rigid ]]; then
    echo "config,ranks,threads,backend,frames,height,width,rep,frames_per_s,total_s,setup_s,reference_s,read_s,compute_s,write_s" > "$CSV"
    err_name=rms
else
    echo "config,ranks,threads,backend,quality,frames,height,width,rep,frames_per_s,total_s,setup_s,reference_s,read_s,compute_s,write_s,epe_px" > "$CSV"
    err_name=epe
fi
for (( rep = 1; rep <= REPS; rep++ )); do
    for c in "${configs[@]}"; do
        read -r r t <<< "$c"
        line=$(run_one "$r" "$t" "$rep") || die "run ${r}x${t} rep $rep failed (see above)"
        read -r backend fps total setup reference read_s compute write err <<< "$line"
        if [[ $METHOD == rigid ]]; then
            echo "${r}x${t},$r,$t,$backend,$FRAMES,$HEIGHT,$WIDTH,$rep,$fps,$total,$setup,$reference,$read_s,$compute,$write" >> "$CSV"
        else
            echo "${r}x${t},$r,$t,$backend,$QUALITY,$FRAMES,$HEIGHT,$WIDTH,$rep,$fps,$total,$setup,$reference,$read_s,$compute,$write,$err" >> "$CSV"
        fi
        printf 'bench_register: %sx%s rep %d: %8.2f frames/s (%.3f s, %s %.4f px), load %s\n' \
            "$r" "$t" "$rep" "$fps" "$total" "$err_name" "$err" "$(cut -d' ' -f1 /proc/loadavg)"
    done
done

echo "bench_register: $(date --iso-8601=seconds), load $(cut -d' ' -f1-3 /proc/loadavg); CSV: $CSV"
echo
python3 "$tmp/summary.py" "$CSV"
