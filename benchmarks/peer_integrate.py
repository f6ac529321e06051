#!/usr/bin/env python3
"""pyFAI's side of benchmarks/bench_integrate.sh (pyFAI is only called, never copied).

  peer_integrate.py export IN.h5 PREFIX --frames K
      frames 0..K-1 of /entry/data/data as float32 (PREFIX.f32) and the NeXus pixel mask as
      uint8 (PREFIX.mask), for slabflow's kernel driver (tests/tools/sf_azim_run).
  peer_integrate.py memory IN.h5 IN.poni --frames K --reps R --splits "no bbox full" --csv F
                           [--save PREFIX]
      K frames read into memory once; per split: the first call (builds pyFAI's CSR engine),
      one warm-up pass over the K frames, then R timed passes; one CSV line per pass. The call
      is issue 13's: integrate1d(frame, 1000, unit='q_nm^-1', method=(split, 'csr', 'cython'),
      correctSolidAngle=True, mask=mask, error_model='poisson'). --save writes frame 0's
      intensity per split to PREFIX_<split>.I (float32) for the validation.
  peer_integrate.py e2e IN.h5 IN.poni OUT.h5 --split S [--bins N]
      pyFAI's direct-chunk-read way (the parallelisation tutorial's): read every raw chunk with
      h5py dataset.id.read_direct_chunk, decompress it with bitshuffle.decompress_lz4,
      integrate1d as above, keep the results and write /I, /sigma, /radial to OUT.h5. Prints
      one line "e2e seconds=S frames=T build_included=1": the time from opening the input to
      closing the output (interpreter start and imports excluded; the CSR build, done on the
      first frame, included).
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def load_stack(path, frames):
    import h5py
    try:
        import hdf5plugin  # noqa: F401  (PyPI environments)
    except ImportError:
        import bitshuffle.h5  # noqa: F401  (Debian: registers filter 32008)
    with h5py.File(path, "r") as f:
        ds = f["/entry/data/data"]
        n = min(frames, ds.shape[0]) if frames else ds.shape[0]
        data = ds[:n]
        mask = f["/entry/instrument/detector/pixel_mask"][()]
    return data, mask


def integrator(poni):
    import pyFAI
    return pyFAI.load(poni)


def call(ai, frame, split, mask, bins):
    return ai.integrate1d(frame, bins, unit="q_nm^-1", method=(split, "csr", "cython"),
                          correctSolidAngle=True, mask=mask, error_model="poisson")


def cmd_export(a):
    data, mask = load_stack(a.input, a.frames)
    data.astype(np.float32).tofile(a.prefix + ".f32")
    (mask != 0).astype(np.uint8).tofile(a.prefix + ".mask")
    print(f"exported {data.shape[0]} frames {data.shape[1]}x{data.shape[2]}, "
          f"{int((mask != 0).sum())} masked pixels")


def cmd_memory(a):
    import pyFAI
    data, mask = load_stack(a.input, a.frames)
    mask = mask != 0
    ver = pyFAI.version
    out = open(a.csv, "a")
    for split in a.splits.split():
        ai = integrator(a.poni)
        t0 = time.perf_counter()
        r = call(ai, data[0], split, mask, a.bins)
        first = time.perf_counter() - t0
        if a.save:
            np.asarray(r.intensity, np.float32).tofile(f"{a.save}_{split}.I")
        for k in range(data.shape[0]):  # warm-up pass
            call(ai, data[k], split, mask, a.bins)
        per = []
        for rep in range(1, a.reps + 1):
            t0 = time.perf_counter()
            for k in range(data.shape[0]):
                call(ai, data[k], split, mask, a.bins)
            dt = (time.perf_counter() - t0) / data.shape[0]
            per.append(dt)
            out.write(f"pyfai-{a.label},{ver},{split},1,{data.shape[0]},{rep},{1.0 / dt:.4f},"
                      f"{dt * 1e3:.3f},{max(first - dt, 0.0):.4f}\n")
            out.flush()
        med = sorted(per)[len(per) // 2]
        print(f"pyfai-{a.label} {ver} {split}: median {med * 1e3:.2f} ms/frame "
              f"({1.0 / med:.2f} frames/s), first call {first:.3f} s "
              f"(CSR build ~{first - med:.3f} s), method {r.method}")
    out.close()


def cmd_e2e(a):
    import h5py
    import bitshuffle
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        import bitshuffle.h5  # noqa: F401
    ai = integrator(a.poni)
    t0 = time.perf_counter()
    with h5py.File(a.input, "r") as f:
        ds = f["/entry/data/data"]
        shape, dtype = ds.shape[1:], ds.dtype
        mask = f["/entry/instrument/detector/pixel_mask"][()] != 0
        n = ds.shape[0]
        I = np.empty((n, a.bins), np.float32)
        sig = np.empty((n, a.bins), np.float32)
        radial = None
        for k in range(n):
            _, chunk = ds.id.read_direct_chunk((k, 0, 0))
            buf = np.frombuffer(chunk, dtype=np.uint8)
            block = int.from_bytes(chunk[8:12], "big") // dtype.itemsize
            frame = bitshuffle.decompress_lz4(buf[12:], shape, dtype, block)
            r = call(ai, frame, a.split, mask, a.bins)
            I[k] = r.intensity
            sig[k] = r.sigma
            radial = r.radial
    with h5py.File(a.output, "w") as g:
        g["I"] = I
        g["sigma"] = sig
        g["radial"] = radial
    dt = time.perf_counter() - t0
    print(f"e2e seconds={dt:.4f} frames={n} build_included=1")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("input")
    e.add_argument("prefix")
    e.add_argument("--frames", type=int, default=1)
    m = sub.add_parser("memory")
    m.add_argument("input")
    m.add_argument("poni")
    m.add_argument("--frames", type=int, default=10)
    m.add_argument("--reps", type=int, default=5)
    m.add_argument("--bins", type=int, default=1000)
    m.add_argument("--splits", default="no bbox full")
    m.add_argument("--csv", required=True)
    m.add_argument("--label", default="debian")
    m.add_argument("--save")
    x = sub.add_parser("e2e")
    x.add_argument("input")
    x.add_argument("poni")
    x.add_argument("output")
    x.add_argument("--split", default="full")
    x.add_argument("--bins", type=int, default=1000)
    a = p.parse_args()
    {"export": cmd_export, "memory": cmd_memory, "e2e": cmd_e2e}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
