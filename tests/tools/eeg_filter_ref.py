#!/usr/bin/env python3
"""Reference taps for tests/unit/test_eeg_filter.c: MNE's filter_length='auto' and
_firwin_design (fir_window='hamming', fir_design='firwin') written out over scipy.signal.firwin.
Usage: eeg_filter_ref.py FS L_FREQ H_FREQ (nan for none); prints the tap count, then the taps."""
import math
import sys

import numpy as np
from scipy.signal import firwin


def design(fs, l_freq, h_freq):
    nyq = fs / 2.0
    hp, lp = not math.isnan(l_freq), not math.isnan(h_freq)
    l_tb = min(max(0.25 * l_freq, 2.0), l_freq) if hp else np.inf
    h_tb = min(max(0.25 * h_freq, 2.0), nyq - h_freq) if lp else np.inf
    seconds = float("%s" % (3.3 / float(min(l_tb, h_tb)),))
    n = max(int(np.ceil(seconds * fs)), 1)
    n += (n - 1) % 2
    freq, gain = [0.0], [0 if hp else 1]
    if hp:
        freq += [l_freq - l_tb, l_freq]
        gain += [0, 1]
    if lp:
        freq += [h_freq, h_freq + h_tb]
        gain += [1, 0]
    freq.append(nyq)
    gain.append(gain[-1])
    freq = np.array(freq) / nyq
    h = np.zeros(n)
    if gain[-1] == 1:
        h[n // 2] = 1
    prev_f, prev_g = freq[-1], gain[-1]
    for f, g in zip(freq[::-1][1:], gain[::-1][1:]):
        if g != prev_g:
            tr = (prev_f - f) / 2.0
            m = int(round(3.3 / tr))
            m += 1 - m % 2
            hh = firwin(m, (prev_f + f) / 2.0, window="hamming", pass_zero=True, fs=freq[-1] * 2)
            off = (n - m) // 2
            if g == 0:
                h[off:n - off] -= hh
            else:
                h[off:n - off] += hh
        prev_g, prev_f = g, f
    return h


if __name__ == "__main__":
    h = design(*(float(a) for a in sys.argv[1:4]))
    print(len(h))
    for v in h:
        print("%.17g" % v)
