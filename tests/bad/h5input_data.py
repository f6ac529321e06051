#!/usr/bin/python3
"""HDF5 inputs whose values live somewhere other than a plain dataset, for bad_h5input.sh.

  h5input_data.py make CASE DIR   writes DIR/plain/vol.h5 (the data stored plainly) and
                                  DIR/case/vol.h5 (+ its raw or source files) holding the
                                  same /data, stored as CASE says
  h5input_data.py same A B        exit 0 when every dataset of A and B has the same shape,
                                  type and bytes (attributes, which name the inputs, aside)
  h5input_data.py long FILE SRC   FILE: the frames of SRC:/data, stored contiguously

CASE: userblock, vds, external, fill (chunked, never written: all fill value), and the
defects external-short (raw file shorter than the dataset), vds-missing (a source file
gone), vds-short (a source smaller than its mapping).
"""
import os
import sys

import h5py
import numpy as np

T, H, W = 24, 48, 56


def frames():
    """A smooth moving pattern with noise, uint16: registration has something to do."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:H, 0:W]
    out = np.empty((T, H, W), np.uint16)
    for t in range(T):
        img = 1000 + 500 * np.sin((x + 0.3 * t) / 5.0) * np.cos((y - 0.2 * t) / 7.0)
        out[t] = np.clip(img + rng.normal(0, 20, (H, W)), 0, 65535)
    return out


def vds(case_dir, d, sources, layout_of):
    """A virtual /data over per-source files named by relative paths (found next to it)."""
    lay = h5py.VirtualLayout(shape=d.shape, dtype=d.dtype)
    for name, lo, hi, n in sources:
        with h5py.File(os.path.join(case_dir, name), "w") as f:
            f["part"] = d[lo:lo + n]
        layout_of(lay, name, lo, hi, n)
    with h5py.File(os.path.join(case_dir, "vol.h5"), "w") as f:
        f.create_virtual_dataset("data", lay, fillvalue=0)


def make(case, root):
    d = frames()
    plain, cdir = os.path.join(root, "plain"), os.path.join(root, "case")
    os.makedirs(plain, exist_ok=True)
    os.makedirs(cdir, exist_ok=True)
    vol = os.path.join(cdir, "vol.h5")
    if case == "fill":
        d = np.zeros_like(d)
    with h5py.File(os.path.join(plain, "vol.h5"), "w") as f:
        f["data"] = d
    if case == "userblock":
        with h5py.File(vol, "w", userblock_size=1024) as f:
            f["data"] = d
        with open(vol, "r+b") as f:  # a user block holds whatever its owner wrote
            f.write(b"slabflow test user block\n")
    elif case in ("vds", "vds-missing"):
        def whole(lay, name, lo, hi, n):
            lay[lo:hi] = h5py.VirtualSource(name, "part", shape=(n, H, W))
        vds(cdir, d, [("src0.h5", 0, 10, 10), ("src1.h5", 10, T, T - 10)], whole)
        if case == "vds-missing":
            os.remove(os.path.join(cdir, "src1.h5"))
    elif case == "vds-short":
        def sliced(lay, name, lo, hi, n):
            lay[lo:hi] = h5py.VirtualSource(name, "part", shape=(hi - lo, H, W))[0:hi - lo]
        vds(cdir, d, [("src0.h5", 0, 10, 10), ("src1.h5", 10, T, T - 14)], sliced)
    elif case in ("external", "external-short"):
        raw = os.path.join(cdir, "vol.raw")
        with open(raw, "wb") as f:
            f.write(b"\0" * 64)  # the data need not start at 0
            f.write(d.tobytes())
        with h5py.File(vol, "w") as f:
            f.create_dataset("data", shape=d.shape, dtype=d.dtype,
                             external=[("vol.raw", 64, d.nbytes)])
        if case == "external-short":
            os.truncate(raw, 64 + d.nbytes - 3 * H * W)
    elif case == "fill":
        with h5py.File(vol, "w") as f:
            f.create_dataset("data", shape=d.shape, dtype=d.dtype, chunks=(1, H, W))
    else:
        sys.exit(f"unknown case {case}")


def same(a, b):
    def datasets(path):
        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, o: out.__setitem__(n, (o.shape, o.dtype.str, o[()].tobytes()))
                         if isinstance(o, h5py.Dataset) else None)
        return out
    da, db = datasets(a), datasets(b)
    if da.keys() != db.keys():
        sys.exit(f"datasets differ: {sorted(da)} vs {sorted(db)}")
    bad = [n for n in da if da[n] != db[n]]
    if bad:
        sys.exit(f"{a} and {b} differ in {bad}")


def long_copy(path, src):
    with h5py.File(src, "r") as f:
        d = f["data"][()]
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=d)  # contiguous: HDF5 reads zeros past a cut


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], sys.argv[3])
    elif cmd == "same":
        same(sys.argv[2], sys.argv[3])
    elif cmd == "long":
        long_copy(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
