#!/usr/bin/env bash
# The azimuthal integrator against Debian's pyFAI 0.21.3 (tests/tools/azim_pyfai.py): every
# split mode, two geometries, two units, with and without polarisation, 1-D and 2-D. Skips
# (exit 77) where /usr/bin/python3 cannot import pyFAI.
#   azim_pyfai.sh SF_AZIM_RUN DIR
set -euo pipefail
run=$1 dir=$2
py=/usr/bin/python3
if ! [ -x "$py" ] || ! OMP_NUM_THREADS=1 "$py" -c "import pyFAI" 2>/dev/null; then
  echo "SKIP: $py cannot import pyFAI"
  exit 77
fi
rm -rf "$dir" && mkdir -p "$dir"
OMP_NUM_THREADS=1 exec "$py" "$(dirname "$0")/../tools/azim_pyfai.py" "$run" "$dir"
