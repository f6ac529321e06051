#!/usr/bin/env bash
# The device check of issue 16, in one call on a machine with a CUDA GPU, in the repository
# root; everything it finds goes to $OUT (default ./gpu-check-out):
#   1. env.txt: what the machine has (nvidia-smi, nvcc, cmake, MPI, HDF5, FFTW, CUnit);
#   2. binaries: a CUDA build here (build-gpu-dev, sm_90 + PTX) when every dependency is
#      present, otherwise the prebuilt ones of build-gpu-carry/sf-gpu-carry.tar.xz (made by
#      benchmarks/gpu_carry.sh on the build machine, carried with the run), unpacked into
#      build-gpu-carry/carry with Open MPI relocated there (OPAL_PREFIX);
#   3. tests.log: the GPU tests — gpu.selftest, unit.rigid_hd, unit.flow_hd,
#      unit.gpu_flow_host and unit.gpu_flow_exact (the device flow pipeline's steps as host
#      loops), gpu.rigid (the device pipeline against the CPU kernels), gpu.register_agree
#      (--backend cuda against cpu at np 1 and 2: shifts 0.01 px, frames 1e-3), gpu.flow
#      (--method flow --backend cuda against cpu, every --quality: mean EPE within 0.01 px,
#      frames 1e-3 relative) — and register.backend with a device; with a build here also
#      `ctest -L gpu`;
#   4. gpu_runs.csv (one line per run) and gpu_bench.csv (median, min, max per
#      configuration): frames/s of `slabflow register` on a 512x512 uint16 synthetic video,
#      --method rigid and --method flow (every preset in FLOW_QUALITIES; method column
#      flow-<preset>), --backend cpu and cuda, at every --buffer-size in BATCHES /
#      FLOW_BATCHES (the batch the device gets at once; the CPU rows of flow at
#      FLOW_CPU_BATCHES, since there the batch only sets how many frames the threads share),
#      1 warm-up + REPS / FLOW_REPS timed runs each, every output checked against the truth
#      before its time is used; configurations left when BENCH_BUDGET_S has passed are
#      skipped and logged.
# Knobs (environment): OUT, BATCHES ("1 2 4 8 16 32 64"), REPS (5), FRAMES (256),
# FLOW_FRAMES (64), FLOW_BATCHES ("1 2 4 8 16 32 64"), FLOW_CPU_BATCHES ("64"), FLOW_REPS (5),
# FLOW_QUALITIES ("fast balanced quality"), BENCH_BUDGET_S (420, from the start of the
# benchmarks), THREADS (all cores), SKIP_BENCH=1, SKIP_FLOW=1, SKIP_RIGID_BENCH=1, BACKENDS
# ("cpu cuda"), MODE=carried (skip the build here), JOBS (build jobs, all cores).
# Exit status: 0 all passed, 1 a test or a validation failed, 2 no usable binaries.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
root=$PWD
ncpu=$(nproc)
THREADS=${THREADS:-$ncpu}
JOBS=${JOBS:-$ncpu}
BATCHES=${BATCHES:-1 2 4 8 16 32 64}
REPS=${REPS:-5}
FRAMES=${FRAMES:-256}
FLOW_FRAMES=${FLOW_FRAMES:-64}
FLOW_BATCHES=${FLOW_BATCHES:-1 2 4 8 16 32 64}
FLOW_CPU_BATCHES=${FLOW_CPU_BATCHES:-64}
FLOW_REPS=${FLOW_REPS:-5}
FLOW_QUALITIES=${FLOW_QUALITIES:-fast balanced quality}
BENCH_BUDGET_S=${BENCH_BUDGET_S:-420}
log() { echo "[gpu_check $(date -u +%T)] $*" | tee -a "$OUT/summary.txt"; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none SLABFLOW_PROGRESS_SECONDS=0 HWLOC_COMPONENTS=-opencl

# ---- 1. the machine ------------------------------------------------------------------
{
  echo "== date"; date -u
  echo "== nvidia-smi"; nvidia-smi 2>&1 | head -20
  echo "== nvcc"; nvcc --version 2>&1 | tail -2
  echo "== cmake"; cmake --version 2>&1 | head -1
  echo "== mpirun"; mpirun --version 2>&1 | head -1
  echo "== h5pcc"; command -v h5pcc h5dump 2>&1
  echo "== pkg-config"; for m in fftw3f fftw3 cunit liblz4 libtiff-4; do
    printf '%s: %s\n' "$m" "$(pkg-config --modversion "$m" 2>&1)"; done
  echo "== cpus"; nproc; grep -m1 'model name' /proc/cpuinfo
  echo "== libcufft"; ldconfig -p 2>/dev/null | grep -E 'libcufft|libcudart' | head -4
  ls -d /usr/local/cuda*/lib* 2>/dev/null
} > "$OUT/env.txt" 2>&1
log "machine: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# ---- 2. binaries -----------------------------------------------------------------------
mode=""
if [ "${MODE:-}" != carried ] && command -v nvcc >/dev/null && command -v cmake >/dev/null && command -v mpicc >/dev/null &&
   pkg-config --exists fftw3f fftw3 cunit liblz4 2>/dev/null; then
  log "building here (build-gpu-dev)"
  if cmake -S . -B build-gpu-dev -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
       > "$OUT/build.log" 2>&1 &&
     grep -q 'slabflow: CUDA backend ON' "$OUT/build.log" &&
     cmake --build build-gpu-dev -j"$JOBS" --target slabflow sf_h5check test_gpu test_gpu_rigid test_rigid_hd test_flow_hd \
       test_gpu_flow_host test_gpu_flow_exact \
       >> "$OUT/build.log" 2>&1; then
    mode=build
    BIN=$root/build-gpu-dev
    SLABFLOW=$BIN/slabflow SF_H5CHECK=$BIN/tests/sf_h5check
    T_GPU=$BIN/tests/test_gpu T_GPU_RIGID=$BIN/tests/test_gpu_rigid T_RIGID_HD=$BIN/tests/test_rigid_hd T_FLOW_HD=$BIN/tests/test_flow_hd
    T_GF_HOST=$BIN/tests/test_gpu_flow_host T_GF_EXACT=$BIN/tests/test_gpu_flow_exact
    grep -E 'warning' "$OUT/build.log" | head -20 > "$OUT/build_warnings.txt"
    # the device's arithmetic on the CPU (no contraction; gpu.flow's oracle in red-black order)
    if cmake -S . -B build-gpu-nocontract -DCMAKE_BUILD_TYPE=Release -DSF_WITH_CUDA=OFF \
         -DCMAKE_C_FLAGS=-ffp-contract=off >> "$OUT/build.log" 2>&1 &&
       cmake --build build-gpu-nocontract -j"$JOBS" --target slabflow >> "$OUT/build.log" 2>&1; then
      export SLABFLOW_NOCONTRACT=$root/build-gpu-nocontract/slabflow
    fi
  else
    log "the build here failed (build.log); trying the carried binaries"
  fi
fi
if [ -z "$mode" ] && [ -f build-gpu-carry/sf-gpu-carry.tar.xz ]; then
  rm -rf build-gpu-carry/carry
  tar -C build-gpu-carry -xJf build-gpu-carry/sf-gpu-carry.tar.xz
  C=$root/build-gpu-carry/carry
  # shellcheck disable=SC1090
  source <(sed 's/^/carry_/' "$C/CARRY")
  export OPAL_PREFIX=$C/usr OPAL_LIBDIR=$C/lib OPAL_PKGLIBDIR=$C$carry_pkglibdir OPAL_PKGDATADIR=$C$carry_pkgdatadir
  export PATH=$C/usr/bin:$C/bin:$PATH
  cudalib=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null | tr '\n' ':')
  export LD_LIBRARY_PATH=$C/lib:${cudalib}${LD_LIBRARY_PATH:-}
  export OMPI_MCA_mca_base_component_path=$C$carry_pkglibdir
  mode=carried
  SLABFLOW=$C/bin/slabflow SF_H5CHECK=$C/bin/sf_h5check
  T_GPU=$C/bin/test_gpu T_GPU_RIGID=$C/bin/test_gpu_rigid T_RIGID_HD=$C/bin/test_rigid_hd T_FLOW_HD=$C/bin/test_flow_hd
  T_GF_HOST=$C/bin/test_gpu_flow_host T_GF_EXACT=$C/bin/test_gpu_flow_exact
  [ -x "$C/bin/slabflow-nocontract" ] && export SLABFLOW_NOCONTRACT=$C/bin/slabflow-nocontract
  log "carried binaries of commit $carry_commit (built $carry_built)"
  { echo "== carried ldd"; ldd "$SLABFLOW"; ldd "$(command -v mpirun)"; } >> "$OUT/env.txt" 2>&1
fi
if [ -z "$mode" ]; then
  log "no binaries: dependencies missing here and no build-gpu-carry/sf-gpu-carry.tar.xz (see env.txt)"
  exit 2
fi
export SLABFLOW SF_H5CHECK

# ---- 3. tests --------------------------------------------------------------------------
fails=0
runtest() { # runtest NAME CMD...: 0 passed, 77 skipped
  local name=$1 rc; shift
  echo "==== $name: $*" >> "$OUT/tests.log"
  timeout 600 "$@" >> "$OUT/tests.log" 2>&1; rc=$?
  case $rc in 0) log "PASS $name" ;; 77) log "SKIP $name (no device?)" ;; *) log "FAIL $name (exit $rc)"; fails=$((fails + 1)) ;; esac
}
runtest gpu.selftest "$T_GPU"
runtest unit.rigid_hd "$T_RIGID_HD"
runtest unit.flow_hd "$T_FLOW_HD"
[ -x "$T_GF_HOST" ] && runtest unit.gpu_flow_host "$T_GF_HOST"
[ -x "$T_GF_EXACT" ] && runtest unit.gpu_flow_exact "$T_GF_EXACT"
runtest gpu.rigid "$T_GPU_RIGID"
runtest gpu.register_agree bash tests/mpi/gpu_agree.sh "$OUT/work/agree" "$T_GPU"
runtest gpu.flow bash tests/mpi/gpu_flow.sh "$OUT/work/flow" "$T_GPU"
runtest register.backend.np1 bash tests/mpi/backend.sh "$OUT/work/backend1" 1 "$T_GPU"
runtest register.backend.np2 bash tests/mpi/backend.sh "$OUT/work/backend2" 2 "$T_GPU"
if [ "$mode" = build ]; then
  (cd build-gpu-dev && timeout 600 ctest -L gpu --output-on-failure) >> "$OUT/tests.log" 2>&1 ||
    { log "FAIL ctest -L gpu"; fails=$((fails + 1)); }
fi
rm -rf "$OUT/work"

# ---- 4. frames/s -----------------------------------------------------------------------
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  w=$(mktemp -d)
  runs=$OUT/gpu_runs.csv bench=$OUT/gpu_bench.csv
  echo "method,backend,backend_ran,ranks,threads,batch,frames,h,w,rep,time_total_s,time_compute_s,frames_per_s_total,frames_per_s_compute" > "$runs"
  echo "method,backend,backend_ran,ranks,threads,batch,frames,h,w,reps,fps_compute_median,fps_compute_min,fps_compute_max,fps_total_median" > "$bench"
  "$SLABFLOW" synth video -o "$w/rigid.h5" --frames "$FRAMES" --height 512 --width 512 --seed 1 --max-shift 8 >/dev/null
  "$SLABFLOW" synth video -o "$w/flow.h5" --frames "$FLOW_FRAMES" --height 512 --width 512 --seed 21 --motion nonrigid \
    --max-shift 4 --noise-db 30 >/dev/null
  bench_t0=$(date +%s)
  bench_one() { # METHOD BACKEND BATCH REPS FRAMES [QUALITY]
    local method=$1 backend=$2 batch=$3 reps=$4 frames=$5 quality=${6:-fast} in=$w/$1.h5 r rc ran tt tc
    if [ $(( $(date +%s) - bench_t0 )) -gt "$BENCH_BUDGET_S" ]; then
      log "SKIP bench $method $quality $backend batch $batch: BENCH_BUDGET_S=$BENCH_BUDGET_S passed"; return
    fi
    local opts=(--method "$method" --backend "$backend" --buffer-size "$batch" --threads "$THREADS")
    [ "$method" = flow ] && opts+=(--quality "$quality" --reference-file "$in:/truth/clean_mean" --save-flow)
    local label=$method
    [ "$method" = flow ] && label=flow-$quality
    local fc=() ft=()
    for r in $(seq 0 "$reps"); do # run 0: the warm-up
      rm -f "$w/out.h5"
      timeout 600 mpirun -np 1 --bind-to none "$SLABFLOW" register "$in" -o "$w/out.h5" "${opts[@]}" \
        > "$w/run.log" 2>&1; rc=$?
      if [ $rc -ne 0 ]; then log "FAIL bench $label $backend batch $batch: exit $rc"; cat "$w/run.log" >> "$OUT/tests.log"; fails=$((fails + 1)); return; fi
      if [ "$method" = rigid ]; then
        "$SF_H5CHECK" shift-rms "$w/out.h5" "$in" 0.1 >> "$w/valid.log" 2>&1
      else
        "$SF_H5CHECK" epe "$w/out.h5" "$in" 25 1 2 >> "$w/valid.log" 2>&1
      fi || { log "FAIL bench $method $backend batch $batch: output not valid"; tail -3 "$w/valid.log" >> "$OUT/tests.log"; fails=$((fails + 1)); return; }
      ran=$(h5dump -a /backend "$w/out.h5" 2>/dev/null | sed -n 's/.*(0): "\(.*\)".*/\1/p' | tr ',' ';')
      tt=$("$SF_H5CHECK" attr "$w/out.h5" time_total_s)
      tc=$("$SF_H5CHECK" attr "$w/out.h5" time_compute_s)
      [ "$r" -eq 0 ] && continue
      ft+=("$(awk -v n="$frames" -v t="$tt" 'BEGIN{printf "%.3f", n/t}')")
      fc+=("$(awk -v n="$frames" -v t="$tc" 'BEGIN{printf "%.3f", n/t}')")
      echo "$label,$backend,$ran,1,$THREADS,$batch,$frames,512,512,$r,$tt,$tc,${ft[-1]},${fc[-1]}" >> "$runs"
    done
    med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s,%s,%s", m, a[1], a[NR]}'; }
    local mc mt
    mc=$(med "${fc[@]}"); mt=$(med "${ft[@]}")
    echo "$label,$backend,$ran,1,$THREADS,$batch,$frames,512,512,$reps,$mc,${mt%%,*}" >> "$bench"
    log "bench $label $backend batch $batch: compute frames/s median,min,max = $mc (ran on $ran)"
  }
  if [ "${SKIP_RIGID_BENCH:-0}" != 1 ]; then
    for batch in $BATCHES; do
      for backend in ${BACKENDS:-cpu cuda}; do bench_one rigid "$backend" "$batch" "$REPS" "$FRAMES"; done
    done
  fi
  if [ "${SKIP_FLOW:-0}" != 1 ]; then
    # the device at every batch, then the CPU beside it (its batch only groups frames for threads)
    for q in $FLOW_QUALITIES; do
      for backend in ${BACKENDS:-cpu cuda}; do
        if [ "$backend" = cpu ]; then bl=$FLOW_CPU_BATCHES; else bl=$FLOW_BATCHES; fi
        for batch in $bl; do bench_one flow "$backend" "$batch" "$FLOW_REPS" "$FLOW_FRAMES" "$q"; done
      done
    done
  fi
  rm -rf "$w"
fi
log "done: $fails failure(s); mode $mode; results in $OUT"
[ "$fails" -eq 0 ]
