#!/usr/bin/env bash
# Installs what slabflow needs to build and test on Debian 12 (run as root; idempotent).
set -euo pipefail
pkgs=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev libhdf5-openmpi-dev
      hdf5-tools libfftw3-dev libcunit1-dev libtiff-dev libnifti2-dev zlib1g-dev libedf-dev
      mricron-data python3-numpy python3-nibabel python3-h5py liblz4-dev
      python3-pyfai bitshuffle hdf5-filter-plugin python3-mne
      slurm-wlm munge  # a real one-node Slurm for tests/slurm (slurmctld, slurmd, client)
      clang libclang-rt-14-dev libomp-dev)  # libFuzzer and OpenMP for tests/fuzz
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
