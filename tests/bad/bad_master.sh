#!/usr/bin/env bash
# Master files (DECTRIS style, /entry/data/data_NNNNNN linking to data files) that cannot be
# read as one stack must fail like every bad input: `slabflow integrate` exits 2 with exactly
# one `slabflow: error:` line naming the master, the link and the data file, no hang, no
# output, and no input changed.
#   dangling: data file p2.h5 deleted (the link dangles)
#   shape:    p2.h5 has frames of another size
#   gap:      links data_000001 and data_000003 only
#   bad_master.sh CASE DIR [NP]
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$2 np=${3:-2}
rm -rf "$dir" && mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if ! /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  echo "note: /usr/bin/python3 has no h5py"
  exit 77
fi
size2=64x80 links="1 2 3"
case "$case_" in
  dangling) want="master.h5:/entry/data/data_000002: external link to p2.h5:/entry/data/data, but the data file p2.h5 is missing \\(looked for .*/p2.h5\\)" ;;
  shape) size2=64x96
    want="master.h5:/entry/data/data_000002 \\(data file .*p2.h5:/entry/data/data\\): frames 64x96, but the stack's first part data_000001 has frames 64x80" ;;
  gap) links="1 3"
    want="master.h5:/entry/data/data: no such dataset, and the links of its stack of parts go from data_000001 to data_000003" ;;
  *) fail "unknown case $case_" ;;
esac
for k in 1 2 3; do
  s=64x80
  [ "$k" = 2 ] && s=$size2
  "$SLABFLOW" synth detector -o "$dir/p$k.h5" --frames 3 --size "$s" --compression bslz4 --seed $k >/dev/null
done
/usr/bin/python3 - "$dir" $links <<'PY'
import sys, h5py
d, links = sys.argv[1], [int(k) for k in sys.argv[2:]]
with h5py.File(f"{d}/master.h5", "w") as m:
    for k in links:
        m["/entry/data/data_%06d" % k] = h5py.ExternalLink(f"p{k}.h5", "/entry/data/data")
    with h5py.File(f"{d}/p1.h5", "r") as f:
        m["/entry/instrument/detector/pixel_mask"] = f["/entry/instrument/detector/pixel_mask"][()]
PY
[ "$case_" = dangling ] && rm "$dir/p2.h5"
before=$(sf_snapshot "$dir")
code=0
(cd "$dir" && OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
  "$SLABFLOW" integrate master.h5 -o "$dir/out.h5" --poni p1.poni --bins 50) \
  > "$dir/stdout" 2> "$dir/stderr" || code=$?
cat "$dir/stderr"
sf_check_failed_run "$case_" "$code" 2 "$want" "$dir/stderr" "$dir/out.h5"
[ ! -e "$dir/out.h5" ] || fail "$case_: out.h5 written"
[ "$before" = "$(sf_snapshot "$dir")" ] || fail "$case_: an input changed"
echo "ok: $case_"
