#!/usr/bin/env bash
# Runs the libFuzzer harnesses of a fuzz build for SECONDS each and prints per harness its
# executions, exec/s, coverage (cov: edges, ft: features) and corpus size. Builds nothing:
#   CC=clang cmake -S . -B build-fuzz -DSF_FUZZ=ON -DSF_WITH_CUDA=OFF
#   cmake --build build-fuzz --target fuzz
#   tests/fuzz/run.sh SECONDS [HARNESS...]
# Each harness starts from the seeds in tests/fuzz/corpus/<harness>/ plus what earlier runs
# found (kept in $SF_FUZZ_WORK/<harness>/corpus); $SF_FUZZ_JOBS harnesses run at a time
# (default 1). A crash, leak, timeout (-timeout=10) or memory blow-up (-rss_limit_mb=2048)
# leaves its input in $SF_FUZZ_WORK/<harness>/ and makes the script exit 1.
# tests/fuzz/<harness>.dict and <harness>.options, where present, add a dictionary and flags.
# Environment: SF_FUZZ_BUILD (build-fuzz), SF_FUZZ_WORK ($SF_FUZZ_BUILD/fuzz-work).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:?usage: run.sh SECONDS [HARNESS...]}
shift
build=${SF_FUZZ_BUILD:-$root/build-fuzz}
work=${SF_FUZZ_WORK:-$build/fuzz-work}
jobs=${SF_FUZZ_JOBS:-1}
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(tiff volume manifest h5 cli poni edf vhdr journal)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

one() {
  local h=$1 bin="$build/tests/fuzz/fuzz_$1" dir="$work/$1"
  mkdir -p "$dir/corpus" "$dir/tmp"
  [ -x "$bin" ] || { echo "fuzz_$h: no binary $bin (build the 'fuzz' target)"; return 1; }
  local dict=() opts=() rc=0
  [ -f "$here/$h.dict" ] && dict=(-dict="$here/$h.dict")
  [ -f "$here/$h.options" ] && read -r -a opts < "$here/$h.options"
  TMPDIR="$dir/tmp" "$bin" "$dir/corpus" "$here/corpus/$h" "${dict[@]}" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
    -print_final_stats=1 -artifact_prefix="$dir/" "${opts[@]}" > "$dir/log" 2>&1 || rc=$?
  local last execs rate
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
  printf 'fuzz_%-9s rc=%d execs=%s exec/s=%s corpus=%s files | %s\n' "$h" "$rc" "${execs:-?}" \
    "${rate:-?}" "$(find "$dir/corpus" -type f | wc -l)" "$last"
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|fuzz:|Test unit written' "$dir/log" | head -20 || true
    return 1
  fi
}

status=0
pids=()
for h in "${harnesses[@]}"; do
  one "$h" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
