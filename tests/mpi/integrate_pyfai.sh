#!/usr/bin/env bash
# `slabflow integrate` end to end against Debian's pyFAI 0.21.3 (tests/mpi/integrate_pyfai.py):
# synth detector stacks, untilted and tilted, every split in two units, polarisation, dark,
# flat, dummy, a radial range and the 2-D cake, every frame at np 2. Skips (exit 77) where
# /usr/bin/python3 cannot import pyFAI and h5py.
#   integrate_pyfai.sh DIR
source "$(dirname "$0")/common.sh"
dir=$1
py=/usr/bin/python3
if ! [ -x "$py" ] || ! OMP_NUM_THREADS=1 "$py" -c "import pyFAI, h5py" 2>/dev/null; then
  echo "SKIP: $py cannot import pyFAI and h5py"
  exit 77
fi
rm -rf "$dir" && mkdir -p "$dir"
OMP_NUM_THREADS=1 exec "$py" "$(dirname "$0")/integrate_pyfai.py" "$SLABFLOW" "$dir"
