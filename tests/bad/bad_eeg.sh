#!/usr/bin/env bash
# `slabflow eeg` on bad input (issue 14 point 8), one case per call: exit 2 (usage and input
# errors, src/sf_error.h), exactly one `slabflow: error:` line naming the file or option and
# the problem, no hang, no out.h5 and no partial or lock file left, every input unchanged.
#   bad_eeg.sh CASE DIR SF_EEG_SCORE [NP]
# Inputs are `slabflow synth eeg` recordings and tests/tools/sf_eeg_score's special files.
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$(realpath -m "$2") score=$3 np=${4:-2}
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
# (sf_mpirun's options; timeout cannot run a shell function)
run() { OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none "$SLABFLOW" eeg "$@"; }
# rec NAME.(edf|vhdr): a 20 s recording, 3 EEG channels + ECG at 1000 Hz, 120 slice triggers
rec() { "$SLABFLOW" synth eeg -o "$1" --channels 4 --rate 1000 --seconds 20 --tr 1.5 --slices 15 --seed 3 >/dev/null; }
# expect_refused CODE MSG OUT ARGS...: the failed-run outcome for output OUT, no out.h5,
# every file in DIR unchanged (OUT included when it is an input).
expect_refused() {
  local want_code=$1 want_msg=$2 out=$3 code before; shift 3
  before=$(sf_snapshot .)
  set +e; run "$@" 2> stderr > stdout; code=$?; set -e
  cat stderr >&2
  sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" stderr "$out"
  [ ! -e out.h5 ] || fail "$case_: out.h5 was written"
  [ ! -e out.h5.partial ] || fail "$case_: out.h5.partial left behind"
  [ "$(sf_snapshot .)" = "$before" ] || fail "$case_: an input file was modified"
  echo "ok: $case_ (np $np) -> exit $code: $(grep '^slabflow: error:' stderr)"
}

case "$case_" in
  regex-nomatch)      # annotations there, none matching
    rec s.edf
    expect_refused 2 "s.edf: no triggers found.*--trigger-regex '\^nomatch\\\$'" out.h5 \
      s.edf -o out.h5 --trigger-regex '^nomatch$' ;;
  no-annotations)     # sf_eeg_score trigchan's file has none; no --trigger-channel given
    rec s.edf; "$score" trigchan s.edf trig.edf >/dev/null; rm s.edf s.h5
    expect_refused 2 "trig.edf: no triggers found.*no annotations" out.h5 trig.edf -o out.h5 ;;
  regex-invalid)
    rec s.edf
    expect_refused 2 "--trigger-regex: '\(' is not a POSIX extended regex" out.h5 \
      s.edf -o out.h5 --trigger-regex '(' ;;
  trigchan-missing)
    rec s.edf; "$score" trigchan s.edf trig.edf >/dev/null; rm s.edf s.h5
    expect_refused 2 "--trigger-channel: no channel 'NOPE' in trig.edf" out.h5 \
      trig.edf -o out.h5 --trigger-channel NOPE --trigger-threshold 1 ;;
  trigchan-no-threshold)
    rec s.edf; "$score" trigchan s.edf trig.edf >/dev/null; rm s.edf s.h5
    expect_refused 2 "--trigger-channel needs --trigger-threshold" out.h5 \
      trig.edf -o out.h5 --trigger-channel TRIG ;;
  trigchan-never)     # the threshold above the channel's maximum: no rising edge
    rec s.edf; "$score" trigchan s.edf trig.edf >/dev/null; rm s.edf s.h5
    expect_refused 2 "trig.edf: no triggers found: channel TRIG never rises through 1000" out.h5 \
      trig.edf -o out.h5 --trigger-channel TRIG --trigger-threshold 1000 ;;
  too-few-epochs)     # 20 triggers, default --aas-window 30
    "$score" few few.edf 20 >/dev/null
    expect_refused 2 "few.edf: .*20 triggers, fewer than the AAS window of 30 \(--aas-window\)" out.h5 \
      few.edf -o out.h5 ;;
  mixed-rates)        # C3 at half the rate of the other channels
    "$score" mixed mixed.edf >/dev/null
    expect_refused 2 "mixed.edf: the selected channels have mixed sampling rates" out.h5 \
      mixed.edf -o out.h5 ;;
  truncated)          # the last data record cut short
    rec s.edf; truncate -s -1000 s.edf
    expect_refused 2 "s.edf: .*truncated" out.h5 s.edf -o out.h5 ;;
  not-edf)            # a text file named .edf
    echo "this is not an EDF file" > text.edf
    expect_refused 2 "text.edf: not an EDF/BDF file" out.h5 text.edf -o out.h5 ;;
  missing-file)       # as `register` and `integrate`: a missing input is a usage error
    expect_refused 2 "nothere.edf: cannot open" out.h5 nothere.edf -o out.h5 ;;
  unknown-channel)
    rec s.edf
    expect_refused 2 "--channels: .*no channel 'NOPE' in s.edf" out.h5 s.edf -o out.h5 --channels Fp1,NOPE ;;
  unknown-exclude)
    rec s.edf
    expect_refused 2 "--exclude: .*no channel 'NOPE' in s.edf" out.h5 s.edf -o out.h5 --exclude NOPE ;;
  unknown-ref)
    rec s.edf
    expect_refused 2 "--ref-channel: no channel 'NOPE' in s.edf" out.h5 s.edf -o out.h5 --ref-channel NOPE ;;
  bv-truncated)       # BrainVision data file one byte short: not a whole number of samples
    rec s.vhdr; truncate -s -1 s.eeg
    expect_refused 2 "s.vhdr: the data file s.eeg .*truncated" out.h5 s.vhdr -o out.h5 --trigger-regex '^S +1$' ;;
  bv-truncated-half)  # BrainVision data file cut in half: markers beyond its end
    rec s.vhdr; truncate -s 80000 s.eeg
    expect_refused 2 "s.vmrk: marker .*out of range" out.h5 s.vhdr -o out.h5 --trigger-regex '^S +1$' ;;
  bv-missing-data)    # the .vhdr and .vmrk without the .eeg data file
    rec s.vhdr; rm s.eeg
    expect_refused 2 "s.vhdr: cannot open the data file .*s.eeg" out.h5 s.vhdr -o out.h5 --trigger-regex '^S +1$' ;;
  out-is-in)
    rec s.edf
    expect_refused 2 "s.edf: the output would overwrite the input file" s.edf s.edf -o s.edf ;;
  edf-out-is-in)
    rec s.edf
    expect_refused 2 "--edf-out: s.edf is the input" out.h5 s.edf -o out.h5 --edf-out s.edf ;;
  edf-out-is-out)     # the EDF copy and the HDF5 output on one path
    rec s.edf
    expect_refused 2 "--edf-out.*out.h5" out.h5 s.edf -o out.h5 --edf-out out.h5 ;;
  edf-out-dir-missing)  # refused before any work, as -o's missing directory is
    rec s.edf
    expect_refused 2 "no/such/x.edf: output directory .*no/such does not exist" out.h5 \
      s.edf -o out.h5 --edf-out no/such/x.edf ;;
  out-dir-missing)
    rec s.edf
    expect_refused 2 "no/such/out.h5: output directory .*no/such does not exist" no/such/out.h5 \
      s.edf -o no/such/out.h5 ;;
  upsample0)
    rec s.edf
    expect_refused 2 "--upsample: expected an integer from 1 to 50, got '0'" out.h5 s.edf -o out.h5 --upsample 0 ;;
  aas-threshold2)
    rec s.edf
    expect_refused 2 "--aas-threshold: expected a number from 0 to 1, got '2'" out.h5 s.edf -o out.h5 --aas-threshold 2 ;;
  *) fail "unknown case $case_" ;;
esac
