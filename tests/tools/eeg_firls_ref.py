#!/usr/bin/env python3
"""References for tests/unit/test_eeg_anc.c and test_eeg_obs.c through scipy.signal.
Usage: eeg_firls_ref.py firls NTAPS FS BANDS... DESIRED...  (2k edges, then 2k gains)
         prints the tap count, then scipy.signal.firls(NTAPS, BANDS, DESIRED, fs=FS).
       eeg_firls_ref.py filtfilt FILE  (FILE: ntaps, taps, n, samples, whitespace-separated)
         prints n, then scipy.signal.filtfilt(taps, 1, samples) with its default padding."""
import sys

import numpy as np
from scipy.signal import filtfilt, firls

if __name__ == "__main__":
    if sys.argv[1] == "firls":
        ntaps, fs = int(sys.argv[2]), float(sys.argv[3])
        v = [float(a) for a in sys.argv[4:]]
        h = firls(ntaps, v[: len(v) // 2], v[len(v) // 2:], fs=fs)
        out = h
    else:
        v = np.array(open(sys.argv[2]).read().split(), dtype=float)
        nt = int(v[0])
        h = v[1:1 + nt]
        n = int(v[1 + nt])
        x = v[2 + nt:2 + nt + n]
        out = filtfilt(h, [1.0], x)
    print(len(out))
    for s in out:
        print("%.17g" % s)
