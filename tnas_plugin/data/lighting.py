"""The four SEE lighting conditions and the intensity (APS) camera (docs/ARCHITECTURE.md, "Data").

A condition sets the scene illumination (a field over the image, steep for HDR), the APS exposure
(overexposed frames clip, low-light frames are dark and noisy), the pupil's response and how the
event sensor fares (low light: fewer detected events, more noise events).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Condition:
    exposure: float           # APS gain
    gradient: tuple[float, float]  # range of the log-illumination slope across the image
    read_noise: float         # APS read noise (linear units)
    shot_noise: float         # APS shot-noise scale
    pupil: float              # pupil dilation offset
    event_detect: float       # probability that a threshold crossing is reported
    event_noise: float        # background-activity events per pixel per frame


CONDITIONS = {
    "normal": Condition(1.0, (0.0, 0.4), 0.008, 0.02, 0.0, 0.95, 0.004),
    "overexposed": Condition(3.2, (0.0, 0.4), 0.008, 0.02, -0.6, 0.95, 0.004),
    "low": Condition(0.03, (0.0, 0.4), 0.006, 0.01, 0.7, 0.6, 0.02),
    "hdr": Condition(1.0, (1.8, 2.6), 0.008, 0.02, -0.2, 0.9, 0.008),
}


@dataclass(frozen=True)
class Lighting:
    """One sequence's illumination: the condition, an illumination field (H, W) and the APS exposure."""

    condition: Condition
    field: np.ndarray
    exposure: float


def sample_lighting(name: str, size: tuple[int, int], rng: np.random.Generator) -> Lighting:
    """Illumination for condition ``name``: log-linear field with a random direction and slope."""
    condition = CONDITIONS[name]
    angle = rng.uniform(0, 2 * np.pi)
    slope = rng.uniform(*condition.gradient)
    y, x = np.meshgrid(np.linspace(-1, 1, size[0]), np.linspace(-1, 1, size[1]), indexing="ij")
    field = np.exp(slope * (np.cos(angle) * x + np.sin(angle) * y)).astype(np.float32)
    return Lighting(condition, field, condition.exposure * float(np.exp(rng.normal(0, 0.15))))


def intensity_frames(radiance: np.ndarray, lighting: Lighting, rng: np.random.Generator,
                     noise: float = 1.0) -> np.ndarray:
    """APS frames (T, H, W) uint8: exposure, shot and read noise (scaled by ``noise``), clipping, gamma 1/2.2."""
    signal = radiance * lighting.exposure
    c = lighting.condition
    sigma = noise * np.sqrt(c.read_noise ** 2 + c.shot_noise ** 2 * np.clip(signal, 0, None))
    signal = np.clip(signal + sigma * rng.standard_normal(signal.shape), 0, 1)
    return np.round(255 * signal ** (1 / 2.2)).astype(np.uint8)
