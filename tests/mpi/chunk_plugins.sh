#!/usr/bin/env bash
# Our raw-chunk decoders against the real HDF5 filter plugins: h5py (Debian's python3 with the
# bitshuffle and hdf5-filter-plugin packages) writes bitshuffle-LZ4, LZ4 and gzip frames and
# its own decoded values; sf_chunk_check decodes every raw chunk and must match them, then
# writes the same frames with our bitshuffle-LZ4 encoder, which h5py must read back equal.
# Exit 77 (skip) when h5py or the plugins are missing.
#   chunk_plugins.sh SF_CHUNK_CHECK WORKDIR
set -euo pipefail
check=$1 dir=$2
py=/usr/bin/python3
plugins=/usr/lib/x86_64-linux-gnu/hdf5
[ -x "$py" ] && "$py" -c 'import h5py, numpy' 2>/dev/null || { echo "skip: no h5py for $py"; exit 77; }
for p in serial/plugins/libh5bshuf.so serial/plugins/libh5lz4.so; do
  [ -e "$plugins/$p" ] || { echo "skip: no $plugins/$p"; exit 77; }
done
rm -rf "$dir" && mkdir -p "$dir"
tools=$(dirname "$0")/../tools
# h5py is Debian's serial HDF5; sf_chunk_check links the parallel one: each its own plugins
HDF5_PLUGIN_PATH=$plugins/serial/plugins "$py" "$tools/chunk_plugins.py" write "$dir/in.h5"
HDF5_PLUGIN_PATH=$plugins/openmpi/plugins "$check" "$dir/in.h5" "$dir/out.h5"
HDF5_PLUGIN_PATH=$plugins/serial/plugins "$py" "$tools/chunk_plugins.py" verify "$dir/in.h5" "$dir/out.h5"
