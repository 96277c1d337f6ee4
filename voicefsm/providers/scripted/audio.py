"""Audio the scripted providers and simulated devices produce and hear: tones with energy."""

from __future__ import annotations

import math

import numpy as np
from livekit import rtc


def tone(
    duration_s: float, sample_rate: int, *, frequency: float = 220.0, level: float = 0.2
) -> bytes:
    """``duration_s`` of a sine tone as 16-bit mono PCM: audio with energy, like speech."""
    samples = max(1, int(duration_s * sample_rate))
    t = np.arange(samples, dtype=np.float64) / sample_rate
    wave = (np.sin(2 * math.pi * frequency * t) * level * 32767).astype("<i2")
    return wave.tobytes()


def frame_energy(frame: rtc.AudioFrame) -> float:
    """Root mean square of a 16-bit frame: speech is loud, silence is not."""
    samples = np.frombuffer(frame.data, dtype=np.int16)
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
