#!/usr/bin/env bash
# register reads every HDF5 integer type up to 64 bits: the same values stored as uint16,
# uint32, int32, int64 and uint64 (and as uint8 and int8, scaled into 0..127) give the same
# shifts, statistics and reference, and /registered holds the same values in the input's
# dtype, for --method rigid and flow, at 2 ranks.
#   dtypes.sh DIR
source "$(dirname "$0")/common.sh"
dir=$1
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
"$SLABFLOW" synth video -o u16.h5 --frames 24 --height 64 --width 72 --seed 6 >/dev/null
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
d = h5py.File("u16.h5")["data"][:]
for t in ("uint32", "int32", "int64", "uint64"):
    with h5py.File(t + ".h5", "w") as f:
        f["data"] = d.astype(t)
small = (d // 512).astype(np.uint8)  # 0..127: fits int8 as well
for t in ("uint8", "int8"):
    with h5py.File(t + ".h5", "w") as f:
        f["data"] = small.astype(t)
PY
for m in rigid flow; do
  for t in u16 uint32 int32 int64 uint64 uint8 int8; do
    sf_mpirun 2 "$SLABFLOW" register "$t.h5" -o "$m-$t.h5" --method "$m" --quality fast >/dev/null 2>"$m-$t.log" ||
      { cat "$m-$t.log" >&2; fail "$m $t: register failed"; }
  done
  /usr/bin/python3 - "$m" <<'PY' || fail "$m: outputs differ between dtypes"
import h5py, sys, numpy as np
m = sys.argv[1]
def load(t):
    f = h5py.File("%s-%s.h5" % (m, t))
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) and not n.startswith("slabflow") else None)
    return out
bad = []
for base, others in (("u16", ("uint32", "int32", "int64", "uint64")), ("uint8", ("int8",))):
    a = load(base)
    for t in others:
        b = load(t)
        if b["registered"].dtype != np.dtype(t): bad.append("%s: /registered is %s" % (t, b["registered"].dtype))
        for n, v in a.items():
            w = b[n]
            same = np.array_equal(v.astype(np.int64), w.astype(np.int64)) if n == "registered" else v.tobytes() == w.tobytes()
            if not same: bad.append("%s vs %s: /%s" % (t, base, n))
print(m, "ok" if not bad else bad)
sys.exit(1 if bad else 0)
PY
done
