"""Event-camera model and SEE's accumulated event frames (docs/ARCHITECTURE.md, "Data").

Each pixel keeps a reference log intensity and emits one event per crossing of its contrast threshold
C (per-pixel mismatch around ``threshold``); ON for brighter, OFF for darker. Crossings are reported
with probability ``detect`` (fewer in low light); background-activity noise events and a few hot
pixels are added. The log is taken of the scene radiance (the sensor does not clip like the APS) plus a
dark floor, so dim regions produce fewer events. Counts per 33 ms frame are written as SEE-style grey
frames: 128 = no event, brighter for ON, darker for OFF.
"""
from __future__ import annotations

import numpy as np

EVENT_STEP = 50  # grey levels per event in an event frame
DARK_FLOOR = 0.004


def event_counts(radiance: np.ndarray, rng: np.random.Generator, *, threshold: float = 0.2,
                 mismatch: float = 0.03, detect: float = 0.95, noise_rate: float = 0.004,
                 hot_pixels: int = 3) -> np.ndarray:
    """Signed events per pixel and frame (T, H, W) int16 for radiance frames (T, H, W); frame 0 has noise only."""
    frames, height, width = radiance.shape
    log_i = np.log(radiance + DARK_FLOOR)
    contrast = threshold * np.clip(1 + mismatch / threshold * rng.standard_normal((height, width)), 0.3, None)
    reference = log_i[0].copy()
    counts = np.zeros(radiance.shape, dtype=np.int16)
    for t in range(1, frames):
        crossings = np.trunc((log_i[t] - reference) / contrast)
        reference += crossings * contrast
        reported = rng.binomial(np.abs(crossings).astype(np.int64), detect)
        counts[t] = np.sign(crossings) * reported
    noise = rng.random(radiance.shape) < noise_rate
    counts += (noise * rng.choice(np.array([-1, 1], dtype=np.int16), size=radiance.shape)).astype(np.int16)
    hot = rng.integers(0, [height, width], size=(hot_pixels, 2))
    counts[:, hot[:, 0], hot[:, 1]] += (rng.random((frames, hot_pixels)) < 0.5).astype(np.int16)
    return counts


def event_frames(counts: np.ndarray) -> np.ndarray:
    """SEE-style grey event frames (T, H, W) uint8: 128 + ``EVENT_STEP`` per signed event, clipped."""
    return np.clip(128 + EVENT_STEP * counts.astype(np.int32), 0, 255).astype(np.uint8)
