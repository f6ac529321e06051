#!/usr/bin/env python3
"""Python side of the peer benchmark slabflow flow vs pyflowreg (benchmarks/bench_flow_peer.sh,
README "bench_flow_peer.sh"). It only *calls* pyflowreg (CC BY-NC-SA 4.0); no code of it is
copied here.

  peer_flow.py pairs RAW.h5 PAIRS.h5 --frames N
      Preprocessed (reference, moving) pairs, spec register.md §3 items 44-45: both normalised
      with the reference's range, (x - min)/(max - min + 1e-8), then
      scipy.ndimage.gaussian_filter sigma 1, mode "reflect", truncate 4 (y, x only).
      Reference = /truth/clean_mean, moving = /data[t], truth = /truth/flow[t].
      Writes /ref (H,W), /mov (N,H,W), /truth (N,H,W,2), all float32.
  peer_flow.py ref-flows PAIRS.h5 [--presets quality,balanced,fast]
      pyflowreg's get_displacement on every pair, zero initial flow, OFOptions defaults
      (alpha (1.5,1.5), levels 100, eta 0.8, iterations 50, update_lag 5, a_data 0.45,
      a_smooth 1, gc); adds /w_ref (P,N,H,W,2) float32 and /time_ref_s (P,N) to PAIRS.h5.
  peer_flow.py parity PAIRS.h5 PRESET=OURS.h5 ... [--csv FILE] [--dw-max 0.05]
                      [--epe-slack 0.01]
      Compares our /w with /w_ref and both with the truth; prints a markdown table and the
      places where the two disagree most. Exit status 1 if a requirement fails.
  peer_flow.py speed RAW.h5 --preset P --frames N --reps R --csv FILE [--max-epe 1]
      One thread, whole per-frame work of pyflowreg's pipeline on raw uint16 frames:
      normalize + apply_gaussian_filter as BatchMotionCorrector does, get_displacement,
      imregister_wrapper (cubic, raw reference as fill), store into a uint16 array. One
      warm-up rep (numba JIT), then R reps, one CSV line each (the C driver's columns).
  peer_flow.py summary CSV [--ratio-min 20]
      Speed table per preset: median/min/max frames/s of both, ratio; exit 1 if a ratio
      is below --ratio-min.
"""
import argparse
import os
import sys
import time

# One thread everywhere, before numpy/numba/OpenCV start their pools.
for _v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

PRESETS = {"quality": 0, "balanced": 4, "fast": 6}  # spec §5 item 51
CROP = 25  # border excluded from the EPE (pyflowreg's synth_evaluation protocol, spec §9)
CSV_HEADER = ("impl,preset,min_level,threads,height,width,frames,rep,frames_per_s,"
              "s_per_frame,preproc_s,flow_s,warp_s,epe_px")


def flow_params(min_level, alpha=1.5, a_smooth=1.0):
    """The OFOptions defaults of spec §5 with the preset's min_level (one channel); alpha
    and a_smooth replace the defaults 1.5 (both axes) and 1."""
    return dict(alpha=(alpha, alpha), levels=100, min_level=min_level, eta=0.8, update_lag=5,
                iterations=50, a_smooth=a_smooth, a_data=0.45)


def epe(w, truth, crop=CROP):
    """Mean endpoint error over all frames after cropping `crop` pixels on every side."""
    d = w[..., crop:-crop, crop:-crop, :] - truth[..., crop:-crop, crop:-crop, :]
    return float(np.sqrt((d.astype(np.float64) ** 2).sum(-1)).mean())


def pyflowreg_version():
    try:
        from importlib.metadata import version
        return version("pyflowreg")
    except Exception:  # noqa: BLE001
        return "unknown"


def check_opencv_remap():
    """pyflowreg warps float64 level images with cv2.remap (INTER_CUBIC, BORDER_REPLICATE).
    OpenCV 5.0.0 returns 0 instead of the replicated border for float64 images wherever the
    4x4 stencil leaves the image, which corrupts pyflowreg's flows near every edge; pip picks
    it because pyflowreg only asks for opencv-contrib-python>=4.10. Refuse such an OpenCV."""
    import cv2
    rng = np.random.default_rng(0)
    img = rng.random((12, 12))
    gy, gx = np.meshgrid(np.arange(12), np.arange(12), indexing="ij")
    mx = np.clip(gx - 0.02, 0, 11).astype(np.float32)
    my = np.clip(gy - 0.015, 0, 11).astype(np.float32)
    r64 = cv2.remap(img, mx, my, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    r32 = cv2.remap(img.astype(np.float32), mx, my, interpolation=cv2.INTER_CUBIC,
                    borderMode=cv2.BORDER_REPLICATE)
    err = float(np.abs(r64 - r32).max())
    if err > 1e-4:
        sys.exit(f"peer_flow: OpenCV {cv2.__version__}: cv2.remap INTER_CUBIC on float64 images "
                 f"is wrong near the border (differs from float32 by {err:.3f}); pyflowreg's "
                 "flows would be corrupted there. Install an OpenCV 4: "
                 "pip install 'opencv-contrib-python>=4.10,<5'")


def one_thread():
    """Pins OpenCV to one thread and checks numba's pool; returns a description."""
    import cv2
    import numba
    check_opencv_remap()
    cv2.setNumThreads(1)
    n = numba.config.NUMBA_NUM_THREADS
    if n != 1:
        sys.exit(f"peer_flow: numba uses {n} threads; run with NUMBA_NUM_THREADS=1")
    return f"numba {numba.__version__} threads 1, OpenCV {cv2.__version__} threads {cv2.getNumThreads()}"


# ---- pairs -------------------------------------------------------------------------------
def cmd_pairs(a):
    import h5py
    from scipy.ndimage import gaussian_filter
    with h5py.File(a.raw, "r") as f:
        ref = f["/truth/clean_mean"][()].astype(np.float64)
        n = a.frames or f["/data"].shape[0]
        if n > f["/data"].shape[0]:
            sys.exit(f"peer_flow: {a.raw} has {f['/data'].shape[0]} frames, {n} requested")
        mov = f["/data"][:n].astype(np.float64)
        truth = f["/truth/flow"][:n].astype(np.float32)
    lo, hi = ref.min(), ref.max()

    def prep(x):
        return gaussian_filter((x - lo) / (hi - lo + 1e-8), sigma=1.0, mode="reflect",
                               truncate=4.0).astype(np.float32)

    with h5py.File(a.pairs, "w") as g:
        g["/ref"] = prep(ref)
        g["/mov"] = np.stack([prep(m) for m in mov])
        g["/truth"] = truth
        g.attrs["source"] = a.raw
        g.attrs["norm_lo"], g.attrs["norm_hi"] = lo, hi
    print(f"peer_flow pairs: {n} pair(s) of {ref.shape[0]}x{ref.shape[1]} -> {a.pairs}")


# ---- pyflowreg's flows on the pairs -------------------------------------------------------
def cmd_ref_flows(a):
    import h5py
    from pyflowreg.core.optical_flow import get_displacement
    threads = one_thread()
    presets = a.presets.split(",")
    with h5py.File(a.pairs, "r") as f:
        ref, mov = f["/ref"][()], f["/mov"][()]
    n, h, w = mov.shape
    out = np.zeros((len(presets), n, h, w, 2), np.float32)
    times = np.zeros((len(presets), n))
    print(f"peer_flow ref-flows: pyflowreg {pyflowreg_version()}, {threads}, alpha {a.alpha}, a_smooth {a.a_smooth}")
    # Warm-up: numba compiles (or loads its cache) on the first call.
    t0 = time.perf_counter()
    get_displacement(ref, mov[0], **flow_params(PRESETS["fast"]))
    print(f"peer_flow ref-flows: warm-up (JIT) {time.perf_counter() - t0:.2f} s")
    for i, p in enumerate(presets):
        for t in range(n):
            t0 = time.perf_counter()
            wt = get_displacement(ref, mov[t], **flow_params(PRESETS[p], a.alpha, a.a_smooth))
            times[i, t] = time.perf_counter() - t0
            out[i, t] = wt.astype(np.float32)  # the executors cast to float32 too
            print(f"peer_flow ref-flows: {p} frame {t}: {times[i, t]:.3f} s")
    with h5py.File(a.pairs, "a") as f:
        for k in ("/w_ref", "/time_ref_s"):
            if k in f:
                del f[k]
        f["/w_ref"] = out
        f["/time_ref_s"] = times
        f["/w_ref"].attrs["presets"] = ",".join(presets)
        f.attrs["pyflowreg_version"] = pyflowreg_version()


# ---- parity table -------------------------------------------------------------------------
def cmd_parity(a):
    import h5py
    with h5py.File(a.pairs, "r") as f:
        truth = f["/truth"][()]
        wref_all = f["/w_ref"][()]
        tref_all = f["/time_ref_s"][()]
        ref_presets = f["/w_ref"].attrs["presets"]
        ref_presets = (ref_presets.decode() if isinstance(ref_presets, bytes)
                       else str(ref_presets)).split(",")
        ref_img = f["/ref"][()].astype(np.float64)
    n, h, w = truth.shape[:3]
    border = np.ones((h, w), bool)
    border[CROP:-CROP, CROP:-CROP] = False
    gy, gx = np.gradient(ref_img)
    gmag = np.hypot(gx, gy)
    rows, notes, ok = [], [], True
    for spec in a.ours:
        p, path = spec.split("=", 1)
        with h5py.File(path, "r") as f:
            wo = f["/w"][()]
            to = f["/time_s"][()]
        i = ref_presets.index(p)
        wr = wref_all[i][: wo.shape[0]]
        tr = truth[: wo.shape[0]]
        d = wo.astype(np.float64) - wr.astype(np.float64)
        dw = np.sqrt((d ** 2).sum(-1))  # (N,H,W) endpoint difference
        mean_dw = float(dw.mean())
        e_ref, e_ours = epe(wr, tr), epe(wo, tr)
        dw_ok = mean_dw <= a.dw_max
        epe_ok = e_ours <= e_ref + a.epe_slack
        ok &= dw_ok and epe_ok
        k = np.unravel_index(int(np.argmax(dw)), dw.shape)
        per_frame = dw.reshape(dw.shape[0], -1).mean(1)
        # Where is the disagreement: border vs interior, strong vs weak reference gradient.
        strong = gmag >= np.quantile(gmag, 0.75)
        weak = gmag <= np.quantile(gmag, 0.25)
        rows.append(dict(
            preset=p, min_level=PRESETS[p], frames=wo.shape[0], mean_dw=mean_dw,
            mean_du=float(np.abs(d[..., 0]).mean()), mean_dv=float(np.abs(d[..., 1]).mean()),
            p99_dw=float(np.quantile(dw, 0.99)), max_dw=float(dw.max()),
            mean_dw_border=float(dw[:, border].mean()),
            mean_dw_interior=float(dw[:, ~border].mean()),
            epe_ref=e_ref, epe_ours=e_ours, dw_pass=dw_ok, epe_pass=epe_ok,
            t_ref_s=float(np.median(tref_all[i][: wo.shape[0]])), t_ours_s=float(np.median(to))))
        notes.append(
            f"- {p}: largest |Δw| {dw.max():.4f} px at frame {k[0]}, (y, x) = ({k[1]}, {k[2]})"
            f" (ours ({wo[k][0]:+.3f}, {wo[k][1]:+.3f}), pyflowreg ({wr[k][0]:+.3f},"
            f" {wr[k][1]:+.3f}), truth ({tr[k][0]:+.3f}, {tr[k][1]:+.3f})); mean |Δw| per frame"
            f" {', '.join(f'{x:.4f}' for x in per_frame)}; at the strongest / weakest quarter"
            f" of reference gradients {dw[:, strong].mean():.4f} / {dw[:, weak].mean():.4f} px;"
            f" mean signed Δ (u, v) ({d[..., 0].mean():+.4f}, {d[..., 1].mean():+.4f}) px")
    cols = list(rows[0].keys())
    if a.csv:
        with open(a.csv, "w") as f:
            f.write(",".join(cols) + "\n")
            for r in rows:
                f.write(",".join(f"{v:.6f}" if isinstance(v, float) else str(int(v))
                                 if isinstance(v, bool) else str(v) for v in r.values()) + "\n")
    print(f"Parity on {n} preprocessed pair(s) of {h}x{w}, zero initial flow; mean |Δw| over"
          f" all pixels, EPE after a {CROP}-px crop; pyflowreg {pyflowreg_version()}.\n")
    print("| preset | min_level | pairs | mean \\|Δw\\| px | mean \\|Δu\\| | mean \\|Δv\\| |"
          " p99 \\|Δw\\| | max \\|Δw\\| | border / interior \\|Δw\\| | EPE pyflowreg | EPE ours |"
          f" \\|Δw\\| ≤ {a.dw_max} | EPE ≤ ref + {a.epe_slack} | s/pair pyflowreg | s/pair ours |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|---:|---:|")
    for r in rows:
        print(f"| {r['preset']} | {r['min_level']} | {r['frames']} | {r['mean_dw']:.4f} |"
              f" {r['mean_du']:.4f} | {r['mean_dv']:.4f} | {r['p99_dw']:.4f} | {r['max_dw']:.4f} |"
              f" {r['mean_dw_border']:.4f} / {r['mean_dw_interior']:.4f} | {r['epe_ref']:.4f} |"
              f" {r['epe_ours']:.4f} | {'pass' if r['dw_pass'] else 'FAIL'} |"
              f" {'pass' if r['epe_pass'] else 'FAIL'} | {r['t_ref_s']:.3f} | {r['t_ours_s']:.4f} |")
    print()
    print("\n".join(notes))
    return 0 if ok else 1


# ---- pyflowreg speed on raw frames ---------------------------------------------------------
def cmd_speed(a):
    import h5py
    from pyflowreg.core.optical_flow import get_displacement
    from pyflowreg.core.warping import imregister_wrapper
    from pyflowreg.util.image_processing import apply_gaussian_filter, normalize
    threads = one_thread()
    with h5py.File(a.raw, "r") as f:
        n = a.frames or f["/data"].shape[0]
        data = f["/data"][:n]  # (N,H,W) uint16, as the reader delivers it
        reference_raw = f["/truth/clean_mean"][()].astype(np.float64)[:, :, None]
        truth = f["/truth/flow"][:n]
    _, h, w = data.shape
    ml = PRESETS[a.preset]
    sigma = np.asarray([1.0, 1.0, 0.1])  # OFOptions default sigma (spec §5 item 52)
    params = flow_params(ml)
    params["weight"] = np.ones((h, w, 1), np.float64)  # the pipeline's weight map (C = 1)
    # Reference, once per recording (not timed), as BatchMotionCorrector does it.
    reference_proc = apply_gaussian_filter(normalize(reference_raw), sigma=sigma,
                                           mode="reflect", truncate=4.0).astype(np.float64)
    batch = data[:, :, :, None]  # (T,H,W,C)
    registered = np.empty_like(batch)
    print(f"peer_flow speed: pyflowreg {pyflowreg_version()}, {threads}; {n} frame(s) of"
          f" {h}x{w} uint16, preset {a.preset} (min_level {ml})")
    new = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
    csv = open(a.csv, "a")
    if new:
        csv.write(CSV_HEADER + "\n")
    fps_all = []
    for rep in range(a.reps + 1):  # rep 0 warms up numba's JIT and OpenCV
        tp = tf = tw = 0.0
        esum = 0.0
        wall = 0.0
        for t in range(n):
            a0 = time.perf_counter()
            # batch_proc as _preprocess_frames builds it, for a batch of one frame.
            proc = apply_gaussian_filter(normalize(batch[t:t + 1], ref=reference_raw),
                                         sigma=sigma, mode="reflect", truncate=4.0)
            proc = proc.astype(np.float32)  # the executors hand float32 to the solver
            a1 = time.perf_counter()
            flow = get_displacement(reference_proc, proc[0], **params).astype(np.float32)
            a2 = time.perf_counter()
            reg = imregister_wrapper(batch[t], flow[..., 0], flow[..., 1], reference_raw,
                                     interpolation_method="cubic")
            registered[t, :, :, 0] = reg
            a3 = time.perf_counter()
            tp, tf, tw, wall = tp + a1 - a0, tf + a2 - a1, tw + a3 - a2, wall + a3 - a0
            e = epe(flow[None], truth[t:t + 1])
            if not (np.isfinite(flow).all() and e <= a.max_epe):
                sys.exit(f"peer_flow speed: rep {rep} frame {t}: EPE {e:.4f} px > {a.max_epe}")
            esum += e
        fps = n / wall
        if rep == 0:
            print(f"peer_flow speed: warm-up {fps:.3f} frames/s")
            continue
        fps_all.append(fps)
        print(f"peer_flow speed: {a.preset} rep {rep}: {fps:9.3f} frames/s ({wall / n:.4f}"
              f" s/frame: preproc {tp / n:.4f}, flow {tf / n:.4f}, warp {tw / n:.4f}),"
              f" EPE {esum / n:.4f} px")
        csv.write(f"pyflowreg,{a.preset},{ml},1,{h},{w},{n},{rep},{fps:.4f},{wall / n:.6f},"
                  f"{tp / n:.6f},{tf / n:.6f},{tw / n:.6f},{esum / n:.4f}\n")
        csv.flush()
    csv.close()
    print(f"peer_flow speed: {a.preset} median {np.median(fps_all):.3f} frames/s"
          f" (min {min(fps_all):.3f}, max {max(fps_all):.3f}) over {a.reps} rep(s)")


# ---- speed table ---------------------------------------------------------------------------
def cmd_summary(a):
    import csv
    rows = list(csv.DictReader(open(a.csv)))
    by = {}
    for r in rows:
        by.setdefault((r["preset"], r["impl"]), []).append(r)
    ok = True
    shape = f"{rows[0]['height']}x{rows[0]['width']}" if rows else "?"
    print(f"One thread, {shape} raw uint16 frames, one channel, whole per-frame work (normalise"
          " + Gaussian σ=1, flow, cubic warp of the raw frame, store as uint16), zero initial"
          " flow; frames/s median (min–max) of the timed runs after a warm-up; ratio = median"
          " ours / median pyflowreg.\n")
    print("| preset | min_level | frames×runs | slabflow f/s | pyflowreg f/s | ratio |"
          " slabflow s/frame (preproc / flow / warp) | pyflowreg s/frame (preproc / flow / warp) |"
          f" EPE ours / pyflowreg | ratio ≥ {a.ratio_min:g} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
    for p in PRESETS:
        o, r = by.get((p, "slabflow")), by.get((p, "pyflowreg"))
        if not o or not r:
            continue

        def med(rs, k):
            return float(np.median([float(x[k]) for x in rs]))

        def rng(rs):
            v = [float(x["frames_per_s"]) for x in rs]
            return f"{np.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"

        def parts(rs):
            return (f"{med(rs, 's_per_frame'):.4f} ({med(rs, 'preproc_s'):.4f} /"
                    f" {med(rs, 'flow_s'):.4f} / {med(rs, 'warp_s'):.4f})")

        ratio = med(o, "frames_per_s") / med(r, "frames_per_s")
        ok &= ratio >= a.ratio_min
        print(f"| {p} | {o[0]['min_level']} | {o[0]['frames']}×{len(o)} / {r[0]['frames']}×{len(r)}"
              f" | {rng(o)} | {rng(r)} | {ratio:.1f} | {parts(o)} | {parts(r)} |"
              f" {med(o, 'epe_px'):.4f} / {med(r, 'epe_px'):.4f} |"
              f" {'pass' if ratio >= a.ratio_min else 'FAIL'} |")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("pairs")
    s.add_argument("raw")
    s.add_argument("pairs")
    s.add_argument("--frames", type=int, default=0)
    s = sub.add_parser("ref-flows")
    s.add_argument("pairs")
    s.add_argument("--presets", default="quality,balanced,fast")
    s.add_argument("--alpha", type=float, default=1.5)
    s.add_argument("--a-smooth", type=float, default=1.0)
    s = sub.add_parser("parity")
    s.add_argument("pairs")
    s.add_argument("ours", nargs="+", help="PRESET=OURS.h5")
    s.add_argument("--csv")
    s.add_argument("--dw-max", type=float, default=0.05)
    s.add_argument("--epe-slack", type=float, default=0.01)
    s = sub.add_parser("speed")
    s.add_argument("raw")
    s.add_argument("--preset", required=True, choices=list(PRESETS))
    s.add_argument("--frames", type=int, default=0)
    s.add_argument("--reps", type=int, default=5)
    s.add_argument("--csv", required=True)
    s.add_argument("--max-epe", type=float, default=1.0)
    s = sub.add_parser("summary")
    s.add_argument("csv")
    s.add_argument("--ratio-min", type=float, default=20.0)
    a = ap.parse_args()
    fn = {"pairs": cmd_pairs, "ref-flows": cmd_ref_flows, "parity": cmd_parity,
          "speed": cmd_speed, "summary": cmd_summary}[a.cmd]
    return fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
