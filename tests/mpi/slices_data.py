#!/usr/bin/python3
"""Test volumes for `slices` that the synthetic generator does not make, written with
nibabel and h5py: a manifest mixing formats, byte orders, types, scaling and thin volumes;
and bad inputs.

  slices_data.py mixed DIR NNDIR   # DIR/mixed.txt (+ volumes), reusing case_000 of NNDIR
  slices_data.py bad DIR KIND      # one bad dataset; prints the INPUT path to use
"""
import os
import shutil
import sys

import h5py
import nibabel as nib
import numpy as np


def field(shape, seed, scale=100.0):
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    base = np.sin(i * 0.4) * np.cos(j * 0.3) + 0.05 * k
    return (scale * base + rng.normal(0, 5, shape)).astype(np.float64)


def affine(sp, origin=(-20.0, -15.0, 10.0)):
    a = np.diag(list(sp) + [1.0])
    a[:3, 3] = origin
    return a


def patch_scaling(path, hdr_class, endian, slope, inter):
    """Sets scl_slope/scl_inter in a written file's header (nibabel resets them when it
    writes an array), so the stored integers are scaled on reading."""
    dt = hdr_class.template_dtype.newbyteorder(endian)
    raw = bytearray(open(path, "rb").read())
    for name, val in (("scl_slope", slope), ("scl_inter", inter)):
        ftype, off = dt.fields[name][:2]
        raw[off:off + ftype.itemsize] = np.array(val, dtype=ftype).tobytes()
    open(path, "wb").write(bytes(raw))


def mixed(d, nn):
    os.makedirs(d, exist_ok=True)
    lines = ["# case image [label]"]
    # the synthetic case, by relative path into the nnU-Net folder
    rel = os.path.relpath(nn, d)
    lines.append("synth %s/imagesTr/case_000_0000.nii.gz %s/labelsTr/case_000.nii.gz" % (rel, rel))
    # NIfTI-2, big-endian int16 with scl_slope/inter, thinner than the window along k
    shp = (11, 9, 2)
    stored = np.rint(field(shp, 1)).astype(np.int16)
    hdr = nib.Nifti2Header(endianness=">")
    img = nib.Nifti2Image(stored, affine((1.0, 1.5, 3.0)), header=hdr)
    img.set_data_dtype(np.int16)
    path = os.path.join(d, "thin_be.nii")
    nib.save(img, path)
    patch_scaling(path, nib.Nifti2Header, ">", 0.5, -3.0)
    lab = np.zeros(shp, np.int16)
    lab[2:6, 3:7, 1] = 300  # above int8 range: labels keep their integer range
    lab[7:9, 1:4, 0] = 2
    nib.save(nib.Nifti2Image(lab, affine((1.0, 1.5, 3.0))), os.path.join(d, "thin_be_label.nii.gz"))
    lines.append("thin thin_be.nii thin_be_label.nii.gz")
    # HDF5 float64 volume and int32 label in one file
    shp = (10, 12, 9)
    with h5py.File(os.path.join(d, "vols.h5"), "w") as f:
        f["image"] = field(shp, 2, 50.0)
        lab = np.zeros(shp, np.int32)
        lab[3:8, 4:9, 2:6] = 1
        f["label"] = lab
    lines.append("h5case vols.h5:/image vols.h5:/label")
    # uncompressed uint8 NIfTI-1, no label, with a flat background (many voxels at the min)
    shp = (13, 8, 7)
    v = np.clip(field(shp, 3, 60.0) + 60, 0, 255).astype(np.uint8)
    v[:3] = 0
    nib.save(nib.Nifti1Image(v, affine((0.8, 0.8, 2.0))), os.path.join(d, "plain_u8.nii"))
    lines.append("nolabel plain_u8.nii")
    # float32 with a constant volume (std 0 -> 1)
    nib.save(nib.Nifti1Image(np.full((6, 5, 4), 7.0, np.float32), affine((1, 1, 1))),
             os.path.join(d, "const.nii.gz"))
    lines.append("const const.nii.gz")
    with open(os.path.join(d, "mixed.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def bad(d, kind):
    os.makedirs(d, exist_ok=True)
    a = affine((1, 1, 1))
    good = field((8, 7, 6), 4).astype(np.float32)
    lab = (good > 0).astype(np.uint8)
    man = os.path.join(d, "list.txt")

    def write_list(*rows):
        with open(man, "w") as f:
            f.write("\n".join(" ".join(r) for r in rows) + "\n")
        return man

    if kind == "not3d":
        nib.save(nib.Nifti1Image(good[:, :, 0], a), os.path.join(d, "flat.nii.gz"))
        return write_list(("flat", "flat.nii.gz"))
    if kind == "4d":
        nib.save(nib.Nifti1Image(np.stack([good] * 3, axis=3), a), os.path.join(d, "four.nii.gz"))
        return write_list(("four", "four.nii.gz"))
    if kind == "label-shape":
        nib.save(nib.Nifti1Image(good, a), os.path.join(d, "img.nii.gz"))
        nib.save(nib.Nifti1Image(lab[:, :, :5], a), os.path.join(d, "lab.nii.gz"))
        return write_list(("c", "img.nii.gz", "lab.nii.gz"))
    if kind == "label-affine":
        nib.save(nib.Nifti1Image(good, a), os.path.join(d, "img.nii.gz"))
        nib.save(nib.Nifti1Image(lab, affine((1, 1, 1), (5.0, 0, 0))), os.path.join(d, "lab.nii.gz"))
        return write_list(("c", "img.nii.gz", "lab.nii.gz"))
    if kind == "corrupt-gz":
        p = os.path.join(d, "img.nii.gz")
        nib.save(nib.Nifti1Image(field((40, 40, 30), 5).astype(np.float32), a), p)
        raw = open(p, "rb").read()
        with open(p, "wb") as f:  # keep the header, damage the deflate stream
            q = len(raw) // 4
            f.write(raw[:q] + bytes((b ^ 0x5A) for b in raw[q:2 * q]) + raw[2 * q:])
        return write_list(("c", "img.nii.gz"))
    if kind == "crc-gz":
        p = os.path.join(d, "img.nii.gz")
        nib.save(nib.Nifti1Image(field((40, 40, 30), 5).astype(np.float32), a), p)
        raw = bytearray(open(p, "rb").read())
        raw[-6] ^= 0x01  # the stream decodes; only its CRC-32 is wrong
        open(p, "wb").write(bytes(raw))
        return write_list(("c", "img.nii.gz"))
    if kind == "truncated-gz":
        p = os.path.join(d, "img.nii.gz")
        nib.save(nib.Nifti1Image(field((40, 40, 30), 5).astype(np.float32), a), p)
        raw = open(p, "rb").read()
        with open(p, "wb") as f:
            f.write(raw[: len(raw) // 2])
        return write_list(("c", "img.nii.gz"))
    if kind == "empty-dir":
        os.makedirs(os.path.join(d, "ds", "imagesTr"), exist_ok=True)
        os.makedirs(os.path.join(d, "ds", "labelsTr"), exist_ok=True)
        return os.path.join(d, "ds")
    if kind == "nan":
        g = good.copy()
        g[3, 2, 4] = np.nan
        nib.save(nib.Nifti1Image(g, a), os.path.join(d, "img.nii.gz"))
        nib.save(nib.Nifti1Image(good, a), os.path.join(d, "ok.nii.gz"))
        return write_list(("a", "ok.nii.gz"), ("b", "img.nii.gz"), ("c", "ok.nii.gz"))
    if kind == "manifest-line":
        nib.save(nib.Nifti1Image(good, a), os.path.join(d, "img.nii.gz"))
        return write_list(("c", "img.nii.gz", "lab.nii.gz", "extra"))
    if kind == "missing-file":
        return write_list(("c", "nowhere.nii.gz"))
    if kind == "label-fraction":
        nib.save(nib.Nifti1Image(good, a), os.path.join(d, "img.nii.gz"))
        lf = lab.astype(np.float32)
        lf[1, 1, 1] = 1.5
        nib.save(nib.Nifti1Image(lf, a), os.path.join(d, "lab.nii.gz"))
        return write_list(("c", "img.nii.gz", "lab.nii.gz"))
    # a good dataset for option errors
    nib.save(nib.Nifti1Image(good, a), os.path.join(d, "img.nii.gz"))
    nib.save(nib.Nifti1Image(lab, a), os.path.join(d, "lab.nii.gz"))
    return write_list(("c", "img.nii.gz", "lab.nii.gz"))


if __name__ == "__main__":
    if sys.argv[1] == "mixed":
        mixed(sys.argv[2], sys.argv[3])
    else:
        print(bad(sys.argv[2], sys.argv[3]))
