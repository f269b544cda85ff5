"""Eye-region action units per emotion and their time course in a sequence (docs/ARCHITECTURE.md, "Data").

Apex action-unit patterns follow FACS descriptions of the eye region: surprise AU1+2+5; fear AU1+2+4+5+7
(brows up *and* drawn together, lower lid tense, pupil dilated); anger AU4+5+7 (glare); disgust
AU4+6+7+9 (brow down, lower lid raised, upper lid lowered, nose-root lines); happiness AU6(+7);
sadness AU1+4 with drooping lids and gaze down; neutral: blinks only. Fear/surprise and anger/disgust
share their dominant units and differ in the subtler ones, so they are confusable but separable.
"""
from __future__ import annotations

import numpy as np

from .render import Pose

ACTION_UNITS = ("inner_brow", "outer_brow", "brow_lower", "lid_raise", "cheek", "lid_tighten", "nose_wrinkle",
                "lid_droop", "pupil", "gaze_y")

APEX: dict[str, dict[str, float]] = {
    "neutral": {},
    "happiness": {"cheek": 1.0, "lid_tighten": 0.3, "lid_droop": 0.1},
    "sadness": {"inner_brow": 0.9, "brow_lower": 0.3, "lid_droop": 0.5, "gaze_y": 0.5},
    "anger": {"brow_lower": 1.0, "lid_raise": 0.35, "lid_tighten": 0.65},
    "disgust": {"brow_lower": 0.85, "nose_wrinkle": 0.6, "cheek": 0.4, "lid_tighten": 0.5, "lid_droop": 0.15},
    "surprise": {"inner_brow": 1.0, "outer_brow": 1.0, "lid_raise": 1.0},
    "fear": {"inner_brow": 1.0, "outer_brow": 0.6, "brow_lower": 0.4, "lid_raise": 0.9, "lid_tighten": 0.3,
             "pupil": 0.5},
}

BLINK_PROFILE = np.array([0.35, 0.85, 1.0, 0.6, 0.2])


def subject_style(rng: np.random.Generator, variation: float = 1.0) -> dict[str, np.ndarray | float]:
    """A subject's expressiveness: per-unit gains, a resting offset (e.g. a habitually lowered brow), blink rate."""
    return {"gain": np.exp(0.3 * variation * rng.standard_normal(len(ACTION_UNITS))),
            "rest": np.clip(0.12 * variation * rng.standard_normal(len(ACTION_UNITS)), 0, None),
            "blink_rate": float(rng.uniform(0.01, 0.05))}


def _smoothstep(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0, 1)
    return v * v * (3 - 2 * v)


def _random_walk(rng: np.random.Generator, length: int, step: float) -> np.ndarray:
    return np.cumsum(step * rng.standard_normal(length))


def timeline(emotion: str, length: int, style: dict, rng: np.random.Generator, pupil_offset: float = 0.0,
             jitter: float = 0.15) -> Pose:
    """The per-frame ``Pose`` of one sequence: neutral start, onset at a random frame, a 3-8 frame rise,
    apex hold (sometimes a partial release), with per-sequence amplitude, per-unit ``jitter``, tremor,
    blinks, gaze drift with saccades and slips of the head-mounted camera."""
    t = np.arange(length, dtype=np.float64)
    onset = rng.uniform(0, length / 3)
    envelope = _smoothstep((t - onset) / rng.uniform(3, 8))
    if rng.random() < 0.3:
        release = rng.uniform(length / 2, length)
        envelope = envelope * (1 - 0.5 * _smoothstep((t - release) / 4))
    apex = np.array([APEX[emotion].get(u, 0.0) for u in ACTION_UNITS])
    apex = apex * style["gain"] * rng.uniform(0.55, 1.0) * np.exp(jitter * rng.standard_normal(len(ACTION_UNITS)))
    units = style["rest"][:, None] + apex[:, None] * envelope[None, :]
    units = units + 0.03 * np.stack([_random_walk(rng, length, 0.3) for _ in ACTION_UNITS]) / np.sqrt(length)
    values = dict(zip(ACTION_UNITS, units))

    blink = np.zeros(length)
    for start in np.flatnonzero(rng.random(length) < style["blink_rate"]):
        span = BLINK_PROFILE[:length - start]
        blink[start:start + len(span)] = np.maximum(blink[start:start + len(span)], span)

    gaze_x = np.clip(rng.uniform(-0.4, 0.4) + _random_walk(rng, length, 0.04)
                     + np.where(t >= rng.uniform(0, 2 * length), rng.uniform(-0.5, 0.5), 0.0), -1, 1)
    gaze_y = np.clip(values.pop("gaze_y") + rng.uniform(-0.2, 0.2) + _random_walk(rng, length, 0.03), -1, 1)
    shift = rng.uniform(-0.04, 0.04, size=2)
    return Pose(**{k: np.clip(v, 0, None) for k, v in values.items() if k != "pupil"},
                blink=blink, pupil=np.clip(values["pupil"] + pupil_offset, -1, 1), gaze_x=gaze_x, gaze_y=gaze_y,
                shift_x=shift[0] + _random_walk(rng, length, 0.004), shift_y=shift[1] + _random_walk(rng, length, 0.004))
