#!/bin/bash
# Peer benchmark of slabflow's optical flow (`register --method flow`, spec register.md §1)
# against pyflowreg itself: parity of the flows on the same preprocessed pairs, and
# one-thread speed of the whole per-frame work, for the quality, balanced and fast presets.
# See benchmarks/README.md, "bench_flow_peer.sh".
#
# usage: benchmarks/bench_flow_peer.sh [CSV]      (default benchmarks/results/flow_peer.csv)
#
# Needs python3 with pyflowreg, h5py, scipy and an OpenCV 4 (pip install pyflowreg h5py scipy
# 'opencv-contrib-python>=4.10,<5'; OpenCV 5.0.0 breaks pyflowreg's warp, peer_flow.py checks).
# CI does not run it.
#
# Environment (defaults in brackets):
#   BUILD           build directory; configured (Release) and built when needed [<repo>/build]
#   PARITY_FRAMES   (reference, moving) pairs for the parity check [6]
#   SPEED_FRAMES    frames per timed run, balanced and fast [20]
#   QUALITY_FRAMES  frames per timed run, quality (pyflowreg takes ~2 s per frame) [5]
#   REPS            timed runs per implementation and preset, after one warm-up [5]
#   PRESETS         presets to run ["quality balanced fast"]
#   ALPHA, A_SMOOTH alpha and a_smooth of the parity flows, both implementations [1.5, 1: the
#                   defaults]
#   SKIP_SPEED=1    parity only
#   SEED            synth seed [3]; MAX_SHIFT [4] px; NOISE_DB [30]; HEIGHT, WIDTH [512]
#   CORE            CPU both implementations are pinned to with taskset [last CPU]
#   DW_MAX          parity bound on the mean |w_ours - w_ref|, px [0.05]
#   EPE_SLACK       accepted EPE excess of ours over pyflowreg's, px [0.01]
#   RATIO_MIN       required speed ratio ours / pyflowreg [20]
#   MAX_EPE         a timed run whose mean EPE to the truth exceeds this fails, px [1.0]
#   PYTHON          interpreter [python3]
#   KEEP_TMP=1      keep the temporary directory (data, pairs, flows, logs)
#
# Exit status: 0 when every requirement passes; 1 when one fails (the tables are printed
# first) or when something breaks.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

# GNU nproc honours OMP_NUM_THREADS / OMP_THREAD_LIMIT, which are set to 1 below.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
CSV=${1:-$repo/benchmarks/results/flow_peer.csv}
BUILD=${BUILD:-$repo/build}
PARITY_FRAMES=${PARITY_FRAMES:-6}
SPEED_FRAMES=${SPEED_FRAMES:-20}
QUALITY_FRAMES=${QUALITY_FRAMES:-5}
REPS=${REPS:-5}
PRESETS=${PRESETS:-quality balanced fast}
ALPHA=${ALPHA:-1.5}
A_SMOOTH=${A_SMOOTH:-1}
SKIP_SPEED=${SKIP_SPEED:-0}
SEED=${SEED:-3}
MAX_SHIFT=${MAX_SHIFT:-4}
NOISE_DB=${NOISE_DB:-30}
HEIGHT=${HEIGHT:-512}
WIDTH=${WIDTH:-512}
CORE=${CORE:-$(( cores - 1 ))}
DW_MAX=${DW_MAX:-0.05}
EPE_SLACK=${EPE_SLACK:-0.01}
RATIO_MIN=${RATIO_MIN:-20}
MAX_EPE=${MAX_EPE:-1.0}
PYTHON=${PYTHON:-python3}

die() { echo "bench_flow_peer: error: $*" >&2; exit 1; }
log() { echo "bench_flow_peer: $*"; }

(( REPS >= 1 )) || die "REPS must be >= 1"
(( REPS >= 5 )) || echo "bench_flow_peer: warning: REPS=$REPS < 5: not a house-style result" >&2
command -v "$PYTHON" >/dev/null || die "$PYTHON not on PATH"
"$PYTHON" -c "import pyflowreg, h5py, scipy" 2>/dev/null \
    || die "$PYTHON lacks pyflowreg, h5py or scipy: pip install pyflowreg h5py scipy"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH} "$PYTHON" -c \
    "import peer_flow; peer_flow.check_opencv_remap()" || die "unusable OpenCV (see above)"
pin=()
if command -v taskset >/dev/null; then
    pin=(taskset -c "$CORE")
else
    echo "bench_flow_peer: warning: no taskset; runs are not pinned to one core" >&2
fi
# One thread for every pool either side may start.
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
       VECLIB_MAXIMUM_THREADS=1 NUMEXPR_NUM_THREADS=1

# ---- build -------------------------------------------------------------------------------
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    log "configuring $BUILD (Release)"
    cmake -S "$repo" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
elif ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt"; then
    echo "bench_flow_peer: warning: $BUILD is not a Release build; timings are not reportable" >&2
fi
# Reconfigure so a build directory made before benchmarks/CMakeLists.txt existed learns
# the bench_flow_pair target (cheap when nothing changed).
cmake -S "$repo" -B "$BUILD" > /dev/null
cmake --build "$BUILD" -j "$cores" --target slabflow bench_flow_pair > /dev/null \
    || die "build failed (cmake --build $BUILD --target slabflow bench_flow_pair)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_flow_peer.XXXXXX")
cleanup() {
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "bench_flow_peer: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
# Private copies, so a rebuild during the benchmark cannot mix two versions.
cp "$BUILD/slabflow" "$BUILD/benchmarks/bench_flow_pair" "$tmp/"
SLABFLOW=$tmp/slabflow
DRIVER=$tmp/bench_flow_pair
PEER=$here/peer_flow.py

log "$(date --iso-8601=seconds) on $(hostname), $cores core(s), pinned to CPU $CORE," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
log "$("$SLABFLOW" version), bench_flow_pair md5 $(md5sum < "$DRIVER" | cut -c1-12)," \
    "git $(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"
log "pyflowreg $("$PYTHON" -c 'from importlib.metadata import version as v; print(v("pyflowreg"))')," \
    "OpenCV $("$PYTHON" -c 'import cv2; print(cv2.__version__)'), $("$PYTHON" --version 2>&1)"

# ---- data --------------------------------------------------------------------------------
frames=$SPEED_FRAMES
(( QUALITY_FRAMES > frames )) && frames=$QUALITY_FRAMES
(( PARITY_FRAMES > frames )) && frames=$PARITY_FRAMES
raw=$tmp/raw.h5
"$SLABFLOW" synth video -o "$raw" --frames "$frames" --height "$HEIGHT" --width "$WIDTH" \
    --motion nonrigid --max-shift "$MAX_SHIFT" --noise-db "$NOISE_DB" --seed "$SEED" \
    > "$tmp/synth.log" 2>&1 || { cat "$tmp/synth.log" >&2; die "slabflow synth video failed"; }
log "input: $frames frames of ${HEIGHT}x${WIDTH} uint16, nonrigid motion up to $MAX_SHIFT px," \
    "$NOISE_DB dB, seed $SEED; reference = /truth/clean_mean"

# ---- (4) parity --------------------------------------------------------------------------
pairs=$tmp/pairs.h5
csv_list=${PRESETS// /,}
"$PYTHON" "$PEER" pairs "$raw" "$pairs" --frames "$PARITY_FRAMES"
log "pyflowreg get_displacement on $PARITY_FRAMES pair(s), presets $PRESETS, alpha $ALPHA, a_smooth $A_SMOOTH"
"${pin[@]}" "$PYTHON" "$PEER" ref-flows "$pairs" --presets "$csv_list" --alpha "$ALPHA" \
    --a-smooth "$A_SMOOTH" > "$tmp/ref_flows.log" 2>&1 \
    || { tail -n 30 "$tmp/ref_flows.log" >&2; die "pyflowreg ref-flows failed"; }
ours=()
for p in $PRESETS; do
    "${pin[@]}" "$DRIVER" parity "$pairs" "$tmp/ours_$p.h5" --preset "$p" --alpha "$ALPHA" \
        --a-smooth "$A_SMOOTH" > "$tmp/parity_$p.log" 2>&1 \
        || { tail -n 30 "$tmp/parity_$p.log" >&2; die "bench_flow_pair parity --preset $p failed"; }
    ours+=("$p=$tmp/ours_$p.h5")
done

# ---- (5) speed ---------------------------------------------------------------------------
mkdir -p "$(dirname "$CSV")"
: > "$CSV"
speed_presets=$PRESETS
[[ $SKIP_SPEED == 1 ]] && speed_presets=
for p in $speed_presets; do
    n=$SPEED_FRAMES
    [[ $p == quality ]] && n=$QUALITY_FRAMES
    log "speed $p: $n frame(s) per run, 1 warm-up + $REPS timed run(s) each," \
        "load $(cut -d' ' -f1 /proc/loadavg)"
    "${pin[@]}" "$DRIVER" speed "$raw" --preset "$p" --frames "$n" --reps "$REPS" --csv "$CSV" \
        --max-epe "$MAX_EPE" > "$tmp/speed_ours_$p.log" 2>&1 \
        || { tail -n 30 "$tmp/speed_ours_$p.log" >&2; die "bench_flow_pair speed --preset $p failed"; }
    tail -n 1 "$tmp/speed_ours_$p.log"
    "${pin[@]}" "$PYTHON" "$PEER" speed "$raw" --preset "$p" --frames "$n" --reps "$REPS" \
        --csv "$CSV" --max-epe "$MAX_EPE" > "$tmp/speed_ref_$p.log" 2>&1 \
        || { tail -n 30 "$tmp/speed_ref_$p.log" >&2; die "pyflowreg speed --preset $p failed"; }
    tail -n 1 "$tmp/speed_ref_$p.log"
done
log "$(date --iso-8601=seconds), load $(cut -d' ' -f1-3 /proc/loadavg); CSV: $CSV," \
    "parity CSV: ${CSV%.csv}_parity.csv"

# ---- tables ------------------------------------------------------------------------------
status=0
echo
echo "### Parity (requirement 4)"
echo
"$PYTHON" "$PEER" parity "$pairs" "${ours[@]}" --csv "${CSV%.csv}_parity.csv" \
    --dw-max "$DW_MAX" --epe-slack "$EPE_SLACK" || status=1
echo
if [[ $SKIP_SPEED != 1 ]]; then
    echo "### Speed (requirement 5)"
    echo
    "$PYTHON" "$PEER" summary "$CSV" --ratio-min "$RATIO_MIN" || status=1
fi
echo
if (( status == 0 )); then
    log "all requirements pass"
else
    log "at least one requirement FAILS (see the tables)"
fi
exit "$status"
