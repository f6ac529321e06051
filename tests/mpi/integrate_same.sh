#!/usr/bin/env bash
# `slabflow integrate` gives the same bytes for any rank and thread count, and the same /I for
# any storage of the frames.
#   integrate_same.sh setup DIR            a 10-frame stack stored none, gzip and bitshuffle-LZ4
#                                          (synth detector, same seed), a shuffle+gzip copy
#                                          written by h5py (two filters: slabflow reads it
#                                          through H5Dread); the np 1, 1-thread baseline on the
#                                          bitshuffle-LZ4 stack; /I of every storage equal to it
#   integrate_same.sh check DIR NP THREADS a run against the baseline: every dataset byte for
#                                          byte, every attribute but provenance and timing
# Segments of 3 frames: 4 segments, so np 3 leaves a rank two and np 4 one each.
source "$(dirname "$0")/common.sh"
mode=$1 dir=$2
py=/usr/bin/python3
opts=(--bins 300 --unit 2th_deg --split full --polarization 0.95 --azimuth-bins 12 --save-sums
      --buffer-size 3)
run() { # NP THREADS IN OUT [extra options]
  local np=$1 th=$2 in=$3 out=$4; shift 4
  rm -f "$out"
  OMP_NUM_THREADS=$th sf_mpirun "$np" "$SLABFLOW" integrate "$in" -o "$out" --poni "$dir/s-bslz4.poni" \
    "${opts[@]}" --threads "$th" "$@" > "$out.log" 2>&1 || { cat "$out.log" >&2; fail "integrate $in at np $np, $th thread(s) failed"; }
}
# compare A B: every dataset's bytes, dtype and shape, and the attributes of the root and of each
# dataset but those that record how and when the run went.
compare() {
  "$py" - "$1" "$2" <<'PY'
import sys
import h5py
import numpy as np
SKIP = {"command_line", "ranks", "threads"}
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
bad = []
def items(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o))
    return out
ia, ib = items(a), items(b)
if sorted(ia) != sorted(ib):
    bad.append("objects differ: %s vs %s" % (sorted(ia), sorted(ib)))
for n in sorted(set(ia) & set(ib)):
    x, y = ia[n], ib[n]
    if isinstance(x, h5py.Dataset):
        if x.dtype != y.dtype or x.shape != y.shape or x[()].tobytes() != y[()].tobytes():
            bad.append("/%s differs" % n)
for name, x, y in [("/", a, b)] + [("/" + n, ia[n], ib[n]) for n in sorted(set(ia) & set(ib))]:
    ka = {k for k in x.attrs if k not in SKIP and not k.startswith("time_")}
    kb = {k for k in y.attrs if k not in SKIP and not k.startswith("time_")}
    if ka != kb:
        bad.append("%s: attributes %s vs %s" % (name, sorted(ka), sorted(kb)))
    for k in sorted(ka & kb):
        if np.asarray(x.attrs[k]).tobytes() != np.asarray(y.attrs[k]).tobytes():
            bad.append("%s: attribute %s: %r vs %r" % (name, k, x.attrs[k], y.attrs[k]))
for m in bad:
    print("FAIL:", m)
print("%d datasets and their attributes compared: %s" % (len(ia), "differ" if bad else "identical"))
sys.exit(1 if bad else 0)
PY
}
if ! "$py" -c "import h5py" 2>/dev/null; then echo "SKIP: $py has no h5py"; exit 77; fi
if [ "$mode" = setup ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  for c in none gzip bslz4; do
    "$SLABFLOW" synth detector -o "$dir/s-$c.h5" --frames 10 --size 256x240 --compression $c --seed 9 --tilt > /dev/null
  done
  # (h5py reads the bitshuffle stack through Debian's serial plugin; only Python gets the path)
  HDF5_PLUGIN_PATH=/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins "$py" - "$dir" <<'PY'
import sys
import h5py
d = sys.argv[1]
with h5py.File(d + "/s-bslz4.h5", "r") as src, h5py.File(d + "/s-shuf.h5", "w") as dst:
    x = src["/entry/data/data"]
    dst.create_dataset("/entry/data/data", data=x[()], chunks=(1,) + x.shape[1:], shuffle=True,
                       compression="gzip", compression_opts=4)
    m = src["/entry/instrument/detector/pixel_mask"]
    dst.create_dataset("/entry/instrument/detector/pixel_mask", data=m[()])
    assert len(dst["/entry/data/data"]._filters) == 2
PY
  run 1 1 "$dir/s-bslz4.h5" "$dir/base.h5"
  grep -q 'chunks read raw' "$dir/base.h5.log" || fail "the bitshuffle-LZ4 stack was not read as raw chunks"
  for c in none gzip shuf; do
    run 2 2 "$dir/s-$c.h5" "$dir/via-$c.h5"
    "$SF_H5CHECK" same "$dir/base.h5" "$dir/via-$c.h5" /I /sigma /I2d /sum_signal /count /radial \
      || fail "/I of the $c stack differs from the bitshuffle-LZ4 stack's"
  done
  grep -q 'chunks read through HDF5' "$dir/via-shuf.h5.log" || fail "the shuffle+gzip stack was not read through H5Dread"
  grep -q 'chunks read raw' "$dir/via-gzip.h5.log" || fail "the gzip stack was not read as raw chunks"
  echo "ok: none, gzip, bitshuffle-LZ4 (raw chunks) and shuffle+gzip (H5Dread) give the same bytes"
  exit 0
fi
np=$3 th=$4
out="$dir/out-np$np-t$th.h5"
run "$np" "$th" "$dir/s-bslz4.h5" "$out"
compare "$dir/base.h5" "$out" || fail "np $np, $th thread(s) differ from np 1, 1 thread"
