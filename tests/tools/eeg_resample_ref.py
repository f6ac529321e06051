#!/usr/bin/env python3
"""Reference for tests/unit/test_eeg_resample.c: mne.filter.resample (MNE 1.10, method='fft',
window='boxcar', npad='auto', pad='reflect_limited') written out over numpy's rfft/irfft as
MNE's _fft_resample and _smart_pad do. The input is the test's LCG signal (same seed).
Usage: eeg_resample_ref.py N UP DOWN SEED; prints the output length, then the samples."""
import sys

import numpy as np

MASK = (1 << 64) - 1


def lcg(n, seed):
    s, out = seed, np.empty(n)
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & MASK
        out[i] = (s >> 11) / 9007199254740992.0 * 2.0 - 1.0
    return out


def smart_pad(x, n_pad):
    if (n_pad == 0).all():
        return x
    l_z = np.zeros(max(n_pad[0] - len(x) + 1, 0))
    r_z = np.zeros(max(n_pad[1] - len(x) + 1, 0))
    return np.concatenate([l_z, 2 * x[0] - x[n_pad[0]:0:-1], x,
                           2 * x[-1] - x[-2:-n_pad[1] - 2:-1], r_z])


def resample(x, up, down):
    ratio = float(up) / down
    x_len = len(x)
    final_len = max(int(round(ratio * x_len)), 1)
    min_add = min(x_len // 8, 100) * 2
    npad = 2 ** int(np.ceil(np.log2(x_len + min_add))) - x_len
    npad, extra = divmod(npad, 2)
    npads = np.array([npad, npad + extra], int)
    orig_len = x_len + npads.sum()
    new_len = max(int(round(ratio * orig_len)), 1)
    to_removes = [int(round(ratio * npads[0]))]
    to_removes.append(new_len - final_len - to_removes[0])
    to_removes = np.array(to_removes)
    W = np.fft.ifftshift(np.ones(orig_len))  # scipy.signal.get_window('boxcar', orig_len)
    W *= float(new_len) / float(orig_len)
    rfft_len_x = len(W) // 2 + 1
    W[1:rfft_len_x] = (W[1:rfft_len_x] + W[::-1][:rfft_len_x - 1]) / 2.0
    W = W[:rfft_len_x]
    # _fft_resample
    x = smart_pad(x.astype(np.float64), npads)
    old_len = len(x)
    shorter = new_len < old_len
    use_len = new_len if shorter else old_len
    x_fft = np.fft.rfft(x)
    if use_len % 2 == 0:
        nyq = use_len // 2
        x_fft[nyq:nyq + 1] *= 2 if shorter else 0.5
    x_fft *= W
    y = np.fft.irfft(x_fft, new_len)
    if (to_removes > 0).any():
        y = y[to_removes[0]:y.shape[0] - to_removes[1]]
    return y


def main():
    n, up, down, seed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    y = resample(lcg(n, seed), up, down)
    out = [str(len(y))] + ["%.17g" % v for v in y]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
