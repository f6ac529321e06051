#!/bin/bash
# Peer benchmark of slabflow's azimuthal integration against pyFAI (issue 13 point 6, spec
# integrate.md A3): full-size Eiger 4M frames (2167x2070 uint32, module gaps masked), 1000 bins,
# q_nm^-1, solid angle, Poisson errors, one core each. See benchmarks/README.md,
# "bench_integrate.sh".
#   (a) in memory, per frame: slabflow's kernel (tests/tools/sf_azim_run on the same frames)
#       against pyFAI's integrate1d(frame, 1000, unit='q_nm^-1', method=(split, 'csr',
#       'cython'), correctSolidAngle=True, mask=mask, error_model='poisson'), for Debian's
#       pyFAI and PyPI's newest, each with glibc malloc tuned, per split no / bbox / full;
#   (b) end to end from a bitshuffle-LZ4 file: `slabflow integrate` 1 rank x 1 thread against
#       pyFAI's direct-chunk-read way (h5py read_direct_chunk + bitshuffle.decompress_lz4 +
#       integrate1d + HDF5 write) in one process on one core;
#   (c) slabflow 1 rank x 2 threads against 1 x 1, end to end;
#   (d) the CSR build time of both.
#
# usage: benchmarks/bench_integrate.sh [CSV]   (default benchmarks/results/integrate.csv; the
#        end-to-end runs go to the same name with _e2e)
#
# Environment (defaults in brackets):
#   BUILD        build directory (configured Release and built when needed) [<repo>/build]
#   FRAMES       frames of the end-to-end stack [200]
#   MEM_FRAMES   frames held in memory for (a) [10]
#   REPS         timed runs per configuration after one warm-up [5]
#   SPLITS       splits for (a) ["no bbox full"]
#   E2E_SPLIT    split of the end-to-end runs [full]
#   CORE         CPU the one-core runs are pinned to [last CPU]; 2 threads use CPUs 0 and 1
#   PY_DEBIAN    interpreter with Debian's pyFAI, h5py and bitshuffle [/usr/bin/python3]
#   PY_PYPI      interpreter with PyPI's pyFAI [/opt/pyfai-pypi/bin/python; skipped if absent]
#   MALLOC_ENV   glibc malloc tuning for the Python runs ["MALLOC_MMAP_THRESHOLD_=33554432
#                MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456"]
#   TOL          relative tolerance of slabflow's /I against pyFAI's where there is signal [1e-4]
#   KEEP_TMP=1   keep the temporary directory
# Exit status 0 when every check and requirement passes, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
CSV=${1:-$repo/benchmarks/results/integrate.csv}
CSV_E2E=${CSV%.csv}_e2e.csv
BUILD=${BUILD:-$repo/build}
FRAMES=${FRAMES:-200}
MEM_FRAMES=${MEM_FRAMES:-10}
REPS=${REPS:-5}
SPLITS=${SPLITS:-no bbox full}
E2E_SPLIT=${E2E_SPLIT:-full}
CORE=${CORE:-$(( cores - 1 ))}
PY_DEBIAN=${PY_DEBIAN:-/usr/bin/python3}
PY_PYPI=${PY_PYPI:-/opt/pyfai-pypi/bin/python}
MALLOC_ENV=${MALLOC_ENV:-MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456}
TOL=${TOL:-1e-4}

die() { echo "bench_integrate: error: $*" >&2; exit 1; }
log() { echo "bench_integrate: $*"; }
(( REPS >= 5 )) || echo "bench_integrate: warning: REPS=$REPS < 5: not a house-style result" >&2
"$PY_DEBIAN" -c "import pyFAI, h5py, bitshuffle" 2>/dev/null \
    || die "$PY_DEBIAN lacks pyFAI, h5py or bitshuffle (apt-get install python3-pyfai python3-h5py bitshuffle)"
pys=("debian=$PY_DEBIAN")
if [ -x "$PY_PYPI" ] && "$PY_PYPI" -c "import pyFAI, h5py, hdf5plugin" 2>/dev/null; then
    pys+=("pypi=$PY_PYPI")
else
    echo "bench_integrate: warning: no PyPI pyFAI at $PY_PYPI: Debian's only" >&2
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
one=(taskset -c "$CORE")
two=(taskset -c "0,1")

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$repo" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" \
    || echo "bench_integrate: warning: $BUILD is not a Release build: timings not reportable" >&2
cmake --build "$BUILD" -j "$cores" --target slabflow sf_azim_run >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_integrate.XXXXXX")
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
# private copies: a rebuild during the benchmark cannot mix two versions
SF=$tmp/slabflow; RUN=$tmp/sf_azim_run
cp "$BUILD/slabflow" "$SF"; cp "$BUILD/tests/sf_azim_run" "$RUN"
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
log "slabflow $rev ($(md5sum < "$SF" | cut -c1-8)), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $cores CPUs, one-core runs on CPU $CORE"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

"$SF" synth detector -o "$tmp/in.h5" --frames "$FRAMES" --size full --compression bslz4 >/dev/null
PONI=$tmp/in.poni
pv() { grep -m1 "^$1:" "$PONI" | cut -d: -f2- | xargs; }
px1=$(grep -m1 '^Detector_config' "$PONI" | sed 's/.*"pixel1": *\([^,}]*\).*/\1/')
px2=$(grep -m1 '^Detector_config' "$PONI" | sed 's/.*"pixel2": *\([^,}]*\).*/\1/')
geo=(--shape 2167 2070 --dist "$(pv Distance)" --poni1 "$(pv Poni1)" --poni2 "$(pv Poni2)"
     --rot1 "$(pv Rot1)" --rot2 "$(pv Rot2)" --rot3 "$(pv Rot3)" --pixel1 "$px1" --pixel2 "$px2"
     --wavelength "$(pv Wavelength)" --unit q_nm^-1 --nbins 1000)
"$PY_DEBIAN" "$here/peer_integrate.py" export "$tmp/in.h5" "$tmp/fr" --frames "$MEM_FRAMES"

echo "impl,version,split,threads,frames,rep,frames_per_s,ms_per_frame,build_s" > "$CSV"
echo "impl,version,split,ranks,threads,frames,rep,seconds,frames_per_s" > "$CSV_E2E"

# ---- (a) in memory, per frame -------------------------------------------------------------
for p in "${pys[@]}"; do
    label=${p%%=*}; py=${p#*=}
    log "pyFAI ($label) in memory, $MEM_FRAMES frames, splits: $SPLITS"
    env $MALLOC_ENV "${one[@]}" "$py" "$here/peer_integrate.py" memory "$tmp/in.h5" "$PONI" \
        --frames "$MEM_FRAMES" --reps "$REPS" --splits "$SPLITS" --csv "$CSV" --label "$label" \
        --save "$tmp/py_$label"
done
for s in $SPLITS; do
    # validation output of frame 0, then REPS timed runs (each: one untimed, then 4 passes)
    "$RUN" "${geo[@]}" --split "$s" --frame "$tmp/fr.f32" --mask "$tmp/fr.mask" --out "$tmp/sf_$s"
    for rep in $(seq 1 "$REPS"); do
        line=$("${one[@]}" "$RUN" "${geo[@]}" --split "$s" --frame "$tmp/fr.f32" --frames "$MEM_FRAMES" \
               --mask "$tmp/fr.mask" --time $(( 4 * MEM_FRAMES + 1 )))
        ms=$(sed 's/.*integrate median \([0-9.]*\) ms.*/\1/' <<<"$line")
        bms=$(sed 's/.* build \([0-9.]*\) ms.*/\1/' <<<"$line")
        awk -v r="$rev" -v s="$s" -v f="$MEM_FRAMES" -v k="$rep" -v ms="$ms" -v b="$bms" \
            'BEGIN { printf "slabflow-kernel,%s,%s,1,%d,%d,%.4f,%.3f,%.4f\n", r, s, f, k, 1000 / ms, ms, b / 1000 }' >> "$CSV"
    done
    log "slabflow kernel $s: $line"
done

# ---- (b, c) end to end --------------------------------------------------------------------
best=$(python3 - "$CSV" "$E2E_SPLIT" <<'EOF'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["impl"].startswith("pyfai-") and r["split"] == sys.argv[2]]
med = {}
for r in rows:
    med.setdefault(r["impl"], []).append(float(r["frames_per_s"]))
print(max(med, key=lambda k: statistics.median(med[k]))[6:] if med else "debian")
EOF
)
bestpy=$PY_DEBIAN
for p in "${pys[@]}"; do [ "${p%%=*}" = "$best" ] && bestpy=${p#*=}; done
pyver=$("$bestpy" -c "import pyFAI; print(pyFAI.version)")
log "end to end ($FRAMES frames, split $E2E_SPLIT): slabflow 1x1, 1x2, pyFAI ($best $pyver) direct chunks"
sf_e2e() { # threads rep
    local t=$1 rep=$2 pin=("${one[@]}"); [ "$t" -gt 1 ] && pin=("${two[@]}")
    local out=$tmp/sf_e2e_$t.h5 t0 t1
    rm -f "$out"
    t0=$(date +%s.%N)
    OMP_NUM_THREADS=$t "${pin[@]}" "$SF" integrate "$tmp/in.h5" -o "$out" --poni "$PONI" \
        --split "$E2E_SPLIT" --threads "$t" > "$tmp/sf_e2e_$t.log" 2>&1 \
        || { cat "$tmp/sf_e2e_$t.log"; die "slabflow integrate failed (threads $t)"; }
    t1=$(date +%s.%N)
    "$PY_DEBIAN" - "$out" "$tmp/py_e2e.h5" "$TOL" "$FRAMES" <<'EOF' || die "slabflow end-to-end output differs from pyFAI's"
import sys, h5py, numpy as np
a, b, tol, n = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), float(sys.argv[3]), int(sys.argv[4])
Ia, Ib = a["I"][()].astype(np.float64), b["I"][()].astype(np.float64)
assert Ia.shape == Ib.shape == (n, 1000), (Ia.shape, Ib.shape)
sig = (a["count"][()] > 0)[None, :] & (np.abs(Ib) > 1e-6 * np.abs(Ib).max())
rel = np.abs(Ia - Ib)[sig] / np.abs(Ib)[sig]
assert rel.max() <= tol, f"max rel {rel.max():.3g} > {tol}"
EOF
    [ "$rep" -gt 0 ] && awk -v r="$rev" -v s="$E2E_SPLIT" -v t="$t" -v f="$FRAMES" -v k="$rep" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "slabflow,%s,%s,1,%d,%d,%d,%.4f,%.3f\n", r, s, t, f, k, b - a, f / (b - a) }' >> "$CSV_E2E"
    return 0
}
py_e2e() { # rep
    local line sec
    rm -f "$tmp/py_e2e.h5"
    line=$(env $MALLOC_ENV "${one[@]}" "$bestpy" "$here/peer_integrate.py" e2e "$tmp/in.h5" "$PONI" \
           "$tmp/py_e2e.h5" --split "$E2E_SPLIT")
    sec=$(sed 's/.*seconds=\([0-9.]*\).*/\1/' <<<"$line")
    [ "$1" -gt 0 ] && awk -v v="$pyver" -v l="$best" -v s="$E2E_SPLIT" -v f="$FRAMES" -v k="$1" -v x="$sec" \
        'BEGIN { printf "pyfai-%s-direct-chunk,%s,%s,1,1,%d,%d,%.4f,%.3f\n", l, v, s, f, k, x, f / x }' >> "$CSV_E2E"
    return 0
}
py_e2e 0; sf_e2e 1 0; sf_e2e 2 0          # warm-up (and the reference output for validation)
for rep in $(seq 1 "$REPS"); do py_e2e "$rep"; sf_e2e 1 "$rep"; sf_e2e 2 "$rep"; done
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- validation of (a) and the tables -----------------------------------------------------
"$PY_DEBIAN" - "$tmp" "$TOL" "$CSV" "$CSV_E2E" "$SPLITS" "${pys[*]}" <<'EOF'
import csv, statistics as st, sys
import numpy as np
tmp, tol, csvp, e2ep, splits, pys = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split(), sys.argv[6].split()
ok = True
print("\nvalidation of frame 0, slabflow's I against pyFAI's where there is signal:")
for s in splits:
    a = np.fromfile(f"{tmp}/sf_{s}.I", np.float32).astype(np.float64)
    cnt = np.fromfile(f"{tmp}/sf_{s}.count", np.float64)
    for p in pys:
        lab = p.split("=")[0]
        b = np.fromfile(f"{tmp}/py_{lab}_{s}.I", np.float32).astype(np.float64)
        m = (cnt > 0) & (np.abs(b) > 1e-6 * np.abs(b).max())
        r = np.abs(a - b)[m] / np.abs(b)[m]
        over = int((r > tol).sum())
        # Debian's pyFAI is the reference slabflow follows bin for bin (spec A1, A2); a newer
        # Newer pyFAI computes pixel positions with other float steps than 0.21.3 (which slabflow
        # follows, spec A1-A2), so single pixels move across a bin edge: against it at most 5 %
        # of the bins may be beyond tol, and none beyond 10 x tol.
        good = a.shape == b.shape and (r.max() <= tol if lab == "debian"
                                       else over <= 0.05 * m.sum() and r.max() <= 10 * tol)
        ok &= bool(good)
        print(f"  {s:4s} vs pyFAI {lab}: max rel {r.max():.2e}, {over} of {m.sum()} bins beyond {tol:g}: "
              f"{'ok' if good else 'FAIL'}")
rows = list(csv.DictReader(open(csvp)))
def med(impl, split, key):
    v = [float(r[key]) for r in rows if r["impl"] == impl and r["split"] == split]
    return (st.median(v), min(v), max(v), len(v)) if v else None
impls = sorted({r["impl"] for r in rows}, key=lambda x: (not x.startswith("slabflow"), x))
ver = {r["impl"]: r["version"] for r in rows}
print("\n(a) in memory, one core, frames/s per core (median of runs, min-max), CSR build s\n")
print("| split | implementation | version | runs | frames/s | ms/frame | CSR build s | slabflow / this |")
print("|---|---|---|---:|---:|---:|---:|---:|")
req = []
for s in splits:
    ours = med("slabflow-kernel", s, "frames_per_s")
    fastest = 0
    for i in impls:
        m = med(i, s, "frames_per_s")
        if not m:
            continue
        b = med(i, s, "build_s")[0]
        ratio = ours[0] / m[0] if ours else float("nan")
        if i.startswith("pyfai"):
            fastest = max(fastest, m[0])
        print(f"| {s} | {i} | {ver[i]} | {m[3]} | {m[0]:.2f} ({m[1]:.2f}-{m[2]:.2f}) | {1000 / m[0]:.2f} | {b:.3f} | "
              + ("—" if i.startswith("slabflow") else f"**{ratio:.1f}x**") + " |")
    if s in ("no", "full") and ours and fastest:
        req.append((f"{s}: slabflow >= 5x the faster pyFAI", ours[0] / fastest, 5.0))
e2e = list(csv.DictReader(open(e2ep)))
def emed(pred):
    v = [float(r["seconds"]) for r in e2e if pred(r)]
    return (st.median(v), min(v), max(v), len(v), int(e2e[0]["frames"])) if v else None
sf1 = emed(lambda r: r["impl"] == "slabflow" and r["threads"] == "1")
sf2 = emed(lambda r: r["impl"] == "slabflow" and r["threads"] == "2")
pye = emed(lambda r: r["impl"].startswith("pyfai"))
pyname = next(r["impl"] for r in e2e if r["impl"].startswith("pyfai"))
print(f"\n(b, c) end to end, bitshuffle-LZ4 file in, HDF5 out, {sf1[4]} frames, split {e2e[0]['split']}\n")
print("| run | ranks x threads | runs | median s (min-max) | frames/s | vs pyFAI |")
print("|---|---|---:|---:|---:|---:|")
for name, rt, m in (("slabflow integrate (wall clock)", "1x1", sf1), ("slabflow integrate (wall clock)", "1x2", sf2),
                    (f"{pyname} (in-process)", "1x1", pye)):
    print(f"| {name} | {rt} | {m[3]} | {m[0]:.3f} ({m[1]:.3f}-{m[2]:.3f}) | {m[4] / m[0]:.2f} | {pye[0] / m[0]:.1f}x |")
req.append(("end to end: slabflow 1x1 >= 3x pyFAI direct-chunk", pye[0] / sf1[0], 3.0))
req.append(("end to end: slabflow 1x2 >= 1.8x 1x1", sf1[0] / sf2[0], 1.8))
print("\n| requirement | measured | |\n|---|---:|---|")
for name, v, need in req:
    good = v >= need
    ok &= good
    print(f"| {name} | {v:.2f} | {'pass' if good else 'FAIL'} |")
sys.exit(0 if ok else 1)
EOF
