#!/usr/bin/env bash
# Absurd sizes and small defects: a header, a frame, a slice or a --buffer-size that needs more
# memory than any node has, a recording of 10^9 frames that was never written, an option given
# last without its value, hexadecimal numbers, a label link that leads nowhere, an infinite
# scl_inter, two case names that become one. Each case must end with exactly one
# "slabflow: error:" line naming the file or the option, the documented exit code (4: not
# enough memory, 3: not enough disk, 2: bad usage or input), no hang (timeout), the previous
# output untouched, no OUT.partial, no complete=1, and every input file unchanged (md5).
#   bad_limits.sh CASE DIR [NP]
#   bad_limits.sh seed-decimal DIR     # --seed 010 is ten, not eight
source "$(dirname "$0")/../mpi/common.sh"
case_=$1 dir=$2 np=${3:-2}
rm -rf "$dir" && mkdir -p "$dir"
PY=/usr/bin/python3 # Debian's, with h5py and nibabel

# h5 FILE DATASET DIMS CHUNK WRITE: a uint16/int16 dataset claiming DIMS, chunked by CHUNK,
# with nothing written (WRITE=0: no storage allocated at all) or one chunk (WRITE=1).
h5() {
  "$PY" - "$@" <<'EOF'
import sys, h5py
path, ds, dims, chunk, write = sys.argv[1:6]
dims = tuple(int(x) for x in dims.split(","))
chunk = tuple(int(x) for x in chunk.split(","))
with h5py.File(path, "w") as f:
    d = f.create_dataset(ds, shape=dims, dtype="uint16" if ds == "data" else "int16", chunks=chunk)
    if write == "1":
        d[tuple(slice(0, c) for c in chunk)] = 7
EOF
}

# nifti2_header FILE NX NY NZ: a .nii.gz whose NIfTI-2 header claims NX x NY x NZ int16 voxels,
# followed by a few bytes of data: the header is all a run reads before it knows the sizes.
nifti2_header() {
  "$PY" - "$@" <<'EOF'
import gzip, sys
import nibabel as nib, numpy as np
path, nx, ny, nz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
h = nib.Nifti2Header()
h.set_data_shape((nx, ny, nz))
h.set_data_dtype(np.int16)
h["vox_offset"] = 544 + 4
with gzip.open(path, "wb") as f:
    f.write(h.binaryblock + b"\0" * 4 + b"\0" * 64)
EOF
}

# volumes KIND: small NIfTI inputs of slices for the defects.
volumes() {
  "$PY" - "$dir" "$1" <<'EOF'
import os, sys
import nibabel as nib, numpy as np
d, kind = sys.argv[1], sys.argv[2]
a = np.eye(4)
img = np.random.default_rng(1).normal(size=(8, 7, 6)).astype(np.float32)
lab = (img > 0).astype(np.uint8)
if kind == "label-dangling":
    os.makedirs(os.path.join(d, "nn", "imagesTr"))
    os.makedirs(os.path.join(d, "nn", "labelsTr"))
    for c in ("case_000", "case_001"):
        nib.save(nib.Nifti1Image(img, a), os.path.join(d, "nn", "imagesTr", c + "_0000.nii.gz"))
    nib.save(nib.Nifti1Image(lab, a), os.path.join(d, "nn", "labelsTr", "case_000.nii.gz"))
    os.symlink("missing.nii.gz", os.path.join(d, "nn", "labelsTr", "case_001.nii.gz"))
elif kind == "name-collision-dir":
    os.makedirs(os.path.join(d, "nn", "imagesTr"))
    for c in ("a b", "a_b", "c"):
        nib.save(nib.Nifti1Image(img, a), os.path.join(d, "nn", "imagesTr", c + "_0000.nii.gz"))
else:
    nib.save(nib.Nifti1Image(img, a), os.path.join(d, "img.nii.gz"))
    nib.save(nib.Nifti1Image(lab, a), os.path.join(d, "lab.nii.gz"))
    rows = ["# case image [label]", "c img.nii.gz lab.nii.gz"]
    if kind == "scl-inter-inf":
        # nibabel refuses to write it: patch the stored header (NIfTI-1: float32 at 280)
        s = nib.Nifti1Image(img, a)
        nib.save(s, os.path.join(d, "inf.nii"))
        raw = bytearray(open(os.path.join(d, "inf.nii"), "rb").read())
        raw[112:116] = np.array(2.0, "<f4").tobytes()       # scl_slope
        raw[116:120] = np.array(np.inf, "<f4").tobytes()    # scl_inter
        open(os.path.join(d, "inf.nii"), "wb").write(bytes(raw))
        rows.append("d inf.nii")
    if kind == "name-collision":
        rows = ["# case image [label]", "a/b img.nii.gz lab.nii.gz", "c img.nii.gz",
                "a_b img.nii.gz"]
    open(os.path.join(d, "list.txt"), "w").write("\n".join(rows) + "\n")
EOF
}

video() { "$SLABFLOW" synth video -o "$dir/in.h5" --frames 12 --height 48 --width 56 --seed 2 >/dev/null; }

if [ "$case_" = seed-decimal ]; then
  for s in 010 10 8; do
    "$SLABFLOW" synth video -o "$dir/s$s.h5" --frames 3 --height 32 --width 32 --max-shift 2 --seed "$s" >/dev/null
  done
  "$SF_H5CHECK" same "$dir/s010.h5" "$dir/s10.h5" /data >/dev/null || fail "--seed 010 is not --seed 10"
  ! "$SF_H5CHECK" same "$dir/s010.h5" "$dir/s8.h5" /data >/dev/null 2>&1 || fail "--seed 010 is still octal 8"
  echo "ok: seed-decimal: --seed 010 gives the bytes of --seed 10, not of 8"
  exit 0
fi

out="$dir/out.h5" want_code=2 want_msg="" cmd=()
case "$case_" in
  # ---- absurd sizes ----------------------------------------------------------------------
  frames-1e9) # memory is small here; the output (131 TB) is what cannot be: the disk check says
    # so. (Frames of 256x256: on ext4 fallocate then fails at once (EFBIG); an 8 TB request
    # fails with ENOSPC only after filling the disk with what it could allocate.)
    h5 "$dir/in.h5" data 1000000000,256,256 1,256,256 0
    cmd=(register "$dir/in.h5" -o "$out" --method rigid); want_code=3
    want_msg="out.h5.partial: (not enough disk space for the output|cannot reserve [0-9.]+ MB of disk space)" ;;
  frame-huge)
    h5 "$dir/in.h5" data 4,1000000,1000000 1,64,64 1
    cmd=(register "$dir/in.h5" -o "$out" --method rigid); want_code=4
    want_msg="in.h5:/data: not enough memory: the run needs about [0-9.]+ [PT]iB per rank.*available.*largest part is 2 input buffers of 64 float frames \\(--buffer-size 64\\)" ;;
  buffer-size)
    h5 "$dir/in.h5" data 1000000,2048,2048 1,64,64 1
    cmd=(register "$dir/in.h5" -o "$out" --buffer-size 1048576); want_code=4
    want_msg="in.h5:/data: not enough memory: the run needs about [0-9.]+ [PT]iB per rank.*--buffer-size 1048576" ;;
  slice-huge)
    nifti2_header "$dir/huge.nii.gz" 1000000 1000000 10
    cmd=(slices "$dir/huge.nii.gz" -o "$out"); want_code=4
    want_msg="huge.nii.gz: not enough memory: the run needs about [0-9.]+ PiB per rank.*slices of 1000000000000 voxels" ;;
  slices-deep)
    h5 "$dir/deep.h5" vol 64,64,1000000000000 64,64,1 1
    cmd=(slices "$dir/deep.h5:/vol" -o "$out"); want_code=4
    want_msg="deep.h5:/vol: not enough memory: .*largest part is the per-slice statistics of 1000000000000 slices" ;;
  slices-buffer-size)
    nifti2_header "$dir/big.nii.gz" 20000 20000 50
    cmd=(slices "$dir/big.nii.gz" -o "$out" --buffer-size 1048576); want_code=4
    want_msg="big.nii.gz: not enough memory: .*--buffer-size 1048576" ;;
  # ---- small defects ---------------------------------------------------------------------
  register-missing-value)
    video; cmd=(register "$dir/in.h5" -o "$out" --buffer-size)
    want_msg="register: option '--buffer-size' needs a value" ;;
  register-missing-output)
    video; cmd=(register "$dir/in.h5" --method rigid -o)
    want_msg="register: option '-o' needs a value" ;;
  slices-missing-value)
    volumes good; cmd=(slices "$dir/list.txt" -o "$out" --window)
    want_msg="slices: option '--window' needs a value" ;;
  synth-video-missing-value)
    cmd=(synth video -o "$out" --frames)
    want_msg="synth video: option '--frames' needs a value" ;;
  synth-volumes-missing-value)
    out="$dir/volumes"; cmd=(synth volumes -o "$out" --cases 2 --seed)
    want_msg="synth volumes: option '--seed' needs a value" ;;
  seed-hex)
    cmd=(synth video -o "$out" --frames 3 --seed 0x10)
    want_msg="--seed: expected a non-negative integer, got '0x10'" ;;
  label-dangling)
    volumes label-dangling; cmd=(slices "$dir/nn" -o "$out")
    want_msg="nn/labelsTr/case_001.nii.gz: the label is a symbolic link to missing.nii.gz, which cannot be opened" ;;
  scl-inter-inf)
    volumes scl-inter-inf; cmd=(slices "$dir/list.txt" -o "$out")
    want_msg="inf.nii: scl_inter is inf with scl_slope 2" ;;
  name-collision)
    volumes name-collision; cmd=(slices "$dir/list.txt" -o "$out")
    want_msg="list.txt:2: case 'a/b' and .*list.txt:4: case 'a_b' would both be written as a_b" ;;
  name-collision-dir)
    volumes name-collision-dir; cmd=(slices "$dir/nn" -o "$out")
    want_msg="imagesTr/a b_0000.nii.gz: case 'a b' and .*imagesTr/a_b_0000.nii.gz: case 'a_b' would both be written as a_b" ;;
  *) fail "unknown case $case_" ;;
esac

# A previous output must survive; a directory output (synth volumes) must not appear.
prev=""
if [ "$out" = "$dir/out.h5" ]; then echo "previous result" > "$out"; prev=$(md5sum < "$out"); fi
before=$(sf_snapshot "$dir")
set +e
OMP_NUM_THREADS=1 timeout 120 mpirun -np "$np" --oversubscribe --bind-to none \
  "$SLABFLOW" "${cmd[@]}" 2> "$dir/stderr" > "$dir/stdout"
code=$?
set -e
cat "$dir/stderr" >&2
sf_check_failed_run "$case_" "$code" "$want_code" "$want_msg" "$dir/stderr" "$out"
if [ -n "$prev" ]; then
  [ "$(md5sum < "$out")" = "$prev" ] || fail "$case_: the previous output was damaged"
else
  [ ! -e "$out" ] || fail "$case_: an output was written at $out"
fi
for f in "$out" "$out.partial"; do
  [ ! -f "$f" ] || [ "$("$SF_H5CHECK" attr "$f" complete 2>/dev/null || true)" != 1 ] ||
    fail "$case_: $f says complete=1"
done
[ "$(sf_snapshot "$dir")" = "$before" ] || fail "$case_: an input was modified"
echo "ok: $case_ -> exit $code: $(grep '^slabflow: error:' "$dir/stderr")"
