#!/usr/bin/env python3
"""Python anchor of the `slabflow slices` benchmark: the work of the public AVTE
`preprocess_2d_slices.py` tool (specs/slices.md B1), done its way, in one process.

  peer_slices.py INPUT_DIR OUT_DIR [--window 2] [--axis 2] [--pad replicate]
                 [--clip LO HI] [--no-normalize] [--compress | --no-compress]

INPUT_DIR is an nnU-Net v2 raw dataset (imagesTr/<case>_0000.nii.gz + labelsTr/<case>.nii.gz,
e.g. from `slabflow synth volumes`). For each case in sorted order: nibabel load, get_fdata()
cast to float32 (label cast to int8, as the anchor does), optional clip, z-score over the
foreground (voxels > volume minimum; population std; std < 1e-8 -> 1; mean/std/min/max in
float32 as numpy computes them), then for each slice t along --axis (default 2, slabflow's
default; the anchor slices along 0) the 2K+1 slices t-K..t+K stacked into (C,H,W) float32
with --pad at the ends (default replicate = the anchor's default), written with the centre
label slice and the anchor's metadata JSON as OUT_DIR/<case>_<t:03d>.npz by
np.savez_compressed (np.savez with --no-compress); finally OUT_DIR/dataset_info.json.
Unlike the anchor, --clip applies with --no-normalize too, and the case name is the file
name minus its "_0000.nii.gz" suffix (the anchor replaces "_0000" anywhere in it).

Prints one CSV line to stdout: slices,seconds,slices_per_s,MB_per_s, where seconds is the
wall time of the whole loop (loading, normalising, stacking, writing, dataset_info.json;
not the interpreter start-up or imports) and MB = 1e6 bytes of float32 image output
(C*H*W*4 per slice). One thread: a per-core figure. Needs numpy and nibabel only
(pip install numpy nibabel). Exit status 1 on a failed output check, 2 on bad input.
"""
import argparse
import json
import os
import sys
import time

# One thread everywhere, before numpy starts a BLAS pool.
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

SUFFIX = "_0000.nii.gz"


def source_index(u, depth, pad):
    """Slice index that stands for u (may be outside [0, depth)), or None for a zero slice.
    Offsets past a short volume are clamped into [0, depth-1] (specs/slices.md B5.30)."""
    if 0 <= u < depth:
        return u
    if pad == "zero":
        return None
    if pad == "replicate":
        s = 0 if u < 0 else depth - 1
    elif pad == "reflect":  # edge not repeated: -1 -> 1, D -> D-2
        s = -u if u < 0 else 2 * depth - 2 - u
    else:  # symmetric, edge repeated: -1 -> 0, D -> D-1
        s = -u - 1 if u < 0 else 2 * depth - 1 - u
    return min(max(s, 0), depth - 1)


def normalise(vol, clip):
    """Clip, then z-score over voxels > min, the anchor's way (float32 numpy reductions)."""
    if clip is not None:
        vol = np.clip(vol, clip[0], clip[1])
    fg = vol > vol.min()
    sel = vol[fg] if fg.any() else vol
    mean, std = sel.mean(), sel.std()
    if std < 1e-8:
        std = 1.0
    stats = {"mean": float(mean), "std": float(std), "min": float(vol.min()),
             "max": float(vol.max())}
    return (vol - mean) / std, stats


def process_case(img_path, lab_path, out_dir, a):
    """Writes every slice of one case; returns (slices, image bytes)."""
    img_nii, lab_nii = nib.load(img_path), nib.load(lab_path)
    vol = img_nii.get_fdata().astype(np.float32)
    lab = lab_nii.get_fdata().astype(np.int8)
    if vol.ndim != 3 or vol.shape != lab.shape:
        raise ValueError(f"{img_path}: image {vol.shape} and label {lab.shape} must be the "
                         "same 3-D grid")
    spacing = [float(s) for s in img_nii.header.get_zooms()]
    stats = {}
    if a.normalize:
        vol, stats = normalise(vol, a.clip)
    elif a.clip is not None:
        vol = np.clip(vol, a.clip[0], a.clip[1])
    vol, lab = np.moveaxis(vol, a.axis, 0), np.moveaxis(lab, a.axis, 0)
    depth, k = vol.shape[0], a.window
    case = os.path.basename(img_path)[:-len(SUFFIX)]
    save = np.savez_compressed if a.compress else np.savez
    nbytes = 0
    for t in range(depth):
        chans = []
        for o in range(-k, k + 1):
            s = source_index(t + o, depth, a.pad)
            chans.append(np.zeros_like(vol[0]) if s is None else vol[s])
        image = np.stack(chans, axis=0)
        label = lab[t]
        meta = {"source_file": os.path.basename(img_path), "slice_index": t,
                "total_slices": depth, "window_size": k, "padding_mode": a.pad,
                "num_channels": 2 * k + 1, "spacing": spacing, "normalized": a.normalize,
                "norm_stats": stats,
                "shape": {"image": list(image.shape), "label": list(label.shape)}}
        save(os.path.join(out_dir, f"{case}_{t:03d}.npz"), image=image.astype(np.float32),
             label=label.astype(np.int8), metadata=json.dumps(meta))
        nbytes += image.size * 4
    return depth, nbytes, case


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--window", type=int, default=2, help="K neighbours each side [2]")
    ap.add_argument("--axis", type=int, default=2, choices=(0, 1, 2),
                    help="slice axis of nibabel's (i,j,k) array [2]")
    ap.add_argument("--pad", default="replicate",
                    choices=("zero", "replicate", "reflect", "symmetric"))
    ap.add_argument("--clip", type=float, nargs=2, metavar=("LO", "HI"), default=None)
    ap.add_argument("--no-normalize", dest="normalize", action="store_false")
    ap.add_argument("--compress", action=argparse.BooleanOptionalAction, default=True,
                    help="np.savez_compressed (the anchor) or np.savez [compress]")
    a = ap.parse_args()
    if a.window < 0:
        ap.error("--window must be >= 0")
    if a.clip is not None and not a.clip[0] <= a.clip[1]:
        ap.error("--clip: LO must be <= HI")
    images = os.path.join(a.input_dir, "imagesTr")
    labels = os.path.join(a.input_dir, "labelsTr")
    if not os.path.isdir(images) or not os.path.isdir(labels):
        print(f"peer_slices: {a.input_dir} has no imagesTr/ and labelsTr/", file=sys.stderr)
        return 2
    cases = sorted(f for f in os.listdir(images) if f.endswith(SUFFIX))
    if not cases:
        print(f"peer_slices: no *{SUFFIX} in {images}", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)

    t0 = time.perf_counter()
    slices = nbytes = 0
    names = []
    for f in cases:
        lab_path = os.path.join(labels, f[:-len(SUFFIX)] + ".nii.gz")
        if not os.path.exists(lab_path):
            print(f"peer_slices: warning: no label for {f}, skipped", file=sys.stderr)
            continue
        n, b, case = process_case(os.path.join(images, f), lab_path, a.out_dir, a)
        slices, nbytes = slices + n, nbytes + b
        names.append(case)
    info = {"window_size": a.window, "total_channels": 2 * a.window + 1,
            "padding_mode": a.pad, "normalized": a.normalize,
            "clip_range": list(a.clip) if a.clip is not None else None,
            "num_cases": len(names), "num_slices": slices, "case_names": names}
    with open(os.path.join(a.out_dir, "dataset_info.json"), "w") as fh:
        json.dump(info, fh, indent=2)
    seconds = time.perf_counter() - t0

    # Check the output before reporting a speed: one file per slice, the last one readable.
    ours = set(names)
    written = [f for f in os.listdir(a.out_dir)
               if f.endswith(".npz") and f.rsplit("_", 1)[0] in ours]
    if slices == 0 or len(written) != slices:
        print(f"peer_slices: {len(written)} .npz files for {slices} slices", file=sys.stderr)
        return 1
    with np.load(os.path.join(a.out_dir, sorted(written)[-1])) as z:
        if z["image"].dtype != np.float32 or z["image"].shape[0] != 2 * a.window + 1:
            print("peer_slices: unexpected image in the last slice file", file=sys.stderr)
            return 1
    print(f"{slices},{seconds:.6f},{slices / seconds:.3f},{nbytes / 1e6 / seconds:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
