#!/usr/bin/python3
"""Reference files for the raw-chunk decoders, written and read by h5py with the real HDF5
filter plugins (Debian bitshuffle, hdf5-filter-plugin).

  chunk_plugins.py write IN.h5     frames of uint16/uint32 compressed with bitshuffle-LZ4
                                   (32008), LZ4 (32004) and gzip, one frame per chunk; each
                                   NAME has NAME_ref, h5py's decoded values, uncompressed;
                                   `eiger` is one Eiger-4M uint32 frame (Poisson, mean 5)
  chunk_plugins.py verify IN.h5 OUT.h5
                                   every NAME_ours (written by sf_chunk_check with our
                                   encoder) read through the plugin equals NAME_ref

Exit 77 when h5py or a plugin is missing (the ctest skip code)."""
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"skip: {e}")
    sys.exit(77)

BITSHUFFLE, LZ4 = 32008, 32004


def need_filters():
    for fid in (BITSHUFFLE, LZ4):
        if not h5py.h5z.filter_avail(fid):
            print(f"skip: HDF5 filter {fid} is not available (HDF5_PLUGIN_PATH?)")
            sys.exit(77)


def frames(dtype, n, shape, seed):
    rng = np.random.default_rng(seed)
    a = rng.poisson(5.0, size=(n,) + shape)
    # hot pixels and the dtype's extremes, so that every bit plane gets bits
    hot = rng.random((n,) + shape) < 0.01
    top = np.iinfo(dtype).max
    a[hot] = rng.integers(0, top, size=int(hot.sum()), dtype=np.uint64, endpoint=True)
    a[:, 0, 0] = top
    a[:, -1, -1] = top - 1
    return a.astype(dtype)


def write(path):
    need_filters()
    shape = (67, 131)  # 8777 elements: a partial block and one raw element
    with h5py.File(path, "w") as f:
        for dt in (np.uint16, np.uint32):
            name = np.dtype(dt).name
            data = frames(dt, 3, shape, 1 + np.dtype(dt).itemsize)
            kinds = {
                f"bslz4_{name}": dict(compression=BITSHUFFLE, compression_opts=(0, 2)),
                f"bslz4_b256_{name}": dict(compression=BITSHUFFLE, compression_opts=(256, 2)),
                f"lz4_{name}": dict(compression=LZ4),
                f"gzip_{name}": dict(compression="gzip", compression_opts=4),
            }
            for ds, opts in kinds.items():
                d = f.create_dataset(ds, data=data, chunks=(1,) + shape, **opts)
                f.create_dataset(ds + "_ref", data=d[...])
        eiger = np.random.default_rng(7).poisson(5.0, size=(1, 2167, 2070)).astype(np.uint32)
        d = f.create_dataset("eiger", data=eiger, chunks=eiger.shape, compression=BITSHUFFLE,
                             compression_opts=(0, 2))
        f.create_dataset("eiger_ref", data=d[...])
    # h5py must itself give back what it was handed
    with h5py.File(path, "r") as f:
        for ds in f:
            if not ds.endswith("_ref") and not ds.startswith("eiger"):
                dt = np.dtype(f[ds].dtype).type
                ref = frames(dt, 3, shape, 1 + np.dtype(dt).itemsize)
                assert np.array_equal(f[ds][...], ref), ds
    print(f"wrote {path}")


def verify(inpath, path):
    need_filters()
    n = 0
    with h5py.File(inpath, "r") as fin, h5py.File(path, "r") as f:
        for ds in f:
            if not ds.endswith("_ours"):
                continue
            d = f[ds]
            filters = d._filters
            if str(BITSHUFFLE) not in filters and "bitshuffle" not in str(filters).lower():
                print(f"FAIL: {ds} has no bitshuffle filter: {filters}")
                return 1
            ref = fin[ds[: -len("_ours")] + "_ref"][...]
            got = d[...]
            if got.dtype != ref.dtype or not np.array_equal(got, ref):
                print(f"FAIL: {ds} read through the plugin differs from the reference")
                return 1
            n += 1
    if n == 0:
        print("FAIL: no *_ours dataset")
        return 1
    print(f"ok: {n} datasets written with our encoder read back equal through the plugin")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"] and len(sys.argv) == 3:
        write(sys.argv[2])
        sys.exit(0)
    if sys.argv[1:2] == ["verify"] and len(sys.argv) == 4:
        sys.exit(verify(sys.argv[2], sys.argv[3]))
    print(__doc__)
    sys.exit(2)
