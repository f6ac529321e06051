#!/usr/bin/env python3
"""Peer benchmark of `slabflow eeg` against FACETpy 2.0.2 (issue 14 points 5 and 6).

Run it with the interpreter of a venv holding facetpy==2.0.2 and h5py (see
benchmarks/README.md, "bench_eeg.sh"); CI does not run it.

  eeg_peer.py --facet REC.edf --out CORR.edf [--offset S] [--json J]
      FACETpy's standard pipeline (pipelines.create_standard_pipeline without PCA and ANC),
      channel-sequential, as a user runs it: EDF in, corrected EDF out.  Prints one JSON
      line with the times: import_s (interpreter start to `import facet` done),
      pipeline_s (Pipeline.run, EDF export included) and process_s (interpreter start to
      the end of the run; the interpreter's exit is not in it, /usr/bin/time sees it).
      With --truth REC.h5 it then also scores the in-memory corrected array (after the
      times are taken).
  eeg_peer.py --score-edf CORR.edf --truth REC.h5 [--input REC.edf]
      scores a corrected EDF (FACETpy's export, 16 bits).
  eeg_peer.py --slabflow-h5 OUT.h5 --truth REC.h5 [--input REC.edf]
      scores slabflow's /corrected (channels, samples) float32 uV.

Quality (one function for both tools, `score`): the corrected array (channels x samples,
uV, native rate), the clean truth (REC.h5 /clean) and the uncorrected recording (REC.edf)
are band-passed alike (4th-order Butterworth 1-70 Hz as second-order sections, applied
forward and backward: zero phase); over the acquisition window [first true onset, last
true onset + one mean slice period) and per EEG channel (ECG excluded, channels matched by
name):
  rms_uV        RMS(corrected - clean)
  corr          Pearson correlation of corrected with clean
  slice_red_dB  10 log10(P_uncorrected / P_corrected), P = sum over h = 1..5 of the mean
                Welch PSD (Hann, nperseg = min(4 fs, n), 50 % overlap) within +-0.5 Hz of
                h fs_slice, fs_slice = rate / mean true slice interval
  slice_vs_clean_dB  10 log10(P_corrected / P_clean) in the same bands (0 = as clean)
Per-harmonic medians over channels are in the JSON as well.  Medians and means over
channels are printed; the CSV takes medians.
"""
import os
import sys
import time

T_START = time.perf_counter()

# one core, whatever the caller forgot
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
           "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402


def proc_age_s():
    """Seconds since this process started (from /proc, 1/CLK_TCK resolution), or None."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        return up - start_ticks / os.sysconf("SC_CLK_TCK")
    except Exception:  # noqa: BLE001
        return None


T_PROC0 = proc_age_s()  # age of the process when this module started running


# ------------------------------------------------------------------------------------------
# quality
# ------------------------------------------------------------------------------------------
def read_truth(path):
    import h5py
    import numpy as np
    with h5py.File(path, "r") as f:
        clean = f["/clean"][...].astype(np.float64)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["/channels"][...]]
        trig = f["/triggers"][...].astype(np.float64)
        rate = float(f.attrs["rate"])
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return clean, names, trig, rate, attrs


def read_edf_uV(path):
    import mne
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    return raw.get_data() * 1e6, list(raw.ch_names), float(raw.info["sfreq"])


def score(corrected, names, truth_path, input_edf=None, band=(1.0, 70.0), harmonics=5,
          half_width=0.5):
    """Quality of corrected (channels x samples, uV, native rate; channel names `names`)
    against the truth REC.h5 (and the uncorrected REC.edf for the reduction)."""
    import numpy as np
    from scipy import signal

    clean, tnames, trig, rate, attrs = read_truth(truth_path)
    if input_edf is None:
        input_edf = os.path.splitext(truth_path)[0] + ".edf"
        if not os.path.exists(input_edf):
            input_edf = os.path.splitext(truth_path)[0] + ".bdf"
    raw_in, in_names, in_rate = read_edf_uV(input_edf)
    if abs(in_rate - rate) > 1e-9:
        raise SystemExit(f"eeg_peer: {input_edf} is at {in_rate} Hz, the truth at {rate} Hz")
    corrected = np.asarray(corrected, dtype=np.float64)
    ns = clean.shape[1]
    for what, arr in (("corrected", corrected), ("input", raw_in)):
        if arr.shape[1] != ns:
            raise SystemExit(f"eeg_peer: {what} has {arr.shape[1]} samples, the truth {ns}")
    sos = signal.butter(4, band, btype="bandpass", fs=rate, output="sos")
    d = np.diff(trig)
    period = float(np.mean(d))
    fs_slice = rate / period
    a = int(np.ceil(trig[0]))
    b = int(np.floor(trig[-1] + period))
    b = min(b, ns)
    n = b - a
    nperseg = int(min(4 * rate, n))
    idx_c = {c: i for i, c in enumerate(names)}
    idx_i = {c: i for i, c in enumerate(in_names)}
    rows = []
    for k, ch in enumerate(tnames):
        if ch.upper().startswith("ECG"):
            continue
        if ch not in idx_c or ch not in idx_i:
            raise SystemExit(f"eeg_peer: channel {ch} missing from the corrected data or the input")
        x = {
            "clean": clean[k],
            "corr": corrected[idx_c[ch]],
            "input": raw_in[idx_i[ch]],
        }
        y = {key: signal.sosfiltfilt(sos, v)[a:b] for key, v in x.items()}
        err = y["corr"] - y["clean"]
        r = {"channel": ch,
             "rms_uV": float(np.sqrt(np.mean(err ** 2))),
             "clean_rms_uV": float(np.sqrt(np.mean(y["clean"] ** 2))),
             "input_err_rms_uV": float(np.sqrt(np.mean((y["input"] - y["clean"]) ** 2))),
             "corr": float(np.corrcoef(y["corr"], y["clean"])[0, 1])}
        P = {}
        for key, v in y.items():
            f, p = signal.welch(v, fs=rate, window="hann", nperseg=nperseg,
                                noverlap=nperseg // 2, detrend="constant")
            P[key] = np.array([np.mean(p[np.abs(f - h * fs_slice) <= half_width])
                               for h in range(1, harmonics + 1)])
        r["slice_red_dB"] = float(10 * np.log10(P["input"].sum() / P["corr"].sum()))
        r["slice_vs_clean_dB"] = float(10 * np.log10(P["corr"].sum() / P["clean"].sum()))
        r["P"] = {key: v.tolist() for key, v in P.items()}
        rows.append(r)

    def agg(key):
        v = np.array([r[key] for r in rows])
        return {"median": float(np.median(v)), "mean": float(np.mean(v)),
                "min": float(np.min(v)), "max": float(np.max(v))}

    out = {"channels_scored": len(rows), "rate": rate, "fs_slice": fs_slice,
           "window_samples": [a, b], "band_hz": list(band)}
    for key in ("rms_uV", "corr", "slice_red_dB", "slice_vs_clean_dB", "clean_rms_uV",
                "input_err_rms_uV"):
        out[key] = agg(key)
    # Niazy-style per harmonic: median over channels of each P, then the ratio
    per_h = []
    for h in range(harmonics):
        med = {key: float(np.median([r["P"][key][h] for r in rows]))
               for key in ("input", "corr", "clean")}
        per_h.append({"h": h + 1, "f_hz": (h + 1) * fs_slice,
                      "red_dB": 10 * np.log10(med["input"] / med["corr"]),
                      "vs_clean_dB": 10 * np.log10(med["corr"] / med["clean"])})
    out["per_harmonic"] = per_h
    out["per_channel"] = [{k: v for k, v in r.items() if k != "P"} for r in rows]
    return out


def summary(q):
    s = (f"{q['channels_scored']} EEG channels, fs_slice {q['fs_slice']:.4f} Hz: "
         f"residual RMS median {q['rms_uV']['median']:.3f} uV (mean {q['rms_uV']['mean']:.3f}; "
         f"clean RMS {q['clean_rms_uV']['median']:.2f}, uncorrected {q['input_err_rms_uV']['median']:.1f}), "
         f"correlation median {q['corr']['median']:.5f} (mean {q['corr']['mean']:.5f}), "
         f"slice-frequency reduction median {q['slice_red_dB']['median']:.2f} dB "
         f"(mean {q['slice_red_dB']['mean']:.2f}), residual vs clean there "
         f"{q['slice_vs_clean_dB']['median']:+.2f} dB; per harmonic red/vs clean: "
         + ", ".join(f"{p['f_hz']:.1f} Hz {p['red_dB']:.1f}/{p['vs_clean_dB']:+.1f}"
                     for p in q["per_harmonic"]))
    return s


# ------------------------------------------------------------------------------------------
# FACETpy
# ------------------------------------------------------------------------------------------
def run_facet(args):
    t0 = time.perf_counter()
    import facet  # noqa: F401
    from facet.pipelines import create_standard_pipeline
    t_import = time.perf_counter()
    if args.quiet:
        import logging
        from loguru import logger as _lg
        _lg.remove()
        logging.getLogger("mne").setLevel(logging.ERROR)
    pipe = create_standard_pipeline(args.facet, args.out,
                                    trigger_regex=r"\b1\b",
                                    artifact_to_trigger_offset=args.offset,
                                    upsample_factor=10, use_anc=False, use_pca=False)
    if args.no_subsample:
        pipe.processors = [p for p in pipe.processors if p.name != "subsample_aligner"]
    t1 = time.perf_counter()
    res = pipe.run(channel_sequential=not args.batch, show_progress=False)
    t2 = time.perf_counter()
    if not res.success:
        raise SystemExit(f"eeg_peer: FACETpy failed in {res.failed_processor}: {res.error!r}")
    age = proc_age_s()
    times = {"tool": "facetpy", "input": args.facet, "output": args.out, "offset_s": args.offset,
             "steps": [p.name for p in pipe.processors],
             "channel_sequential": not args.batch,
             "import_s": (T_PROC0 or 0.0) + (t_import - T_START),
             "pipeline_s": t2 - t1,
             "process_s": (age if age is not None else (T_PROC0 or 0.0) + (t2 - T_START))}
    raw = res.context.get_raw()
    md = res.context.metadata
    times["triggers"] = int(len(md.triggers)) if md.triggers is not None else None
    times["artifact_length"] = md.artifact_length
    if args.truth:
        q = score(raw.get_data() * 1e6, list(raw.ch_names), args.truth, args.input)
        times["quality"] = q
        print("eeg_peer: FACETpy in memory: " + summary(q), file=sys.stderr)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--facet", metavar="REC.edf", help="run FACETpy's standard pipeline on it")
    g.add_argument("--slabflow-h5", metavar="OUT.h5", help="score slabflow's /corrected")
    g.add_argument("--score-edf", metavar="CORR.edf", help="score a corrected EDF")
    ap.add_argument("--out", help="FACETpy's corrected EDF [REC_facet.edf]")
    ap.add_argument("--offset", type=float, default=-0.005,
                    help="artifact_to_trigger_offset in s [-0.005, FACETpy's default]")
    ap.add_argument("--no-subsample", action="store_true",
                    help="drop SubsampleAligner from the standard pipeline")
    ap.add_argument("--batch", action="store_true", help="not channel-sequential")
    ap.add_argument("--truth", metavar="REC.h5", help="truth file (score against it)")
    ap.add_argument("--input", metavar="REC.edf",
                    help="uncorrected recording [the truth's name with .edf]")
    ap.add_argument("--json", help="write the result (times and quality) there too")
    ap.add_argument("--quiet", action="store_true", help="silence FACETpy's and MNE's logging")
    args = ap.parse_args()

    if args.facet:
        if not args.out:
            args.out = os.path.splitext(args.facet)[0] + "_facet.edf"
        out = run_facet(args)
    else:
        if not args.truth:
            ap.error("--truth is required to score")
        if args.slabflow_h5:
            import h5py
            with h5py.File(args.slabflow_h5, "r") as f:
                corr = f["/corrected"][...]
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["/channels"][...]]
            label = "slabflow"
            src = args.slabflow_h5
        else:
            corr, names, _ = read_edf_uV(args.score_edf)
            label = "edf"
            src = args.score_edf
        q = score(corr, names, args.truth, args.input)
        out = {"tool": label, "file": src, "quality": q}
        print(f"eeg_peer: {label} {src}: " + summary(q), file=sys.stderr)
    line = json.dumps(out)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    q = out.get("quality")
    brief = {k: v for k, v in out.items() if k != "quality"}
    if q:
        brief["quality"] = {k: q[k] for k in ("rms_uV", "corr", "slice_red_dB", "slice_vs_clean_dB")}
    print(json.dumps(brief))


if __name__ == "__main__":
    main()
