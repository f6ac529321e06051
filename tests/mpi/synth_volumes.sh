#!/usr/bin/env bash
# `slabflow synth volumes`: the same bytes for any rank count, a valid nnU-Net v2 raw dataset
# (checked with nibabel), labels absent near both ends of k, bad options exit 2 on every rank.
source "$(dirname "$0")/common.sh"
dir=$1
rm -rf "$dir" && mkdir -p "$dir"

# An interpreter with nibabel and numpy (Debian's python3-nibabel lives in /usr/bin/python3,
# which a pyenv or venv python3 earlier on PATH may hide).
py=
for cand in ${SF_PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import nibabel, numpy' 2>/dev/null; then
    py=$cand
    break
  fi
done
[ -n "$py" ] || fail "no python3 with nibabel and numpy (apt install python3-nibabel, or set SF_PYTHON)"

args=(--cases 3 --size 64 48 20 --seed 7)
OMP_NUM_THREADS=1 sf_mpirun 1 "$SLABFLOW" synth volumes -o "$dir/np1" "${args[@]}"
OMP_NUM_THREADS=2 sf_mpirun 2 "$SLABFLOW" synth volumes -o "$dir/np2" "${args[@]}"
n=0
for f in dataset.json imagesTr/case_00{0,1,2}_0000.nii.gz labelsTr/case_00{0,1,2}.nii.gz; do
  [ -s "$dir/np1/$f" ] || fail "np 1 did not write $f"
  cmp "$dir/np1/$f" "$dir/np2/$f" || fail "$f differs between np 1 and np 2"
  n=$((n + 1))
done
[ "$(ls "$dir/np1/imagesTr" | wc -l)" = 3 ] && [ "$(ls "$dir/np1/labelsTr" | wc -l)" = 3 ] \
  || fail "unexpected files in $dir/np1"
echo "synth volumes: $n files identical at np 1 and np 2"

# Another seed gives another dataset; a rerun into the same directory is allowed.
OMP_NUM_THREADS=1 sf_mpirun 1 "$SLABFLOW" synth volumes -o "$dir/np1" --cases 3 --size 64 48 20 --seed 8
! cmp -s "$dir/np1/imagesTr/case_000_0000.nii.gz" "$dir/np2/imagesTr/case_000_0000.nii.gz" \
  || fail "another seed gave the same image"

"$py" - "$dir/np2" 3 <<'EOF' || fail "nibabel checks failed"
import json, os, sys
import nibabel as nib
import numpy as np

root, ncases = sys.argv[1], int(sys.argv[2])
with open(os.path.join(root, "dataset.json")) as f:
    meta = json.load(f)
assert meta["numTraining"] == ncases, meta
assert meta["channel_names"] == {"0": "CT"}, meta
assert meta["labels"] == {"background": 0, "liver": 1, "kidney": 2, "bone": 3}, meta
assert meta["file_ending"] == ".nii.gz", meta
for c in range(ncases):
    name = f"case_{c:03d}"
    im = nib.load(os.path.join(root, "imagesTr", name + "_0000.nii.gz"))
    lb = nib.load(os.path.join(root, "labelsTr", name + ".nii.gz"))
    for img in (im, lb):
        h = img.header
        assert h["sizeof_hdr"] == 348 and h["magic"] == b"n+1", (name, h["magic"])
        assert int(h["sform_code"]) == 1 and int(h["qform_code"]) == 1, name
        assert h.get_xyzt_units()[0] == "mm", name
        assert np.allclose(img.get_sform(), img.get_qform(), atol=1e-5), name
        assert np.allclose(h.get_zooms(), (0.8, 0.8, 2.5)), (name, h.get_zooms())
        assert nib.aff2axcodes(img.affine) == ("R", "A", "S"), name
        assert img.dataobj.slope == 1 and img.dataobj.inter == 0, name
    a, l = np.asanyarray(im.dataobj), np.asanyarray(lb.dataobj)
    assert a.ndim == 3 and a.dtype == np.int16, (name, a.shape, a.dtype)
    assert np.issubdtype(l.dtype, np.integer), (name, l.dtype)
    assert a.shape == l.shape == (64, 48, 20), (name, a.shape, l.shape)
    assert np.array_equal(im.affine, lb.affine), name
    assert set(np.unique(l).tolist()) <= {0, 1, 2, 3}, (name, np.unique(l))
    per_k = l.reshape(-1, l.shape[2]).max(axis=0)
    assert (per_k == 0).any(), f"{name}: every k-plane has a label"
    assert (per_k > 0).any(), f"{name}: no labelled k-plane"
    assert per_k[0] == 0 and per_k[-1] == 0, f"{name}: labels in an end plane"
    # CT-like: air near -1000, labelled organs at tissue and bone values.
    assert a.min() == -1024 and a.max() <= 3071, name
    assert (a[0, 0] == -1024).all(), f"{name}: corner inside the reconstruction circle"
    assert ((a >= -1080) & (a <= -920)).mean() > 0.05, f"{name}: no air around the body"
    for k, lo, hi in ((1, 30, 100), (2, 80, 220), (3, 150, 900)):
        if (l == k).any():
            m = float(a[l == k].mean())
            assert lo < m < hi, (name, k, m)
print(f"synth volumes: {ncases} cases pass the nibabel checks")
EOF

# Bad options: exit 2 with a message on stderr; under mpirun on two ranks too (no hang).
expect_usage() {
  local np=$1; shift
  local rc=0 run=("$SLABFLOW")
  [ "$np" = 1 ] || run=(sf_mpirun "$np" "$SLABFLOW")
  "${run[@]}" synth volumes "$@" >"$dir/bad.out" 2>"$dir/bad.err" || rc=$?
  [ "$rc" = 2 ] || fail "synth volumes $* (np $np): exit $rc, expected 2"
  grep -q "error" "$dir/bad.err" || fail "synth volumes $* (np $np): no message"
}
expect_usage 1 -o "$dir/bad" --cases 0
expect_usage 1 -o "$dir/bad" --cases 100001
expect_usage 1 -o "$dir/bad" --size 3 4 5
expect_usage 1 -o "$dir/bad" --size 64 48 4097
expect_usage 1 -o "$dir/bad" --size 64 48
expect_usage 1 --cases 2 --size 16 16 16
expect_usage 1 -o "$dir/bad" --cases 2 --seed -1
expect_usage 1 -o "$dir/bad" --cases 2 stray
expect_usage 2 -o "$dir/bad" --size 3 4 5
expect_usage 2 --cases 2
[ ! -e "$dir/bad" ] || fail "a rejected command created its output directory"
# A stale case from a larger dataset would be read along with the new ones: refused.
expect_usage 2 -o "$dir/np1" --cases 2 --size 64 48 20
echo "synth volumes: bad options exit 2 with a message"
