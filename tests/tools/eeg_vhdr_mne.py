#!/usr/bin/python3
"""Checks slabflow's BrainVision reader against MNE's on the same files.

Usage: eeg_vhdr_mne.py SF_EEG_DUMP REC.vhdr [REC.vhdr ...]

For each header, runs SF_EEG_DUMP (tests/tools/sf_eeg_dump.c: what sf_eeg_open and
sf_eeg_read_channel return) and mne.io.read_raw_brainvision, and compares channel names
(ours are cut to 16 bytes), the rate, the number of samples, every sample value (MNE returns
volts: scaled to the channel's unit, uV, mV, V or nV, and compared within float64 rounding),
and the markers: MNE's "Type/Description" against our text (the description, or the type
when the description is empty), MNE's onset and duration in seconds against ours in 100 ns
(within 1.1 us: MNE keeps annotation onsets to the microsecond) and MNE's onset times the
rate, rounded, against our nearest sample exactly. Exit 0 when all agree, 1 when not,
77 (ctest's SKIP_RETURN_CODE) when mne cannot be imported.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import mne
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"eeg_vhdr_mne: skipped, cannot import mne ({e})")
    sys.exit(77)

UNIT = {"uV": 1e6, "mV": 1e3, "V": 1.0, "nV": 1e9}


def check(dump, vhdr):
    fails = []
    with tempfile.TemporaryDirectory() as tmp:
        binf = os.path.join(tmp, "samples.bin")
        out = subprocess.run([dump, vhdr, binf], check=True, capture_output=True, text=True)
        ours = json.loads(out.stdout)
        sig = ours["signals"]
        n = sig[0]["samples"]
        x = np.fromfile(binf, dtype=np.float64).reshape(len(sig), n)
    raw = mne.io.read_raw_brainvision(vhdr, preload=True, verbose="error")
    names = [s["label"] for s in sig]
    if names != [c[:16] for c in raw.ch_names]:
        fails.append(f"channel names: ours {names}, MNE {raw.ch_names}")
    sfreq = raw.info["sfreq"]
    for s in sig:
        if abs(s["rate"] - sfreq) > 1e-9 * sfreq:
            fails.append(f"{s['label']}: rate {s['rate']}, MNE {sfreq}")
            break
    if raw.n_times != n:
        fails.append(f"{n} samples, MNE {raw.n_times}")
    d = raw.get_data()
    worst = 0.0
    for c, s in enumerate(sig):
        scale = UNIT.get(s["dimension"])
        if scale is None:
            fails.append(f"{s['label']}: unit {s['dimension']} not compared")
            continue
        m = d[c, : min(n, raw.n_times)] * scale
        o = x[c, : m.size]
        err = np.abs(m - o)
        tol = 1e-12 * np.maximum(np.abs(o), 1.0)
        if np.any(err > tol):
            i = int(np.argmax(err - tol))
            fails.append(f"{s['label']}: sample {i}: ours {o[i]!r}, MNE {m[i]!r} {s['dimension']}")
        worst = max(worst, float(err.max(initial=0.0)))
    ann = ours["annotations"]
    if len(ann) != len(raw.annotations):
        fails.append(f"{len(ann)} markers, MNE {len(raw.annotations)}")
    for k, (a, b) in enumerate(zip(ann, raw.annotations)):
        mtype, _, mdesc = b["description"].partition("/")
        want = mdesc if mdesc else mtype
        if a["text"] != want:
            fails.append(f"marker {k}: text {a['text']!r}, MNE {b['description']!r}")
        if abs(a["onset"] * 1e-7 - b["onset"]) > 1.1e-6:
            fails.append(f"marker {k}: onset {a['onset'] * 1e-7} s, MNE {b['onset']} s")
        if a["sample"] != round(b["onset"] * sfreq):
            fails.append(f"marker {k}: sample {a['sample']}, MNE {b['onset'] * sfreq}")
        dur = a["duration"] * 1e-7 if a["duration"] >= 0 else 0.0
        if abs(dur - b["duration"]) > 1.1e-6:
            fails.append(f"marker {k}: duration {dur} s, MNE {b['duration']} s")
    for f in fails[:20]:
        print(f"FAIL: {vhdr}: {f}")
    print(f"{vhdr}: {len(sig)} channels, {n} samples at {sfreq} Hz, {len(ann)} markers; "
          f"largest |ours - MNE| {worst:.3g} (channel units); MNE {mne.__version__}; "
          f"{len(fails)} failures")
    return not fails


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    ok = all([check(sys.argv[1], v) for v in sys.argv[2:]])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
