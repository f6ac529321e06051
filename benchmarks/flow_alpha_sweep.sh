#!/bin/bash
# Accuracy of `slabflow register --method flow` per preset over the smoothness weight alpha,
# on the accuracy test's data (tests/mpi/flow_accuracy.sh): which alpha suits which noise
# level, and where the quality preset overtakes balanced. No timing. See benchmarks/README.md.
#
# usage: benchmarks/flow_alpha_sweep.sh [CSV]   (default benchmarks/results/flow_alpha.csv)
#
# Environment (defaults in brackets):
#   SLABFLOW     binary [<repo>/build/slabflow]
#   SF_H5CHECK   EPE helper [<repo>/build/tests/sf_h5check]
#   SIZE         frame height and width [512]; FRAMES [12]; SEED [21]
#   NOISE_DB     synth --noise-db, a list [30]
#   ALPHAS       alpha values [1.5 4 8 12 16 24]
#   ITERATIONS   solver iterations per level, a list [50 100]
#   PRESETS      [fast balanced quality]
#   THREADS      OpenMP threads of each run [2]
# Each run registers against the clean scene (--reference-file IN:/truth/clean_mean) and
# scores the mean endpoint error of /flow against /truth/flow with a 25-px border cropped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
SLABFLOW=${SLABFLOW:-$repo/build/slabflow}
SF_H5CHECK=${SF_H5CHECK:-$repo/build/tests/sf_h5check}
SIZE=${SIZE:-512} FRAMES=${FRAMES:-12} SEED=${SEED:-21} THREADS=${THREADS:-2}
NOISE_DB=${NOISE_DB:-30}
ALPHAS=${ALPHAS:-"1.5 4 8 12 16 24"}
ITERATIONS=${ITERATIONS:-"50 100"}
PRESETS=${PRESETS:-"fast balanced quality"}
csv=${1:-$repo/benchmarks/results/flow_alpha.csv}

for b in "$SLABFLOW" "$SF_H5CHECK"; do
  [[ -x $b ]] || { echo "flow_alpha_sweep: error: $b not found; build first" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$csv")"
echo "noise_db,size,frames,seed,alpha,iterations,preset,epe_px,zero_flow_epe_px" >"$csv"
for db in $NOISE_DB; do
  in=$tmp/in_$db.h5
  "$SLABFLOW" synth video -o "$in" --frames "$FRAMES" --height "$SIZE" --width "$SIZE" \
    --seed "$SEED" --motion nonrigid --max-shift 4 --noise-db "$db" >/dev/null
  for it in $ITERATIONS; do
    for a in $ALPHAS; do
      line="$db dB, $it it, alpha $a:"
      for p in $PRESETS; do
        OMP_NUM_THREADS=$THREADS "$SLABFLOW" register "$in" -o "$tmp/out.h5" --threads "$THREADS" \
          --quality "$p" --alpha "$a" --iterations "$it" --save-flow --buffer-size "$FRAMES" \
          --reference-file "$in:/truth/clean_mean" >"$tmp/log" 2>&1 ||
          { cat "$tmp/log" >&2; echo "flow_alpha_sweep: error: register failed" >&2; exit 1; }
        r=$("$SF_H5CHECK" epe "$tmp/out.h5" "$in" 25 100 || true)
        epe=$(sed -E 's/.*EPE ([0-9.]+) px \(worst.*/\1/' <<<"$r")
        zero=$(sed -E 's/.*zero-flow EPE ([0-9.]+) px.*/\1/' <<<"$r")
        [[ $epe =~ ^[0-9.]+$ && $zero =~ ^[0-9.]+$ ]] ||
          { echo "flow_alpha_sweep: error: cannot read the EPE from: $r" >&2; exit 1; }
        echo "$db,$SIZE,$FRAMES,$SEED,$a,$it,$p,$epe,$zero" >>"$csv"
        line+=" $p $epe"
      done
      echo "$line"
    done
  done
done
echo "flow_alpha_sweep: wrote $csv"
