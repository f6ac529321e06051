#!/usr/bin/env bash
# `slabflow synth detector`: small (3 x 256x240, plain and tilted) and full Eiger 4M (2 frames)
# stacks in each compression; the same bytes for 1 and 2 threads and at np 2; usage errors;
# then /usr/bin/python3 + h5py (+ pyFAI when it imports) check values, layout and rings.
source "$(dirname "$0")/common.sh"
dir=$1
rm -rf "$dir" && mkdir -p "$dir"
for c in none gzip bslz4; do
  OMP_NUM_THREADS=2 "$SLABFLOW" synth detector -o "$dir/s-$c.h5" --frames 3 --size 256x240 --compression $c --seed 7
  OMP_NUM_THREADS=2 "$SLABFLOW" synth detector -o "$dir/t-$c.h5" --frames 3 --size 200x264 --compression $c --seed 7 --tilt
  OMP_NUM_THREADS=2 "$SLABFLOW" synth detector -o "$dir/f-$c.h5" --frames 2 --compression $c --seed 7
done
# Same names in other directories (the file records its PONI file's name).
mkdir -p "$dir/t1" "$dir/np2"
OMP_NUM_THREADS=1 "$SLABFLOW" synth detector -o "$dir/t1/s-bslz4.h5" --frames 3 --size 256x240 --compression bslz4 --seed 7
cmp "$dir/s-bslz4.h5" "$dir/t1/s-bslz4.h5" || fail "1 and 2 threads gave different files"
cmp "$dir/s-bslz4.poni" "$dir/t1/s-bslz4.poni" || fail "1 and 2 threads gave different PONI files"
OMP_NUM_THREADS=1 sf_mpirun 2 "$SLABFLOW" synth detector -o "$dir/np2/s-gzip.h5" --frames 3 --size 256x240 --compression gzip --seed 7
cmp "$dir/s-gzip.h5" "$dir/np2/s-gzip.h5" || fail "np 2 gave a different file"
mkdir -p "$dir/seed"
"$SLABFLOW" synth detector -o "$dir/seed/s-none.h5" --frames 3 --size 256x240 --seed 8
! cmp -s "$dir/s-none.h5" "$dir/seed/s-none.h5" || fail "another seed gave the same file"
for bad in "--size 10x10" "--size 64" "--compression lzf" "--frames 0"; do
  code=0
  # shellcheck disable=SC2086
  "$SLABFLOW" synth detector -o "$dir/bad.h5" $bad 2>"$dir/stderr" || code=$?
  [ "$code" -eq 2 ] || fail "synth detector $bad: exit code $code, expected 2"
  [ ! -e "$dir/bad.h5" ] || fail "synth detector $bad: left $dir/bad.h5"
done

if ! /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  echo "note: /usr/bin/python3 has no h5py: the stacks were written but not read back"
  exit 77
fi
# h5py finds the bitshuffle filter (32008) in Debian's serial plugin directory; only Python
# gets the path (slabflow's parallel HDF5 must not load the serial plugin).
HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins} \
  /usr/bin/python3 - "$dir" s 256 240 3 0 t 200 264 3 1 f 2167 2070 2 0 <<'PY'
"""Checks stacks of `slabflow synth detector` (run by synth_detector.sh with /usr/bin/python3):
the three compressions hold the same values, shapes, dtypes, chunks and filters are right, the
mask has the module gaps (or the cross) and dead pixels, invalid pixels hold 2^32-1, and, when
pyFAI imports, the PONI file loads with the expected geometry and the rings of pyFAI's 1-D
integration sit at CeO2's q = 2 pi / d.
Usage: synth_detector.py DIR PREFIX H W T TILT(0|1) [PREFIX H W T TILT ...]"""
import logging
import math
import sys

import h5py
import numpy as np

logging.disable(logging.WARNING)
PIX = 75e-6
CEO2_D = [3.12441816, 2.70582550, 1.91330756, 1.63167417, 1.56220908, 1.35291275, 1.24151789]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg)


def read(path):
    with h5py.File(path, "r") as f:
        d = f["/entry/data/data"]
        info = (d.shape, d.dtype, d.chunks, tuple(d._filters.keys()))
        m = f["/entry/instrument/detector/pixel_mask"]
        check(m.dtype == np.uint32, f"{path}: pixel_mask is {m.dtype}")
        return d[()], m[()], info


def eiger4m_gaps():
    y = np.arange(2167)[:, None] % (514 + 37) >= 514
    x = np.arange(2070)[None, :] % (1030 + 10) >= 1030
    return y | x


def main():
    d, args = sys.argv[1], sys.argv[2:]
    try:
        import pyFAI
    except ImportError:
        pyFAI = None
        print("note: pyFAI does not import: geometry and ring checks skipped")
    for i in range(0, len(args), 5):
        pre, H, W, T, tilt = args[i], int(args[i + 1]), int(args[i + 2]), int(args[i + 3]), args[i + 4] == "1"
        data = {}
        for c, filt in (("none", ()), ("gzip", ("gzip",)), ("bslz4", ("32008",))):
            path = f"{d}/{pre}-{c}.h5"
            try:
                data[c], mask, info = read(path)
            except OSError as e:
                if c == "bslz4" and not h5py.h5z.filter_avail(32008):
                    print(f"note: no bitshuffle plugin for h5py: {path} not read ({e})")
                    continue
                raise
            check(info == ((T, H, W), np.uint32, (1, H, W), filt), f"{path}: shape/dtype/chunks/filters {info}")
        fr = data["none"]
        for c in data:
            check(np.array_equal(fr, data[c]), f"{pre}: {c} values differ from none")
        check(mask.shape == (H, W), f"{pre}: mask shape {mask.shape}")
        gaps, dead = mask == 1, mask == 2
        check(set(np.unique(mask)) <= {0, 1, 2}, f"{pre}: mask values {np.unique(mask)}")
        if (H, W) == (2167, 2070):
            check(np.array_equal(gaps, eiger4m_gaps()), f"{pre}: gaps are not the Eiger 4M's modules")
            check(gaps.sum() == 250330, f"{pre}: {gaps.sum()} gap pixels, not 250330")
        else:  # a cross: whole rows and whole columns
            rows, cols = gaps.all(axis=1), gaps.all(axis=0)
            check(rows.any() and cols.any() and np.array_equal(gaps, rows[:, None] | cols[None, :]),
                  f"{pre}: gaps are not a cross of rows and columns")
        check(dead.sum() >= 3, f"{pre}: {dead.sum()} dead pixels")
        bad = mask != 0
        check(np.all(fr[:, bad] == 0xFFFFFFFF), f"{pre}: invalid pixels do not hold 2^32-1")
        good = fr[:, ~bad]
        check(good.max() < 100000 and good.mean() > 5, f"{pre}: valid counts mean {good.mean()} max {good.max()}")
        if T > 1:
            check(not np.array_equal(fr[0], fr[1]), f"{pre}: frames 0 and 1 are equal")
        if pyFAI is None:
            continue
        ai = pyFAI.load(f"{d}/{pre}-none.poni")
        det = ai.detector
        check(det.pixel1 == PIX and det.pixel2 == PIX and tuple(det.max_shape) == (H, W),
              f"{pre}: PONI detector {det.pixel1} {det.pixel2} {det.max_shape}")
        check(ai.wavelength == 1e-10, f"{pre}: wavelength {ai.wavelength}")
        dist = 0.5 * min(H, W) * PIX / math.tan(math.radians(30))
        want = ((0.42 * H * PIX, 0.57 * W * PIX, math.radians(2), math.radians(-1.5), math.radians(3))
                if tilt else (H * PIX / 2, W * PIX / 2, 0, 0, 0))
        got = (ai.poni1, ai.poni2, ai.rot1, ai.rot2, ai.rot3)
        check(abs(ai.dist - dist) < 1e-12 and np.allclose(got, want, rtol=1e-12, atol=1e-15),
              f"{pre}: geometry dist {ai.dist} (want {dist}), {got} (want {want})")
        # Rings: pyFAI's radial profile peaks at CeO2's q = 2 pi / d, well above the
        # background the generator puts under them, 2 + 100 / (1 + (q / 10)^2).
        npt = min(3000, max(300, 2 * min(H, W)))
        res = ai.integrate1d(fr[0].astype(np.float32), npt, unit="q_nm^-1", mask=bad,
                             method=("bbox", "csr", "cython"))
        q, I = res.radial, res.intensity
        step = q[1] - q[0]
        qmax = q[I > 0].max()
        qs = [20 * math.pi / dsp for dsp in CEO2_D]
        seen = 0
        for qk in qs:
            if qk > 0.97 * qmax:
                continue
            half = min(1.0, 0.45 * min(abs(qk - o) for o in qs if o != qk))
            sel = np.abs(q - qk) < half
            qp, peak = q[sel][np.argmax(I[sel])], I[sel].max()
            bg = 2 + 100 / (1 + (qk / 10) ** 2)
            check(abs(qp - qk) <= max(3 * step, 0.1),
                  f"{pre}: ring at q={qk:.3f} nm^-1 found at {qp:.3f} (bin {step:.3f})")
            check(peak > 3 * bg, f"{pre}: ring at q={qk:.3f} nm^-1: peak {peak:.1f} over background {bg:.1f}")
            seen += 1
        check(seen >= 3, f"{pre}: only {seen} rings inside q < {qmax:.1f} nm^-1")
        print(f"{pre}: {T}x{H}x{W}, {seen} rings at CeO2's q (bin {step:.3f} nm^-1), geometry as written")
    if failures:
        sys.exit(1)


main()
PY
echo "synth detector: layouts, masks, identical values for every compression, geometry and rings checked"
