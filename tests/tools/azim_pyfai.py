#!/usr/bin/python3
"""Compares slabflow's azimuthal integrator (through tests/tools/sf_azim_run) with Debian's
pyFAI 0.21.3 (specs/integrate.md A5.39) on a synthetic ring frame with Poisson noise, a masked
gap and dead pixels: integrate1d(method=(split, "csr", "cython"), error_model="poisson") for
every split mode, an untilted and a tilted geometry, two units, with and without polarisation,
one radial + azimuth range case, and integrate2d (bbox and no split, 36 azimuthal bins).
Per bin with signal: radial within 1e-6 relative, I, sigma and the four sums within 1e-4.
  azim_pyfai.py SF_AZIM_RUN WORKDIR        exit 0 pass, 1 fail, 77 pyFAI missing"""
import os
import subprocess
import sys

import numpy

try:
    from pyFAI.azimuthalIntegrator import AzimuthalIntegrator
except ImportError:
    print("SKIP: pyFAI is not importable by", sys.executable)
    sys.exit(77)

RUN, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
H, W = 300, 280
PIX = 1e-4
WL = 1e-10
TOL_RAD, TOL = 1e-6, 1e-4

GEOMS = {
    "untilted": dict(dist=0.1, poni1=0.0151, poni2=0.0142, rot1=0.0, rot2=0.0, rot3=0.0),
    "tilted": dict(dist=0.12, poni1=0.0093, poni2=0.0187, rot1=0.05, rot2=-0.03, rot3=0.2),
}


def make_ai(g):
    # Built directly: pyFAI.load(dict) loses the wavelength in 0.21.3 (spec A1.10).
    return AzimuthalIntegrator(dist=g["dist"], poni1=g["poni1"], poni2=g["poni2"], rot1=g["rot1"],
                               rot2=g["rot2"], rot3=g["rot3"], pixel1=PIX, pixel2=PIX,
                               wavelength=WL)


def make_frame(ai, seed):
    """Calibrant-like rings in q plus a smooth background, Poisson counts."""
    q = ai.qArray((H, W))
    prof = 20.0 / (1.0 + 0.05 * q * q)
    for q0, a in ((8.0, 60.0), (13.5, 40.0), (19.0, 25.0), (24.0, 15.0)):
        prof = prof + a * numpy.exp(-0.5 * ((q - q0) / 0.25) ** 2)
    rng = numpy.random.default_rng(seed)
    return rng.poisson(prof).astype(numpy.float32)


def make_mask():
    """A module gap and 0.5 % dead pixels: mostly zero (pyFAI 0.21.3 inverts a mask that is
    more than half set, spec A1.8)."""
    m = numpy.zeros((H, W), numpy.uint8)
    m[140:147, :] = 1
    m[:, 200:204] = 1
    rng = numpy.random.default_rng(7)
    m[rng.random((H, W)) < 0.005] = 1
    return m


def rel(a, b, sel):
    a = numpy.asarray(a, numpy.float64)[sel]
    b = numpy.asarray(b, numpy.float64)[sel]
    if a.size == 0:
        return 0.0
    return float(numpy.max(numpy.abs(a - b) / numpy.maximum(numpy.abs(b), 1e-300)))


def run_c(g, args, frame_path, mask_path, prefix):
    cmd = [RUN, "--shape", str(H), str(W), "--pixel1", str(PIX), "--pixel2", str(PIX),
           "--wavelength", repr(WL), "--frame", frame_path, "--mask", mask_path, "--out", prefix]
    for k in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3"):
        cmd += ["--" + k, repr(g[k])]
    subprocess.run(cmd + args, check=True)

    def rd(ext, dt):
        return numpy.fromfile(prefix + "." + ext, dtype=dt)
    return dict(radial=rd("radial", numpy.float64), I=rd("I", numpy.float32),
                sigma=rd("sigma", numpy.float32), signal=rd("signal", numpy.float64),
                norm=rd("norm", numpy.float64), variance=rd("variance", numpy.float64),
                count=rd("count", numpy.float64),
                azimuthal=rd("azimuthal", numpy.float64) if os.path.exists(prefix + ".azimuthal") else None)


failures = []
mask = make_mask()
mask_path = os.path.join(WORK, "mask.u8")
mask.tofile(mask_path)
NPT = 120


def compare(name, c, ref, ref_sum):
    """ref: dict radial, I, sigma; ref_sum: signal, norm, variance, count (row order as c)."""
    sel = (ref_sum["count"] > 0) & (ref_sum["signal"] != 0)
    d = dict(radial=rel(c["radial"], ref["radial"], slice(None)),
             I=rel(c["I"], ref["I"], sel), sigma=rel(c["sigma"], ref["sigma"], sel),
             signal=rel(c["signal"], ref_sum["signal"], sel), norm=rel(c["norm"], ref_sum["norm"], sel),
             variance=rel(c["variance"], ref_sum["variance"], sel),
             count=rel(c["count"], ref_sum["count"], sel))
    if "azimuthal" in ref:
        d["azimuthal"] = rel(c["azimuthal"], ref["azimuthal"], slice(None))
    empty_ok = bool(numpy.all(c["count"][~(ref_sum["count"] > 0)] == 0))
    ok = (d["radial"] <= TOL_RAD and d.get("azimuthal", 0.0) <= TOL_RAD and empty_ok and
          all(d[k] <= TOL for k in ("I", "sigma", "signal", "norm", "variance", "count")))
    print("%-44s %s radial %.1e I %.1e sigma %.1e S %.1e N %.1e V %.1e C %.1e%s (%d bins)" % (
        name, "ok  " if ok else "FAIL", d["radial"], d["I"], d["sigma"], d["signal"], d["norm"],
        d["variance"], d["count"], (" azim %.1e" % d["azimuthal"]) if "azimuthal" in d else "",
        int(sel.sum())))
    if not ok:
        failures.append(name)


for gname, g in GEOMS.items():
    ai = make_ai(g)
    frame = make_frame(ai, 11 if gname == "untilted" else 12)
    frame_path = os.path.join(WORK, "frame_%s.f32" % gname)
    frame.tofile(frame_path)
    cases = [(u, s, p, None, None) for u in ("q_nm^-1", "2th_deg") for p in (None, 0.95)
             for s in ("no", "bbox", "full")]
    cases += [("q_nm^-1", s, 0.95, (2.0, 30.0), (-100.0, 60.0)) for s in ("no", "bbox", "full")]
    for unit, split, pol, rr, ar in cases:
        ai.reset()
        r = ai.integrate1d(frame, NPT, unit=unit, method=(split, "csr", "cython"),
                           correctSolidAngle=True, polarization_factor=pol, mask=mask,
                           error_model="poisson", radial_range=rr, azimuth_range=ar)
        args = ["--unit", unit, "--split", split, "--nbins", str(NPT)]
        if pol is not None:
            args += ["--pol", repr(pol)]
        if rr is not None:
            args += ["--radial", repr(rr[0]), repr(rr[1])]
        if ar is not None:
            args += ["--azimuth", repr(ar[0]), repr(ar[1])]
        name = "1d %s %s %s pol=%s%s" % (gname, unit, split, pol, " ranges" if rr else "")
        c = run_c(g, args, frame_path, mask_path, os.path.join(WORK, "out"))
        compare(name, c, dict(radial=r.radial, I=r.intensity, sigma=r.sigma),
                dict(signal=r.sum_signal, norm=r.sum_normalization, variance=r.sum_variance,
                     count=r.count))

    # integrate2d: pyFAI's 2-D "poisson" model uses the raw counts as variance, so pass
    # max(raw, 1) explicitly to compare with ours (A2.11). pyFAI's sums are (azim, radial).
    for split in ("bbox", "no"):
        ai.reset()
        M = 36
        r2 = ai.integrate2d(frame, NPT, M, unit="q_nm^-1", method=(split, "csr", "cython"),
                            correctSolidAngle=True, polarization_factor=0.95, mask=mask,
                            variance=numpy.maximum(frame, 1.0))
        c = run_c(g, ["--unit", "q_nm^-1", "--split", split, "--nbins", str(NPT), "--azim", str(M),
                      "--pol", "0.95"], frame_path, mask_path, os.path.join(WORK, "out2"))
        eng = ai.engines[r2.method].engine
        # Our own sums from pyFAI's CSR (rows radial-major) give the reference sums.
        sig, var, nrm, cnt = (numpy.zeros(NPT * M) for _ in range(4))
        pre_s = frame.ravel().astype(numpy.float64)
        pol = ai.polarization((H, W), factor=0.95).ravel().astype(numpy.float32)
        sa = ai.solidAngleArray((H, W)).ravel().astype(numpy.float32)
        n = (sa * pol).astype(numpy.float64)
        v = numpy.maximum(pre_s, 1.0)
        for row in range(NPT * M):
            lo, hi = eng.indptr[row], eng.indptr[row + 1]
            idx, w = eng.indices[lo:hi], eng.data[lo:hi].astype(numpy.float64)
            i0, i1 = divmod(row, M)
            out_row = i1 * NPT + i0
            sig[out_row] = numpy.sum(w * pre_s[idx])
            nrm[out_row] = numpy.sum(w * n[idx])
            var[out_row] = numpy.sum(w * w * v[idx])
            cnt[out_row] = numpy.sum(w)
        compare("2d %s q_nm^-1 %s pol=0.95 M=36" % (gname, split), c,
                dict(radial=r2.radial, I=r2.intensity.ravel(), sigma=r2.sigma.ravel(),
                     azimuthal=r2.azimuthal),
                dict(signal=sig, norm=nrm, variance=var, count=cnt))

if failures:
    print("FAILED:", ", ".join(failures))
    sys.exit(1)
print("all cases agree with pyFAI", getattr(sys.modules.get("pyFAI"), "version", ""))
