"""Writes the impulse response from a desk loudspeaker to the agent's microphone in an office,
simulated by the image-source method (pyroomacoustics): a 4 x 3.5 x 2.7 m room, reverberation
time 0.3 s, the loudspeaker 0.5 m from the microphone. 16-bit mono WAV at the given rate,
scaled so the strongest tap is 0.5.

    python3 room_response.py OUT.wav RATE
"""
import sys

import numpy as np
import pyroomacoustics as pra
from scipy.io import wavfile

out, rate = sys.argv[1], int(sys.argv[2])
room_dim = [4.0, 3.5, 2.7]
absorption, max_order = pra.inverse_sabine(0.3, room_dim)
room = pra.ShoeBox(room_dim, fs=rate, materials=pra.Material(absorption), max_order=max_order)
room.add_source([1.6, 1.5, 1.0])
room.add_microphone([2.0, 1.8, 1.05])
room.compute_rir()
rir = np.asarray(room.rir[0][0], dtype=float)
rir = rir / np.max(np.abs(rir)) * 0.5
wavfile.write(out, rate, np.round(rir * 32767).astype(np.int16))
