#!/usr/bin/env bash
# `slabflow eeg` end to end on `slabflow synth eeg` recordings (issue 14).
# Usage: eeg.sh CASE DIR SF_EEG_SCORE
#   quality      32 channels at 2048 Hz with jitter: residual RMS against the clean truth and
#                at least 20 dB less power at the slice frequency and its harmonics, every
#                channel; /triggers equal the annotations' samples; provenance attributes
#   determinism  /corrected, /metrics and /triggers_aligned byte-identical for np 1, 2, 3, 4
#                and threads 1, 2
#   trigchan     triggers from a trigger channel (rising edges through a threshold) give the
#                bytes the annotations give
#   blocks       two acquisition blocks separated by a pause: corrected block by block
#   edge         the first slice a few samples after the recording's start: handled
#   options      --obs (auto and given), --anc, --upsample 4 and 1, --artifact-offset
#   edfout       --edf-out: EDF+ and BDF+ copies with the corrected channels
#   brainvision  the same recording as BrainVision .vhdr/.vmrk/.eeg
source "$(dirname "$0")/common.sh"
case_=$1
dir=$2
score=$3
rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"
attr() { "$SF_H5CHECK" attr "$1" "$2"; }
case "$case_" in
quality)
  "$SLABFLOW" synth eeg -o rec.edf --channels 32 --rate 2048 --seconds 40 --jitter --seed 11 >/dev/null
  OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" eeg rec.edf -o out.h5 --threads 1 >stdout
  "$score" score out.h5 rec.edf rec.h5 4.0 20.0
  # annotations (onsets at 100 us) to the nearest sample: within 0.5 + 0.2 samples of the true
  # onsets; the jittered onsets aligned to a tenth of a sample
  "$score" triggers out.h5 rec.h5 0.71 0.15
  [ "$(attr out.h5 upsample)" = 10 ] || fail "upsample attribute"
  [ "$(attr out.h5 acquisition_blocks)" = 1 ] || fail "one acquisition block expected"
  [ "$(attr out.h5 sampling_rate)" = 2048 ] || fail "sampling_rate attribute"
  ;;
determinism)
  "$SLABFLOW" synth eeg -o rec.edf --channels 7 --rate 1000 --seconds 30 --tr 1.5 --slices 15 --jitter --seed 4 >/dev/null
  for np in 1 2 3 4; do
    for t in 1 2; do
      OMP_NUM_THREADS=$t sf_mpirun "$np" "$SLABFLOW" eeg rec.edf -o "o_${np}_$t.h5" --threads "$t" >/dev/null
      "$SF_H5CHECK" same o_1_1.h5 "o_${np}_$t.h5" /corrected /metrics/snr /metrics/rms_ratio \
        /metrics/rms_residual /metrics/median_p2p /triggers /triggers_aligned /channels ||
        fail "np $np threads $t: output differs from np 1 threads 1"
    done
  done
  ;;
trigchan)
  "$SLABFLOW" synth eeg -o rec.edf --channels 6 --rate 1000 --seconds 30 --tr 1.5 --slices 15 --seed 8 >/dev/null
  "$score" trigchan rec.edf trig.edf
  "$SLABFLOW" eeg rec.edf -o a.h5 >/dev/null
  "$SLABFLOW" eeg trig.edf -o b.h5 --trigger-channel TRIG --trigger-threshold 50 >/dev/null
  "$SF_H5CHECK" same a.h5 b.h5 /corrected /triggers /channels || fail "trigger channel and annotations differ"
  ;;
blocks)
  "$SLABFLOW" synth eeg -o rec.edf --channels 6 --rate 2048 --seconds 80 --tr 2 --slices 30 --blocks 2 --pause 15 \
    --seed 12 >/dev/null
  "$SLABFLOW" eeg rec.edf -o out.h5 >/dev/null
  [ "$(attr out.h5 acquisition_blocks)" = 2 ] || fail "two acquisition blocks expected, got $(attr out.h5 acquisition_blocks)"
  "$score" score out.h5 rec.edf rec.h5 4.0 20.0
  ;;
edge)
  # the synth recording without its clean stretches (5 s each side): the first slice starts
  # within a sample of the recording's start and the last one ends at its end; those epochs
  # are clamped (handled, not fatal) and the rest is corrected as usual
  "$SLABFLOW" synth eeg -o rec.edf --channels 6 --rate 2048 --seconds 40 --seed 2 >/dev/null
  "$score" crop rec.edf cut.edf 5 5
  "$SLABFLOW" eeg cut.edf -o out.h5 >stdout
  [ "$("$SF_H5CHECK" attr out.h5 complete)" = 1 ] || fail "no complete output"
  first=$("$SF_H5CHECK" attr out.h5 first_trigger 2>/dev/null || echo 0)
  [ "$first" -le 2 ] || fail "first trigger at sample $first, expected within 2 samples of the start"
  ;;
options)
  # the optional stages: OBS (MATLAB auto rule and a given k), ANC, no upsampling, a given
  # artifact offset; every run still within the bounds
  "$SLABFLOW" synth eeg -o rec.edf --channels 8 --rate 2048 --seconds 40 --jitter --seed 11 >/dev/null
  "$SLABFLOW" eeg rec.edf -o obs.h5 --obs 0 >/dev/null
  k=$(attr obs.h5 obs_components)
  [ "$k" -ge 1 ] || fail "OBS auto rule kept $k components"
  "$score" score obs.h5 rec.edf rec.h5 4.0 20.0
  "$SLABFLOW" eeg rec.edf -o obs3.h5 --obs 3 --threads 2 >/dev/null
  [ "$(attr obs3.h5 obs_components)" = 3 ] || fail "--obs 3 kept $(attr obs3.h5 obs_components) components"
  "$SLABFLOW" eeg rec.edf -o anc.h5 --anc >/dev/null
  "$score" score anc.h5 rec.edf rec.h5 5.0 20.0
  "$SLABFLOW" eeg rec.edf -o up4.h5 --upsample 4 --artifact-offset -0.001 >/dev/null
  "$score" score up4.h5 rec.edf rec.h5 4.0 20.0
  # without upsampling the alignment is whole samples only: it runs, and is worse
  "$SLABFLOW" eeg rec.edf -o up1.h5 --upsample 1 >/dev/null
  [ "$(attr up1.h5 upsample)" = 1 ] || fail "--upsample 1"
  ;;
edfout)
  # --edf-out: the input's header, signals and annotations, corrected channels replaced (ECG
  # copied); EDF+ and BDF+
  "$SLABFLOW" synth eeg -o rec.edf --channels 6 --rate 2048 --seconds 30 --seed 5 >/dev/null
  "$SLABFLOW" synth eeg -o rec.bdf --channels 6 --rate 2048 --seconds 30 --seed 5 >/dev/null
  sf_mpirun 2 "$SLABFLOW" eeg rec.edf -o out.h5 --edf-out out.edf --threads 1 >/dev/null
  "$score" edfcheck out.h5 rec.edf out.edf
  "$SLABFLOW" eeg rec.bdf -o outb.h5 --edf-out out.bdf >/dev/null
  "$score" edfcheck outb.h5 rec.bdf out.bdf
  ;;
brainvision)
  "$SLABFLOW" synth eeg -o rec.vhdr --channels 8 --rate 2048 --seconds 30 --jitter --seed 11 >/dev/null
  "$SLABFLOW" eeg rec.vhdr -o out.h5 --trigger-regex '^S +1$' >/dev/null
  "$score" score out.h5 rec.vhdr rec.h5 4.0 20.0
  ;;
*) fail "unknown case $case_" ;;
esac
echo "eeg $case_: ok"
