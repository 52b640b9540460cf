#!/usr/bin/env python3
"""PESQ (ITU-T P.862) of a recorded call against the speech that was sent.

usage: pesq_score.py REFERENCE.wav DEGRADED.wav nb|wb

Both files are mono 16-bit at the same rate (8 kHz for nb, 16 kHz for wb). The degraded
recording may start earlier or later (by up to a second) and be longer (the call rang, the speech looped): the
stretch that best matches the reference is found by cross-correlating their envelopes, and
PESQ (which aligns finely itself) scores that stretch. Prints the MOS-LQO.
"""
import sys
import wave

import numpy as np
from pesq import pesq


def read(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"{path}: need mono 16-bit")
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def envelope(x, hop):
    x = np.abs(x.astype(np.float64))
    n = len(x) // hop
    return x[: n * hop].reshape(n, hop).mean(axis=1)


def main():
    ref_path, deg_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, ref = read(ref_path)
    deg_rate, deg = read(deg_path)
    if rate != deg_rate:
        sys.exit(f"rates differ: {rate} vs {deg_rate}")
    hop = rate // 100  # 10 ms
    # The recording may also begin after the speech did (an encrypted call sends nothing
    # while its DTLS handshake runs): a second of silence in front lets the match start early.
    deg = np.concatenate([np.zeros(rate, dtype=deg.dtype), deg])
    e_ref, e_deg = envelope(ref, hop), envelope(deg, hop)
    if len(e_deg) < len(e_ref):
        e_deg = np.pad(e_deg, (0, len(e_ref) - len(e_deg)))
    # Best start of the reference within the recording.
    scores = np.correlate(e_deg - e_deg.mean(), e_ref - e_ref.mean(), mode="valid")
    start = int(np.argmax(scores)) * hop
    window = deg[start : start + len(ref)]
    if len(window) < len(ref):
        window = np.pad(window, (0, len(ref) - len(window)))
    print(f"{pesq(rate, ref.astype(np.float64), window.astype(np.float64), mode):.3f}")


if __name__ == "__main__":
    main()
