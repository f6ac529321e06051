#!/usr/bin/env bash
# The MPI integration tests against an ASan + UBSan build (cmake -DSF_SANITIZE=ON, whole
# project built): determinism (every rank and thread count gives the same bytes), resume
# (resume.*: killed at np 3, resumed at np 1 and 2) and a cross-section of the bad-input corpus
# (each reader's and check's error paths), at np 1 and 2 (tests named np3 and up left out;
# eeg.determinism also runs np 3 and 4 inside).
#   tests/sanitize/mpi_tests.sh BUILD_ASAN [extra ctest options...]
# Sanitizer settings: no leak check (Open MPI and HDF5 keep allocations until exit);
# allocator_may_return_null=1 so that the huge-allocation tests (bad.limits.*) get NULL and
# their clean "out of memory" error as in a normal build, instead of ASan's abort; a UBSan
# report halts the rank with a stack trace. Any sanitizer report also breaks the tests'
# one-error-line and same-bytes checks.
set -euo pipefail
build=${1:?usage: mpi_tests.sh BUILD_ASAN [ctest options...]}
shift
sel=(
  # determinism and same bytes for any rank/thread count (their fixture setups come along)
  'register\.determinism\..*' 'flow\.determinism\..*' 'slices\.same\..*' 'integrate\.same\..*'
  eeg.determinism
  # resume tests wherever they are (register.interrupt is left out: under ASan a batch
  # outlasts the few seconds mpirun grants its ranks after a SIGTERM, a timing and not a
  # memory matter; it runs in the plain build)
  '.*resume.*'
  # bad input: register/flow inputs and options
  bad.missing-file bad.2d bad.dtype bad.tiny bad.truncated bad.corrupt bad.corrupt-header bad.nan
  bad.unknown-option bad.ref-shape bad.flow-weights bad.flow-ref-shape bad.flow-sigma
  # HDF5 input layouts, the input shrinking while read
  bad.input.userblock bad.input.vds-missing bad.input.external-short bad.input.fill.np1
  bad.input.fill.np2
  # slices: NIfTI/gzip readers, labels, manifests
  bad.slices.not3d bad.slices.label-shape bad.slices.corrupt-gz bad.slices.crc-gz
  bad.slices.truncated-gz bad.slices.manifest-line bad.slices.nan bad.slices.missing-file
  # size limits (huge allocations refused cleanly)
  bad.limits.frames-1e9.np1 bad.limits.frame-huge.np1
  bad.limits.frame-huge.np2 bad.limits.slices-deep.np1 bad.limits.slices-deep.np2
  # outputs: partial files, links, a full disk (second-run, stale-lock and truncated-running
  # are left out: their waits are tuned to the plain build's speed)
  bad.output.reg-partial-is-input bad.output.reg-partial-hardlink
  bad.output.disk-small-register.np1 bad.output.disk-small-register.np2
  bad.output.disk-fills-register.np2
  bad.cli.register-missing-value bad.cli.seed-hex bad.cli.name-collision
  # integrate: chunk decoding, PONI parser, mask
  bad.integrate.corrupt-chunk.np1 bad.integrate.poni-malformed
  bad.integrate.mask-shape.np1 bad.integrate.2d
  # eeg: EDF/BDF and BrainVision readers, triggers, channels
  bad.eeg.truncated.np1 bad.eeg.not-edf bad.eeg.bv-truncated
  bad.eeg.bv-missing-data bad.eeg.regex-nomatch.np1 bad.eeg.unknown-channel.np1
  bad.eeg.too-few-epochs.np1 bad.eeg.mixed-rates
  bad.master.gap bad.master.dangling
)
# names without a '*' match literally (and no groups inside: CMake's regex allows 9 at most)
for i in "${!sel[@]}"; do [[ "${sel[$i]}" == *'*'* ]] || sel[$i]=${sel[$i]//./\\.}; done
regex="^($(IFS='|'; echo "${sel[*]}"))\$"
[ -x "$build/slabflow" ] || { echo "mpi_tests.sh: $build/slabflow not built" >&2; exit 2; }
n=$(ctest --test-dir "$build" -N -R "$regex" -E 'np[3-9]' | awk '/^Total Tests:/ {print $3}')
# a guard against renamed tests silently dropping out of the selection
if [ "${n:-0}" -lt 65 ]; then
  echo "mpi_tests.sh: only ${n:-0} tests match the selection (expected 65 or more); test names changed?" >&2
  exit 1
fi
# ctest -j starts the costliest tests first only once it has timed them; on a fresh build
# directory, tell it which are long under the sanitizers (seconds on 2 cores), so that they do
# not start last and stretch the run.
cost=$build/Testing/Temporary/CTestCostData.txt
if [ ! -s "$cost" ]; then
  mkdir -p "$(dirname "$cost")"
  printf '%s 1 %s\n' resume.eeg 140 resume.register 45 eeg.determinism 30 resume.slices 30 \
    resume.integrate 22 resume.register-rigid 20 bad.limits.frames-1e9.np1 19 \
    integrate.same.setup 15 flow.determinism.setup 12 > "$cost"
  echo --- >> "$cost"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "mpi_tests.sh: $n MPI integration tests on the sanitizer build $build (np 1 and 2)"
[ -z "${SF_LIST_ONLY:-}" ] || { ctest --test-dir "$build" -N -R "$regex" -E 'np[3-9]'; exit 0; }
ctest --test-dir "$build" -R "$regex" -E 'np[3-9]' --output-on-failure "$@"
