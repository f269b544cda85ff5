"""Parametric eye-region renderer (numpy, vectorised over frames and pixels).

Draws the single-eye view of a head-mounted camera as in SEE (Zhang et al., SIGGRAPH 2023): skin with
an orbital hollow and texture, brow, upper-lid crease, lashes, lower lid with the infraorbital furrow,
sclera, iris, pupil and the corneal glint, plus the wrinkles that eye-region action units produce
(crow's feet for AU6, glabellar lines for AU4, nose-root lines for AU9, forehead lines for AU1/AU2).
Coordinates are normalised to [-1, 1] with y pointing down; the nose is on the left (x < 0).
The output is reflectance in [0, 1]; lighting and the sensors are applied elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Appearance:
    """One subject's face shape and colours (fixed across that subject's sequences)."""

    eye_x: float
    eye_y: float
    eye_width: float      # half-width of the eye opening
    upper_open: float     # resting upper-lid height above the eye line
    lower_open: float     # resting lower-lid depth below it
    tilt: float           # canthal tilt (lateral corner up if negative)
    crease_gap: float
    iris_radius: float
    iris_albedo: float
    pattern_phase: float  # phase of the iris streaks and the brow hair
    skin_albedo: float
    brow_gap: float       # brow height above the eye line
    brow_arch: float
    brow_thickness: float
    brow_albedo: float
    lash_width: float
    texture: tuple[tuple[float, float, float], ...]  # skin texture waves: (fx, fy, phase)

    @classmethod
    def sample(cls, rng: np.random.Generator, variation: float = 1.0) -> "Appearance":
        """A random subject; ``variation`` scales how far subjects differ from the average face."""
        def u(centre: float, spread: float) -> float:
            return float(centre + variation * spread * rng.uniform(-1, 1))
        waves = tuple((float(rng.uniform(3, 9) * rng.choice([-1, 1])), float(rng.uniform(3, 9)),
                       float(rng.uniform(0, 2 * np.pi))) for _ in range(3))
        return cls(eye_x=u(0.05, 0.1), eye_y=u(0.2, 0.08), eye_width=u(0.58, 0.08), upper_open=u(0.26, 0.05),
                   lower_open=u(0.16, 0.03), tilt=u(-0.03, 0.06), crease_gap=u(0.13, 0.04),
                   iris_radius=u(0.2, 0.025), iris_albedo=u(0.3, 0.15), pattern_phase=float(rng.uniform(0, 2 * np.pi)),
                   skin_albedo=u(0.6, 0.15), brow_gap=u(0.56, 0.07), brow_arch=u(0.08, 0.04),
                   brow_thickness=u(0.12, 0.03), brow_albedo=u(0.14, 0.08), lash_width=u(0.045, 0.012),
                   texture=waves)


@dataclass(frozen=True)
class Pose:
    """Per-frame state, each field an array of shape (T,).

    Action-unit intensities (0 = rest, about 1 = strong): ``inner_brow`` AU1, ``outer_brow`` AU2,
    ``brow_lower`` AU4, ``lid_raise`` AU5, ``cheek`` AU6, ``lid_tighten`` AU7, ``nose_wrinkle`` AU9,
    ``lid_droop`` (upper-lid lowering), ``blink`` (1 = closed); ``pupil`` dilation (-1..1); ``gaze_x``,
    ``gaze_y`` (-1..1); ``shift_x``, ``shift_y``: slip of the head-mounted camera.
    """

    inner_brow: np.ndarray
    outer_brow: np.ndarray
    brow_lower: np.ndarray
    lid_raise: np.ndarray
    cheek: np.ndarray
    lid_tighten: np.ndarray
    nose_wrinkle: np.ndarray
    lid_droop: np.ndarray
    blink: np.ndarray
    pupil: np.ndarray
    gaze_x: np.ndarray
    gaze_y: np.ndarray
    shift_x: np.ndarray
    shift_y: np.ndarray

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _ramp(distance: np.ndarray, pixel: float) -> np.ndarray:
    """Anti-aliased inside-test: 0 outside, 1 inside, linear over one pixel across the edge."""
    return np.clip(distance / pixel + 0.5, 0.0, 1.0)


def _line(distance: np.ndarray, width: float) -> np.ndarray:
    """Gaussian profile of a line at signed ``distance``."""
    return np.exp(-np.square(distance / width))


def render(face: Appearance, pose: Pose, size: tuple[int, int]) -> np.ndarray:
    """Reflectance frames (T, H, W) float32 in [0, 1] for ``face`` in ``pose``."""
    height, width = size
    pixel = 2.0 / min(height, width)
    col = lambda v: np.asarray(v, dtype=np.float32)[:, None, None]  # (T,) -> (T, 1, 1)
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, None, :] - col(pose.shift_x)
    y = np.linspace(-1, 1, height, dtype=np.float32)[None, :, None] - col(pose.shift_y)
    a, cx, cy = face.eye_width, face.eye_x, face.eye_y
    au = {name: col(getattr(pose, name)) for name in Pose.names()}

    # Lids: the opening is the region between the upper and lower lid curves.
    xn = (x - cx) / a
    base = np.clip(1 - xn * xn, 0, None)
    eye_line = cy + face.tilt * xn
    upper = face.upper_open * np.clip(1 + 0.55 * au["lid_raise"] - 0.45 * au["lid_droop"]
                                      - 0.18 * au["brow_lower"] - 0.2 * au["cheek"], 0.05, None)
    lower = face.lower_open * np.clip(1 - 0.6 * au["cheek"] - 0.45 * au["lid_tighten"], 0.15, None)
    y_lower = eye_line + lower * base ** (1 - 0.45 * au["lid_tighten"])
    y_upper = eye_line - upper * base ** 0.85 * (1 + 0.12 * xn)
    y_upper = y_upper + au["blink"] * (y_lower - y_upper)  # a blink lowers the upper lid onto the lower one
    inside_x = _ramp((1 - np.abs(xn)) * a, pixel)
    opening = _ramp(y - y_upper, pixel) * _ramp(y_lower - y, pixel) * inside_x

    # Skin: albedo, orbital hollow, fixed texture.
    texture = sum(np.sin(fx * x + fy * y + ph) for fx, fy, ph in face.texture)
    skin = face.skin_albedo * (1 + 0.035 * texture)
    skin = skin * (1 - 0.2 * np.exp(-np.square((x - cx) / (1.25 * a)) - np.square((y - cy + 0.08) / 0.32)))

    # Creases and wrinkles darken the skin.
    crease_gap = face.crease_gap * (1 - 0.45 * au["lid_raise"] + 0.4 * au["lid_droop"] + 0.3 * au["blink"])
    shade = 0.28 * _line(y - (y_upper - crease_gap * base ** 0.6), 1.3 * pixel) * inside_x
    furrow_gap = 0.17 * (1 - 0.5 * au["cheek"] - 0.2 * au["lid_tighten"])
    shade = shade + (0.1 + 0.22 * au["cheek"]) * _line(y - (y_lower + furrow_gap * base ** 0.5), 1.6 * pixel) * inside_x
    # crow's feet (AU6) fanning from the lateral corner
    fx, fy = x - (cx + a + 0.04), y - (cy - 0.02)
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    fan = sum(_line(radius * (angle - t), 1.1 * pixel) for t in (-0.5, -0.05, 0.4))
    shade = shade + 0.35 * au["cheek"] * fan * _ramp(radius - 0.05, pixel) * _ramp(0.32 - radius, 4 * pixel)

    # Brow: a band along a curve from the medial end (s=-1) to the lateral end (s=+1).
    medial_end = cx - 0.95 * a - 0.1 * au["brow_lower"] - 0.05 * au["nose_wrinkle"]
    lateral_end = cx + 1.2 * a
    s = 2 * (x - medial_end) / (lateral_end - medial_end) - 1
    w_in, w_out = np.clip((1 - s) / 2, 0, 1), np.clip((1 + s) / 2, 0, 1)
    arch = face.brow_arch * (1 - 0.6 * au["brow_lower"]) + 0.06 * np.minimum(au["inner_brow"], au["outer_brow"])
    y_brow = (cy - face.brow_gap - arch * np.clip(1 - np.square((s - 0.2) / 1.2), 0, None)
              - 0.17 * au["inner_brow"] * w_in ** 1.5 - 0.15 * au["outer_brow"] * w_out
              + 0.13 * au["brow_lower"] * (0.35 + 0.65 * w_in) + 0.07 * au["nose_wrinkle"] * w_in ** 2)
    half = face.brow_thickness * (1.1 - 0.4 * w_out) / 2
    brow = (_ramp(half - np.abs(y - y_brow), pixel) * _ramp(x - medial_end, 2 * pixel)
            * _ramp(lateral_end - x, 3 * pixel))
    hair = 1 + 0.3 * np.sin(55 * (0.8 * x + 0.6 * y) + face.pattern_phase)
    # forehead lines above the brow follow its raised part (AU1 medially, AU2 laterally)
    lift = au["inner_brow"] * w_in + au["outer_brow"] * w_out
    ends = _ramp(x - medial_end, 2 * pixel) * _ramp(lateral_end - x, 2 * pixel)
    shade = shade + 0.25 * lift * ends * sum(_line(y - (y_brow - half - g), 1.2 * pixel) for g in (0.12, 0.24))
    # glabellar lines (AU4) and nose-root lines (AU9) medial of the eye
    shade = shade + 0.35 * au["brow_lower"] * _line(x - (medial_end - 0.1), 1.2 * pixel) * _ramp(
        0.2 - np.abs(y - (y_brow - 0.05)), 2 * pixel)
    root_x = cx - a - 0.12
    shade = shade + 0.4 * au["nose_wrinkle"] * _ramp(0.18 - np.abs(x - root_x), 3 * pixel) * sum(
        _line(y - (cy - 0.3 + g) - 0.25 * (x - root_x), 1.2 * pixel) for g in (0.0, 0.1, 0.2))
    image = skin * np.clip(1 - shade, 0.2, 1)
    image = image * (1 - brow) + face.brow_albedo * hair * brow

    # Eyeball: sclera with lid shadow and corner darkening, iris, pupil, glint.
    iris_x = cx + 0.35 * a * au["gaze_x"]
    iris_y = cy + 0.02 + 0.09 * au["gaze_y"]
    r = np.hypot(x - iris_x, y - iris_y)
    ri = face.iris_radius
    sclera = 0.82 * (1 - 0.35 * xn * xn) * (1 - 0.4 * np.exp(-np.clip(y - y_upper, 0, None) / 0.07))
    iris_tone = face.iris_albedo * (1 + 0.25 * np.sin(14 * np.arctan2(y - iris_y, x - iris_x) + face.pattern_phase))
    iris_tone = iris_tone * (1 - 0.5 * (r / ri) ** 4)
    pupil_r = ri * (0.4 + 0.14 * au["pupil"])
    eye = sclera + (iris_tone - sclera) * _ramp(ri - r, pixel)
    eye = eye + (0.03 - eye) * _ramp(pupil_r - r, pixel)
    eye = eye + 0.9 * np.exp(-(np.square(x - iris_x - 0.3 * ri) + np.square(y - iris_y + 0.3 * ri)) / (2 * pixel * pixel))
    image = image * (1 - opening) + eye * opening

    # Lashes along the upper-lid margin (thicker laterally), a faint lower lash line.
    lash = face.lash_width * (0.7 + 0.5 * np.clip(xn, 0, 1))
    upper_lash = _ramp(y_upper - y + 0.5 * pixel, pixel) * _ramp(lash - (y_upper - y), pixel) * inside_x
    image = image * (1 - 0.85 * upper_lash)
    image = image * (1 - 0.3 * _line(y - y_lower, 0.8 * pixel) * inside_x)
    return np.clip(image, 0, 1).astype(np.float32)
