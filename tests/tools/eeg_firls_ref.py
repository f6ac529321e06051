#!/usr/bin/env python3
"""References for tests/unit/test_eeg_anc.c and test_eeg_obs.c through scipy.signal and numpy.
Usage: eeg_firls_ref.py firls NTAPS FS BANDS... DESIRED...  (2k edges, then 2k gains)
         prints the tap count, then scipy.signal.firls(NTAPS, BANDS, DESIRED, fs=FS).
       eeg_firls_ref.py filtfilt FILE  (FILE: ntaps, taps, n, samples, whitespace-separated)
         prints n, then scipy.signal.filtfilt(taps, 1, samples) with its default padding.
       eeg_firls_ref.py anc FILE  (FILE: fs w0 w1 art_len nt n, triggers, eeg, noise)
         prints 2n + 1, the status (0 applied, 1 skipped), the EEG, then the noise after MATLAB
         FACET's ANC (specs/eeg.md section 3e) written out with numpy.
       eeg_firls_ref.py obs FILE  (FILE: fs hp k off L nt n, triggers, samples)
         prints n + 1, the k used, then the samples after MATLAB FitOBS (section 3d) written
         out with numpy: eigh of the epochs x epochs Gram matrix, pinv of the PCs."""
import math
import sys

import numpy as np
from scipy.signal import filtfilt, firls


def anc(v):
    fs, w0, w1, art, nt, n = v[0], int(v[1]), int(v[2]), int(v[3]), int(v[4]), int(v[5])
    t = v[6:6 + nt].astype(np.int64)
    eeg = v[6 + nt:6 + nt + n].copy()
    noise = v[6 + nt + n:6 + nt + 2 * n].copy()
    k = next((i for i in range(1, nt) if t[i] - t[0] >= fs), max(nt - 1, 1))
    fhp = max(0.75 * k, 0.5)
    m = int(round(1.2 * fs / (0.85 * fhp)))
    m += 1 - m % 2
    h = firls(m, [0, 0.85 * fhp, fhp, fs / 2], [0, 0, 1, 1], fs=fs)
    x = eeg[w0:w1]
    d = filtfilt(h, [1.0], x)
    r = noise[w0:w1]
    r = (d @ r) / (r @ r) * r
    nn = w1 - w0
    N = min(art, nn - 1)
    mu = 0.05 / (N * np.var(r, ddof=1))
    w = np.zeros(N + 1)
    y = np.zeros(nn)
    for i in range(N, nn):
        seg = r[i - N:i + 1]
        y[i] = w @ seg
        w += 2 * mu * (d[i] - y[i]) * seg
    if not np.all(np.isfinite(y)) or np.max(np.abs(y)) > 50 * np.max(np.abs(x)):
        return 1, eeg, noise
    eeg[w0:w1] -= y
    noise[w0:w1] += y
    return 0, eeg, noise


def auto_k(oev):
    s = len(oev)
    slope = next((j for j in range(s - 3) if all(abs(oev[j + u + 1] - oev[j + u]) < 2 for u in range(3))), s)
    cum = np.cumsum(oev)
    cumvar = next((j + 1 for j in range(s) if cum[j] > 80), s)
    varexp = next((j for j in range(s) if oev[j] < 5), s)
    return int(min(max(math.floor((slope + cumvar + varexp) / 3), 1), s))


def obs(v):
    fs, hp, k, off, L, nt, n = v[0], v[1], int(v[2]), int(v[3]), int(v[4]), int(v[5]), int(v[6])
    t = v[7:7 + nt].astype(np.int64)
    x = v[7 + nt:7 + nt + n].copy()
    order = int(math.floor(1.2 * fs / (hp - 10) + 0.5))
    order += order % 2
    h = firls(order + 1, [0, hp - 10, hp + 10, fs / 2], [0, 0, 1, 1], fs=fs)
    lo, hi = max(t[0] + off, 0), min(t[-1] + off + L, n)
    ip = np.zeros(n)
    ip[lo:hi] = filtfilt(h, [1.0], x[lo:hi])
    sel = [t[i] + off for i in range(1, nt - 1, 2) if t[i] + off >= 0 and t[i] + off + L <= n]
    X = np.stack([ip[s:s + L] - ip[s:s + L].mean() for s in sel], axis=1)
    lam, V = np.linalg.eigh(X.T @ X)
    lam, V = np.clip(lam[::-1], 0, None), V[:, ::-1]
    if k == 0:
        k = auto_k(100 * lam / lam.sum())
    P = X @ V[:, :k]
    r1 = np.ptp(P[:, 0])
    for q in range(1, k):
        P[:, q] *= r1 / np.ptp(P[:, q])
    F = P @ np.linalg.pinv(P)
    for i in range(nt):
        s0 = t[i] + off
        c0, c1 = max(s0, 0), min(s0 + L, n)
        if c1 <= c0:
            continue
        a1 = min(t[i + 1] + off, c1) if i + 1 < nt else c1
        if a1 <= c0:
            continue
        ep = np.zeros(L)
        ep[c0 - s0:c1 - s0] = ip[c0:c1]
        fit = F @ ep
        x[c0:a1] -= fit[c0 - s0:a1 - s0]
    return k, x


if __name__ == "__main__":
    if sys.argv[1] == "firls":
        ntaps, fs = int(sys.argv[2]), float(sys.argv[3])
        v = [float(a) for a in sys.argv[4:]]
        out = firls(ntaps, v[: len(v) // 2], v[len(v) // 2:], fs=fs)
    else:
        v = np.array(open(sys.argv[2]).read().split(), dtype=float)
        if sys.argv[1] == "filtfilt":
            nt = int(v[0])
            n = int(v[1 + nt])
            out = filtfilt(v[1:1 + nt], [1.0], v[2 + nt:2 + nt + n])
        elif sys.argv[1] == "anc":
            st, eeg, noise = anc(v)
            out = np.concatenate([[st], eeg, noise])
        else:
            k, x = obs(v)
            out = np.concatenate([[k], x])
    print(len(out))
    for s in out:
        print("%.17g" % s)
