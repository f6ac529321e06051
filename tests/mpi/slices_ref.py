#!/usr/bin/python3
"""Independent single-process reference for `slabflow slices` (numpy + nibabel + h5py).

Computes, from the spec's definitions alone, what every written slice must be, and compares
an output file with it:

  slices_ref.py check OUT.h5 INPUT [--axis A] [--window K] [--pad MODE] [--clip LO HI]
                [--clip-percentiles P Q] [--no-normalize] [--skip-empty]
                [--split a,b,c] [--seed S] [--nan-fill V]
  slices_ref.py same A.h5 B.h5      # every dataset and case attribute byte-identical

Exit 0 when everything matches; prints the first mismatch otherwise.
"""
import argparse
import glob
import os
import sys

import h5py
import nibabel as nib
import numpy as np

SPLITS = ["train", "val", "test"]


def load(spec):
    """float32 of slope*x+inter computed in float64, as the (i,j,k) array nibabel shows."""
    if ".h5:" in spec or ".hdf5:" in spec:
        path, ds = spec.rsplit(":", 1)
        with h5py.File(path, "r") as f:
            return np.asarray(f[ds][...], dtype=np.float64).astype(np.float32)
    img = nib.load(spec)
    data = np.asanyarray(img.dataobj.get_unscaled()).astype(np.float64)
    slope, inter = img.dataobj.slope, img.dataobj.inter
    data = data * (1.0 if slope is None or np.isnan(slope) or slope == 0 else slope) + (
        0.0 if inter is None or np.isnan(inter) else inter)
    data = data.reshape(data.shape[:3]) if data.ndim > 3 else data
    return data.astype(np.float32)


def load_label(spec):
    return np.rint(load(spec).astype(np.float64)).astype(np.int64)


def cases_of(inp):
    if os.path.isdir(inp):
        out = []
        for p in sorted(glob.glob(os.path.join(inp, "imagesTr", "*_0000.nii*"))):
            b = os.path.basename(p)
            ext = ".nii.gz" if b.endswith(".nii.gz") else ".nii"
            name = b[: -len(ext) - 5]
            lab = os.path.join(inp, "labelsTr", name + ext)
            out.append((name, p, lab if os.path.exists(lab) else ""))
        return sorted(out)
    if inp.endswith(".nii") or inp.endswith(".nii.gz") or ".h5:" in inp:
        b = os.path.basename(inp.split(".h5:")[0])
        return [(b.split(".nii")[0] if ".nii" in b else b.rsplit(".", 1)[0], inp, "")]
    out, base = [], os.path.dirname(inp)
    for line in open(inp):
        line = line.split("#")[0].split()
        if not line:
            continue
        rel = lambda p: p if p.startswith("/") else os.path.join(base, p)
        out.append((line[0], rel(line[1]), rel(line[2]) if len(line) > 2 else ""))
    return sorted(out)


def src_index(mode, u, d):
    """Source slice of context target u in a volume of depth d (None: a zero channel)."""
    if 0 <= u < d:
        return u
    if mode == "zero":
        return None
    if mode == "replicate":
        return 0 if u < 0 else d - 1
    if mode == "reflect":
        m = -u if u < 0 else 2 * (d - 1) - u
    else:  # symmetric
        m = -u - 1 if u < 0 else 2 * d - 1 - u
    return min(max(m, 0), d - 1)


def take(vol, axis, t):
    return vol[t, :, :] if axis == 0 else vol[:, t, :] if axis == 1 else vol[:, :, t]


def expected(args):
    cases = cases_of(args.input)
    n = len(cases)
    np.random.seed(args.seed)
    perm = np.random.permutation(n)
    r = [float(x) for x in args.split.split(",")]
    n_train, n_val = int(n * r[0]), int(n * r[1])
    split = {}
    for i, c in enumerate(perm):
        split[c] = 0 if i < n_train else 1 if i < n_train + n_val else 2
    for ci, (name, img, lab) in enumerate(cases):
        v = load(img).astype(np.float64)
        if args.nan_fill is not None:
            v[~np.isfinite(v)] = np.float32(args.nan_fill)
        if args.clip:
            lo, hi = args.clip
        elif args.clip_percentiles:
            fg0 = v[v > v.min()]
            if fg0.size == 0:
                fg0 = v.ravel()
            lo, hi = np.percentile(fg0, args.clip_percentiles)
        else:
            lo, hi = -np.inf, np.inf
        c = np.clip(v, lo, hi)
        fg = c[c > c.min()]
        if fg.size == 0:
            fg = c.ravel()
        mean, std = fg.mean(), fg.std()
        if std < 1e-8:
            std = 1.0
        out = (c - mean) / std if args.normalize else c
        out = out.astype(np.float32)
        labv = load_label(lab) if lab else None
        d = v.shape[args.axis]
        keep = [t for t in range(d)
                if not (args.skip_empty and labv is not None and not take(labv, args.axis, t).any())]
        yield dict(name=name, split=split[ci], out=out, lab=labv, keep=keep, d=d, mean=mean,
                   std=std, lo=lo, hi=hi, index=ci)


def check(args):
    f = h5py.File(args.out, "r")
    K = args.window
    rows = []
    worst = 0.0
    for e in expected(args):
        g = f["/%s/%s" % (SPLITS[e["split"]], e["name"])]
        img = g["image"]
        want_shape = (len(e["keep"]), 2 * K + 1) + take(e["out"], args.axis, 0).shape
        if img.shape != want_shape:
            return "%s: image shape %s, expected %s" % (e["name"], img.shape, want_shape)
        got = img[...]
        for row, t in enumerate(e["keep"]):
            for ch in range(2 * K + 1):
                s = src_index(args.pad, t + ch - K, e["d"])
                want = np.zeros_like(take(e["out"], args.axis, 0)) if s is None else take(e["out"], args.axis, s)
                diff = np.abs(got[row, ch].astype(np.float64) - want.astype(np.float64))
                tol = 0.0 if not args.normalize else 2e-5 * (1 + np.abs(want.astype(np.float64)))
                bad = diff > tol
                if bad.any():
                    return "%s: slice %d channel %d differs by up to %g" % (e["name"], t, ch, diff.max())
                worst = max(worst, float(diff.max()))
            if e["lab"] is not None:
                lw = take(e["lab"], args.axis, t)
                if not np.array_equal(g["label"][row].astype(np.int64), lw):
                    return "%s: label of slice %d differs" % (e["name"], t)
            rows.append((e["split"], e["index"], t))
        if e["lab"] is None and "label" in g:
            return "%s: has a label but none was given" % e["name"]
        if g.attrs["slices_written"] != len(e["keep"]) or g.attrs["slices_skipped"] != e["d"] - len(e["keep"]):
            return "%s: written/skipped counts %d/%d, expected %d/%d" % (
                e["name"], g.attrs["slices_written"], g.attrs["slices_skipped"], len(e["keep"]), e["d"] - len(e["keep"]))
        if args.normalize and (abs(g.attrs["mean"] - e["mean"]) > 1e-9 * (1 + abs(e["mean"])) or
                               abs(g.attrs["std"] - e["std"]) > 1e-9 * (1 + e["std"])):
            return "%s: mean/std %r/%r, expected %r/%r" % (e["name"], g.attrs["mean"], g.attrs["std"], e["mean"], e["std"])
        if args.clip_percentiles and (g.attrs["clip"][0] != e["lo"] or g.attrs["clip"][1] != e["hi"]):
            return "%s: percentile clip %r, expected %r" % (e["name"], list(g.attrs["clip"]), [e["lo"], e["hi"]])
    idx = f["/index"][...]
    if [tuple(r) for r in idx.tolist()] != rows:
        return "/index differs from the expected (split, case, slice) rows"
    print("slices_ref: %d slices match (largest difference %.3g)" % (len(rows), worst))
    return None


def same(a, b):
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    names = []
    fa.visit(names.append)
    names_b = []
    fb.visit(names_b.append)
    if sorted(names) != sorted(names_b):
        return "different objects: %s vs %s" % (sorted(set(names) ^ set(names_b))[:5], "")
    n = 0
    for nm in names:
        oa, ob = fa[nm], fb[nm]
        if isinstance(oa, h5py.Dataset):
            if nm.startswith("slabflow"):
                continue
            if oa.dtype != ob.dtype or oa.shape != ob.shape or oa[...].tobytes() != ob[...].tobytes():
                return "dataset %s differs" % nm
            n += 1
        else:
            for k in oa.attrs:
                va, vb = oa.attrs[k], ob.attrs.get(k)
                if np.asarray(va).tobytes() != np.asarray(vb).tobytes():
                    return "attribute %s of %s differs" % (k, nm)
    print("slices_ref: %d datasets identical" % n)
    return None


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "same":
        err = same(sys.argv[2], sys.argv[3])
    else:
        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("out")
        p.add_argument("input")
        p.add_argument("--axis", type=int, default=2)
        p.add_argument("--window", type=int, default=2)
        p.add_argument("--pad", default="replicate")
        p.add_argument("--clip", type=float, nargs=2)
        p.add_argument("--clip-percentiles", type=float, nargs=2)
        p.add_argument("--no-normalize", dest="normalize", action="store_false")
        p.add_argument("--skip-empty", action="store_true")
        p.add_argument("--split", default="1,0,0")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--nan-fill", type=float)
        args, _ = p.parse_known_args()
        err = check(args)
    if err:
        print("slices_ref: FAIL: " + err, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
