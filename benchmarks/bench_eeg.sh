#!/bin/bash
# Peer benchmark of `slabflow eeg` against FACETpy 2.0.2 (issue 14 points 5 and 6): gradient-
# artifact correction of synthetic EEG-fMRI recordings (`slabflow synth eeg`, 32 channels, 120 s,
# sub-sample jitter, seed 1) at 2048 and 5000 Hz, end to end (EDF in, corrected file out), one
# core each; quality against the known clean EEG. See benchmarks/README.md, "bench_eeg.sh".
#   FACETpy: pipelines.create_standard_pipeline(in, out.edf, use_anc=False, use_pca=False,
#            artifact_to_trigger_offset=OFFSET).run(channel_sequential=True), i.e. Load EDF ->
#            TriggerDetector(\b1\b) -> CutAcquisitionWindow -> HP 1 Hz -> UpSample 10 ->
#            SliceAligner -> SubsampleAligner -> AAS (W 30, thr 0.975) -> DownSample 10 ->
#            PasteAcquisitionWindow -> LP 70 Hz -> EDF export (benchmarks/eeg_peer.py --facet);
#   slabflow: `slabflow eeg in.edf -o out.h5 --threads 1` (its default chain, the same steps);
#   and slabflow on one channel (SF_ONECH_ARGS) with 2 threads on 2 cores against 1 thread.
# Times are the wall clock of the whole process (/usr/bin/time %e: interpreter start, imports,
# reading, correction, writing, exit), peak RSS is /usr/bin/time's %M. One warm-up per
# configuration, then RUNS timed runs, interleaved tool by tool; the median goes to the CSV.
# Real-time factor: recording seconds per wall second per core, seconds / (wall x cores) (for
# the whole file of `channels` channels; the one-channel rows are for one channel). On a shared
# machine the CPU time (user + system, /usr/bin/time %U + %S) is the steadier figure: the CSV
# also gives rtf_per_cpu_s = seconds / CPU seconds, and every run's 1-minute load average.
# Quality (eeg_peer.py `score`, one function for both tools): the corrected output file (EDF
# for FACETpy, /corrected of the HDF5 for slabflow), truth and uncorrected input band-passed
# alike (Butterworth 4th order 1-70 Hz, zero phase), over [first true onset, last + one slice
# period), per EEG channel (ECG out): RMS of corrected - clean, slice-frequency power reduction
# (h = 1..5, +-0.5 Hz, Welch) in dB, the residual there against the clean in dB, and Pearson
# correlation; medians over channels.
#
# usage: benchmarks/bench_eeg.sh [CSV]   (default benchmarks/results/eeg_peer.csv; the per-run
#        lines go to the same name with _runs). Rows of a tool/rate/channels/threads that this
#        invocation measures replace those rows; other rows are kept (so TOOLS=facetpy and
#        TOOLS=slabflow can run at different times).
#
# Environment (defaults in brackets):
#   BUILD      build directory (must hold a built slabflow) [<repo>/build]
#   PY         interpreter of the FACETpy venv (facetpy==2.0.2, h5py) [/work/venv-facet/bin/python]
#   TOOLS      tools to run ["facetpy slabflow"]; slabflow is skipped with a warning when its
#              build has no `eeg` command
#   RATES      sampling rates ["2048 5000"]
#   CHANNELS   channels (N-1 EEG + ECG) [32]
#   REC_SECONDS  recording length in s [120]
#   RUNS       timed runs per configuration after one warm-up [5]
#   CORE       CPU of the one-core runs [0]; the 2-thread runs use CPUs 0,1
#   OFFSET     FACETpy's artifact_to_trigger_offset in s [-0.005]
#   SF_ARGS    extra arguments of `slabflow eeg` [none]
#   SF_SAME_CHANNELS  1: slabflow corrects every channel, ECG included, as FACETpy does (MNE
#              reads every EDF signal as EEG, so FACETpy's AAS runs on all of them): the same
#              work; 0: slabflow's default selection (EEG channels only) [1]
#   SF_ONECH_ARGS  arguments selecting one channel for the thread test ["--channels Fp1"];
#              empty skips the test
#   DATA       directory for the recordings (kept, reused when present) [temporary]
#   KEEP_TMP=1 keep the temporary directory
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
CSV=${1:-$repo/benchmarks/results/eeg_peer.csv}
CSV_RUNS=${CSV%.csv}_runs.csv
BUILD=${BUILD:-$repo/build}
PY=${PY:-/work/venv-facet/bin/python}
TOOLS=${TOOLS:-facetpy slabflow}
RATES=${RATES:-2048 5000}
CHANNELS=${CHANNELS:-32}
SECONDS_=${REC_SECONDS:-120}
RUNS=${RUNS:-5}
CORE=${CORE:-0}
OFFSET=${OFFSET:--0.005}
SF_ARGS=${SF_ARGS:-}
SF_SAME_CHANNELS=${SF_SAME_CHANNELS:-1}
SF_ONECH_ARGS=${SF_ONECH_ARGS---channels Fp1}

die() { echo "bench_eeg: error: $*" >&2; exit 1; }
log() { echo "bench_eeg: $*" >&2; }
(( RUNS >= 5 )) || log "warning: RUNS=$RUNS < 5: not a house-style result"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install -y time)"
[ -x "$BUILD/slabflow" ] || die "no $BUILD/slabflow (cmake --build $BUILD)"
grep -q '^CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" 2>/dev/null \
    || log "warning: $BUILD is not a Release build: timings not reportable"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
       NUMEXPR_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1 SLABFLOW_PROGRESS_SECONDS=0 \
       OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HWLOC_COMPONENTS=-opencl
"$PY" -c "import facet, h5py, mne, scipy" 2>/dev/null \
    || die "$PY lacks facet, h5py, mne or scipy (python3 -m venv /work/venv-facet && /work/venv-facet/bin/pip install facetpy==2.0.2 h5py)"
one=(taskset -c "$CORE")
two=(taskset -c "0,1")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_eeg.XXXXXX")
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
DATA=${DATA:-$tmp}
mkdir -p "$DATA"
# private copy: a rebuild during the benchmark cannot mix two versions
SF=$tmp/slabflow
cp "$BUILD/slabflow" "$SF"
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
facet_ver=$("$PY" -c "import importlib.metadata as m; print(m.version('facetpy'))")
mne_ver=$("$PY" -c "import importlib.metadata as m; print(m.version('mne'))")
have_sf_eeg=0
if "$SF" eeg --help >/dev/null 2>&1; then have_sf_eeg=1; fi
tools=()
for t in $TOOLS; do
    case $t in
        facetpy) tools+=(facetpy) ;;
        slabflow) if [ $have_sf_eeg = 1 ]; then tools+=(slabflow); else
                      log "warning: $BUILD/slabflow has no 'eeg' command: slabflow skipped"; fi ;;
        *) die "unknown tool $t" ;;
    esac
done
(( ${#tools[@]} )) || die "nothing to run"
log "slabflow $rev ($(md5sum < "$SF" | cut -c1-8)), facetpy $facet_ver (mne $mne_ver), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) CPUs, one-core runs on CPU $CORE"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

runs_new=$tmp/runs.csv      # see RH below
qual_new=$tmp/quality.csv   # tool,rate,channels,threads,corrected channels,json
: > "$runs_new"; : > "$qual_new"

# one timed run: label rate nch threads run-index(0 = warm-up) -- command...
timed() {
    local tool=$1 rate=$2 nch=$3 th=$4 k=$5; shift 5
    local tf=$tmp/time.$tool.$rate.${nch}ch.$th out=$tmp/log.$tool.$rate.${nch}ch.$th.$k
    /usr/bin/time -f "%e %M %U %S" -o "$tf" "$@" > "$out" 2>&1 \
        || { tail -n 30 "$out" >&2; die "$tool failed (rate $rate, threads $th, run $k): $*"; }
    local wall rss us sy cpu ps="" pl=""
    read -r wall rss us sy < <(tail -n 1 "$tf")
    cpu=$(awk -v a="$us" -v b="$sy" 'BEGIN { printf "%.2f", a + b }')
    if [ "$tool" = facetpy ]; then
        ps=$("$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['process_s']:.3f} {d['pipeline_s']:.3f}\")" "$tmp/facet_$rate.json")
        pl=${ps#* }; ps=${ps% *}
    fi
    local ver=$rev; [ "$tool" = facetpy ] && ver=$facet_ver
    [ "$k" -gt 0 ] && echo "$tool,$ver,$rate,$nch,$SECONDS_,$th,$k,$wall,$cpu,$ps,$pl,$(( (rss + 512) / 1024 )),$(cut -d' ' -f1 /proc/loadavg)" >> "$runs_new"
    log "  $tool rate $rate ch $nch threads $th run $k: wall $wall s, CPU $cpu s, peak RSS $(( rss / 1024 )) MB${pl:+, pipeline $pl s}"
}

for rate in $RATES; do
    rec=$DATA/synth_${CHANNELS}ch_${rate}Hz_${SECONDS_}s
    if [ ! -f "$rec.edf" ] || [ ! -f "$rec.h5" ]; then
        "$SF" synth eeg -o "$rec.edf" --channels "$CHANNELS" --rate "$rate" --seconds "$SECONDS_" \
            --jitter --seed 1 >&2
    fi
    sfch=()
    if [ "$SF_SAME_CHANNELS" = 1 ]; then
        sfch=(--channels "$("$PY" -c "import h5py,sys; print(','.join(n.decode() if isinstance(n, bytes) else str(n) for n in h5py.File(sys.argv[1], 'r')['/channels'][...]))" "$rec.h5")")
    fi
    fcmd=("${one[@]}" "$PY" "$here/eeg_peer.py" --quiet --facet "$rec.edf" --out "$tmp/facet_$rate.edf" --offset "$OFFSET" --json "$tmp/facet_$rate.json")
    scmd=("${one[@]}" "$SF" eeg "$rec.edf" -o "$tmp/sf_$rate.h5" --threads 1 "${sfch[@]}" $SF_ARGS)
    s1cmd=("${one[@]}" "$SF" eeg "$rec.edf" -o "$tmp/sf1_$rate.h5" --threads 1 $SF_ARGS $SF_ONECH_ARGS)
    s2cmd=("${two[@]}" env OMP_NUM_THREADS=2 "$SF" eeg "$rec.edf" -o "$tmp/sf2_$rate.h5" --threads 2 $SF_ARGS $SF_ONECH_ARGS)
    log "rate $rate: warm-up"
    for t in "${tools[@]}"; do
        if [ "$t" = facetpy ]; then timed facetpy "$rate" "$CHANNELS" 1 0 "${fcmd[@]}"; fi
        if [ "$t" = slabflow ]; then
            timed slabflow "$rate" "$CHANNELS" 1 0 "${scmd[@]}"
            if [ -n "$SF_ONECH_ARGS" ]; then
                timed slabflow "$rate" 1 1 0 "${s1cmd[@]}"
                timed slabflow "$rate" 1 2 0 "${s2cmd[@]}"
            fi
        fi
    done
    for k in $(seq 1 "$RUNS"); do
        for t in "${tools[@]}"; do
            if [ "$t" = facetpy ]; then timed facetpy "$rate" "$CHANNELS" 1 "$k" "${fcmd[@]}"; fi
            if [ "$t" = slabflow ]; then
                timed slabflow "$rate" "$CHANNELS" 1 "$k" "${scmd[@]}"
                if [ -n "$SF_ONECH_ARGS" ]; then
                    timed slabflow "$rate" 1 1 "$k" "${s1cmd[@]}"
                    timed slabflow "$rate" 1 2 "$k" "${s2cmd[@]}"
                fi
            fi
        done
    done
    # quality of the last run's output file, what a user gets
    for t in "${tools[@]}"; do
        if [ "$t" = facetpy ]; then
            "$PY" "$here/eeg_peer.py" --score-edf "$tmp/facet_$rate.edf" --truth "$rec.h5" --input "$rec.edf" \
                --json "$tmp/q_facet_$rate.json" > /dev/null
            echo "facetpy,$rate,$CHANNELS,1,$CHANNELS,$tmp/q_facet_$rate.json" >> "$qual_new"
        else
            "$PY" "$here/eeg_peer.py" --slabflow-h5 "$tmp/sf_$rate.h5" --truth "$rec.h5" --input "$rec.edf" \
                --json "$tmp/q_sf_$rate.json" > /dev/null
            ncorr=$("$PY" -c "import h5py,sys; print(h5py.File(sys.argv[1], 'r')['/corrected'].shape[0])" "$tmp/sf_$rate.h5")
            echo "slabflow,$rate,$CHANNELS,1,$ncorr,$tmp/q_sf_$rate.json" >> "$qual_new"
        fi
    done
done
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$CSV" "$CSV_RUNS" "$runs_new" "$qual_new" "$OFFSET" <<'EOF'
import csv, json, os, statistics as st, sys
csvp, runsp, runs_new, qual_new, offset = sys.argv[1:6]
RH = ["tool", "version", "rate", "channels", "seconds", "threads", "run", "wall_s", "cpu_s",
      "process_s", "pipeline_s", "peak_rss_MB", "load1"]
SH = ["tool", "version", "rate", "channels", "corrected_channels", "seconds", "threads", "runs", "median_wall_s",
      "min_wall_s", "max_wall_s", "median_cpu_s", "median_pipeline_s", "rtf_per_core",
      "rtf_per_cpu_s", "peak_rss_MB", "load1_range",
      "residual_rms_uV", "slice_reduction_dB", "slice_residual_vs_clean_dB", "correlation", "notes"]
key = lambda r: (r["tool"], r["rate"], r["channels"], r["threads"])
new = list(csv.DictReader(open(runs_new), fieldnames=RH))
keys = {key(r) for r in new}
old = [r for r in csv.DictReader(open(runsp))] if os.path.exists(runsp) else []
allruns = [r for r in old if key(r) not in keys] + new
with open(runsp, "w", newline="") as f:
    w = csv.DictWriter(f, RH, lineterminator="\n"); w.writeheader(); w.writerows(allruns)
qual, ncorrected = {}, {}
for line in open(qual_new):
    t, rate, ch, th, ncorr, path = line.strip().split(",", 5)
    qual[(t, rate, ch, th)] = json.load(open(path))["quality"]
    ncorrected[(t, rate, ch, th)] = ncorr
rows = []
for k in sorted(keys, key=lambda k: (int(k[1]), k[0], -int(k[2]), int(k[3]))):
    rr = [r for r in new if key(r) == k]
    wall = [float(r["wall_s"]) for r in rr]
    pl = [float(r["pipeline_s"]) for r in rr if r["pipeline_s"]]
    cpu = [float(r["cpu_s"]) for r in rr]
    ld = [float(r["load1"]) for r in rr]
    m = st.median(wall)
    secs, th = float(rr[0]["seconds"]), int(k[3])
    q = qual.get(k)
    note = ""
    if k[0] == "facetpy":
        note = f"standard pipeline without PCA/ANC, channel-sequential, offset {offset} s, EDF out"
    elif k[2] == "1":
        note = "one channel"
    rows.append({"tool": k[0], "version": rr[0]["version"], "rate": k[1], "channels": k[2],
                 "corrected_channels": ncorrected.get(k, "1" if k[2] == "1" else ""),
                 "seconds": rr[0]["seconds"], "threads": k[3], "runs": len(rr),
                 "median_wall_s": f"{m:.2f}", "min_wall_s": f"{min(wall):.2f}",
                 "max_wall_s": f"{max(wall):.2f}",
                 "median_cpu_s": f"{st.median(cpu):.2f}",
                 "median_pipeline_s": f"{st.median(pl):.2f}" if pl else "",
                 "rtf_per_core": f"{secs / (m * th):.3f}",
                 "rtf_per_cpu_s": f"{secs / st.median(cpu):.3f}",
                 "load1_range": f"{min(ld):.2f}-{max(ld):.2f}",
                 "peak_rss_MB": max(int(r["peak_rss_MB"]) for r in rr),
                 "residual_rms_uV": f"{q['rms_uV']['median']:.3f}" if q else "",
                 "slice_reduction_dB": f"{q['slice_red_dB']['median']:.2f}" if q else "",
                 "slice_residual_vs_clean_dB": f"{q['slice_vs_clean_dB']['median']:+.2f}" if q else "",
                 "correlation": f"{q['corr']['median']:.5f}" if q else "", "notes": note})
skeys = {(r["tool"], r["rate"], r["channels"], r["threads"]) for r in rows}
olds = [r for r in csv.DictReader(open(csvp))] if os.path.exists(csvp) else []
olds = [r for r in olds if (r["tool"], r["rate"], r["channels"], r["threads"]) not in skeys]
with open(csvp, "w", newline="") as f:
    w = csv.DictWriter(f, SH, lineterminator="\n"); w.writeheader(); w.writerows(olds + rows)
print("| tool | rate | ch | threads | runs | median wall s (min-max) | CPU s | RTF/core | RTF/CPU s | peak RSS MB | resid RMS uV | slice red dB | vs clean dB | corr |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in olds + rows:
    print(f"| {r['tool']} | {r['rate']} | {r['channels']} | {r['threads']} | {r['runs']} | {r['median_wall_s']} "
          f"({r['min_wall_s']}-{r['max_wall_s']}) | {r.get('median_cpu_s', '')} | {r['rtf_per_core']} | {r.get('rtf_per_cpu_s', '')} | {r['peak_rss_MB']} | {r['residual_rms_uV']} | "
          f"{r['slice_reduction_dB']} | {r['slice_residual_vs_clean_dB']} | {r['correlation']} |")
EOF
log "wrote $CSV and $CSV_RUNS"
