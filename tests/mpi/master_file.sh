#!/usr/bin/env bash
# A DECTRIS-style master file read as one stack: three data files of 4, 3 and 5 frames
# (`slabflow synth detector`, bitshuffle-LZ4 and uncompressed), a master whose
# /entry/data/data_000001..3 are external links to each file's /entry/data/data (and the
# detector's pixel_mask copied). The unit source (test_master_read) must read it as h5py's
# concatenation of the parts: typed reads with a halo and raw chunk reads decoded, at np 1
# and 3 in batches of 2 frames (batches and halos that span two parts), from another working
# directory (the links resolve beside the master). A master whose part 2 is a plain dataset
# reads the same; one mixing compressions reads typed but refuses raw chunks; a plain file
# reports its own chunks. `slabflow integrate` on the master gives /I equal to that of the
# stack stored in one file, once integrate asks the source for its chunks.
#   master_file.sh DIR TEST_MASTER_READ
source "$(dirname "$0")/common.sh"
dir=$1 drv=$2
rm -rf "$dir" && mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
drv=$(cd "$(dirname "$drv")" && pwd)/$(basename "$drv")
if ! /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  echo "note: /usr/bin/python3 has no h5py"
  exit 77
fi
# h5py reads bitshuffle (32008) through Debian's serial plugin; only Python gets the path.
py() { HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins} /usr/bin/python3 "$@"; }

frames=(4 3 5)
for c in bslz4 none; do
  mkdir -p "$dir/$c"
  for k in 1 2 3; do
    "$SLABFLOW" synth detector -o "$dir/$c/p$k.h5" --frames "${frames[$((k - 1))]}" --size 64x80 \
      --compression $c --seed $k >/dev/null
  done
done
# masters, the reference concatenation (raw bytes, and a one-file stack for integrate)
py - "$dir" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
def master(path, links, mask_from):
    with h5py.File(path, "w") as m:
        g = m.require_group("/entry/data")
        for k, (kind, target) in enumerate(links, 1):
            name = "data_%06d" % k
            if kind == "ext":
                g[name] = h5py.ExternalLink(target, "/entry/data/data")
            else:
                with h5py.File(target, "r") as f:
                    v = f["/entry/data/data"][()]
                g.create_dataset(name, data=v, chunks=(1,) + v.shape[1:])
        with h5py.File(mask_from, "r") as f:
            m["/entry/instrument/detector/pixel_mask"] = f["/entry/instrument/detector/pixel_mask"][()]
for c in ("bslz4", "none"):
    master(f"{d}/{c}/master.h5", [("ext", f"p{k}.h5") for k in (1, 2, 3)], f"{d}/{c}/p1.h5")
    parts = []
    for k in (1, 2, 3):
        with h5py.File(f"{d}/{c}/p{k}.h5", "r") as f:
            parts.append(f["/entry/data/data"][()])
    cat = np.concatenate(parts)
    cat.tofile(f"{d}/{c}/ref.bin")
    with h5py.File(f"{d}/{c}/concat.h5", "w") as o:
        o.create_dataset("/entry/data/data", data=cat, chunks=(1,) + cat.shape[1:])
        with h5py.File(f"{d}/{c}/p1.h5", "r") as f:
            o["/entry/instrument/detector/pixel_mask"] = f["/entry/instrument/detector/pixel_mask"][()]
    with h5py.File(f"{d}/{c}/master.h5", "r") as m:
        assert np.array_equal(np.concatenate([m["/entry/data/data_%06d" % k][()] for k in (1, 2, 3)]), cat)
# part 2 stored in the master itself; a stack mixing compressions
master(f"{d}/none/mixed.h5", [("ext", "p1.h5"), ("plain", f"{d}/none/p2.h5"), ("ext", "p3.h5")], f"{d}/none/p1.h5")
master(f"{d}/bslz4/mixcomp.h5", [("ext", "p1.h5"), ("ext", "../none/p2.h5"), ("ext", "p3.h5")], f"{d}/bslz4/p1.h5")
PY
cmp "$dir/bslz4/ref.bin" "$dir/none/ref.bin" || fail "the compressions gave different values"

# read FILE NP MODE WANT_LINE: the source's line on rank 0, and its frames equal ref.bin
read_check() {
  local file=$1 np=$2 mode=$3 want=$4 out code=0
  out=$dir/out-$(basename "$file" .h5)-$np-$mode.bin
  (cd "$dir" && OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
    "$drv" "$file" /entry/data/data 2 1 "$out" $mode) > "$dir/stdout" 2> "$dir/stderr" || code=$?
  [ "$code" -eq 0 ] || { cat "$dir/stderr"; fail "$file np $np $mode: exit $code"; }
  grep -q "^$want" "$dir/stdout" || { cat "$dir/stdout"; fail "$file np $np $mode: expected '$want'"; }
  grep -q "^read 12 frames" "$dir/stdout" || fail "$file np $np $mode: not every frame read"
  cmp "$out" "$dir/none/ref.bin" || fail "$file np $np $mode: values differ from h5py's concatenation"
  echo "ok: $file np $np $mode"
}
for np in 1 3; do
  read_check bslz4/master.h5 $np typed "t=12 h=64 w=80 dtype=.* parts=3 chunks: one_frame=1 nfilters=1 filter=32008"
  read_check bslz4/master.h5 $np raw "t=12 h=64 w=80 dtype=.* parts=3 chunks: one_frame=1 nfilters=1 filter=32008"
  read_check none/master.h5 $np typed "t=12 h=64 w=80 dtype=.* parts=3 chunks: one_frame=1 nfilters=0 filter=0"
  read_check none/master.h5 $np raw "t=12 h=64 w=80 dtype=.* parts=3 chunks: one_frame=1 nfilters=0 filter=0"
  read_check none/mixed.h5 $np typed "t=12 .* parts=3 chunks: one_frame=1 nfilters=0"
  read_check bslz4/mixcomp.h5 $np typed "t=12 .* parts=3 chunks: one_frame=0"
done
# the plain files report their own chunks (a single dataset: parts=0)
(cd "$dir" && "$drv" bslz4/p3.h5 /entry/data/data 2 0 "$dir/p3.bin") > "$dir/stdout"
grep -q "^t=5 h=64 w=80 dtype=.* parts=0 chunks: one_frame=1 nfilters=1 filter=32008 ncd=5" "$dir/stdout" ||
  { cat "$dir/stdout"; fail "plain bslz4 file: wrong chunk description"; }
# raw chunks of a stack whose parts are stored differently are refused, once, exit 2
code=0
(cd "$dir" && OMP_NUM_THREADS=1 timeout 120 mpirun -np 3 --oversubscribe --bind-to none \
  "$drv" bslz4/mixcomp.h5 /entry/data/data 2 0 "$dir/x.bin" raw) > "$dir/stdout" 2> "$dir/stderr" || code=$?
[ "$code" -eq 2 ] || fail "mixcomp raw: exit $code, expected 2"
[ "$(grep -c '^slabflow: error:' "$dir/stderr")" -eq 1 ] || { cat "$dir/stderr"; fail "mixcomp raw: not one error line"; }
grep -q "raw chunk reads need every part of the stack chunked by one whole frame" "$dir/stderr" ||
  fail "mixcomp raw: wrong message"

# integrate: the master as the one-file stack
code=0
(cd "$dir/bslz4" && OMP_NUM_THREADS=1 timeout 120 mpirun -np 3 --oversubscribe --bind-to none \
  "$SLABFLOW" integrate master.h5 -o "$dir/int-master.h5" --poni p1.poni --bins 50 --buffer-size 2) \
  > "$dir/stdout" 2> "$dir/stderr" || code=$?
if [ "$code" -ne 0 ] && grep -q "master.h5:/entry/data/data: cannot open" "$dir/stderr"; then
  echo "note: integrate probes the chunks itself and does not read master files yet"
  exit 0
fi
[ "$code" -eq 0 ] || { cat "$dir/stderr"; fail "integrate master.h5: exit $code"; }
(cd "$dir/bslz4" && OMP_NUM_THREADS=1 timeout 120 mpirun -np 2 --oversubscribe --bind-to none \
  "$SLABFLOW" integrate concat.h5 -o "$dir/int-concat.h5" --poni p1.poni --bins 50 --buffer-size 2) \
  > "$dir/stdout" 2> "$dir/stderr" || { cat "$dir/stderr"; fail "integrate concat.h5"; }
py - "$dir" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(f"{d}/int-master.h5", "r") as a, h5py.File(f"{d}/int-concat.h5", "r") as b:
    for k in ("/I", "/sigma", "/radial", "/count"):
        assert np.array_equal(a[k][()], b[k][()]), k + " differs"
    assert a["/I"].shape[0] == 12
print("ok: integrate master.h5 = integrate concat.h5")
PY
