"""Synthetic SEE-like data set, written in the SEE layout so that the real loader is what gets exercised.

Subjects get their own face (``render.Appearance``) and expression style; each sequence follows one
emotion's eye-region action units (``expressions``) under one of the four lighting conditions
(``lighting``), with an intensity video from the APS model and event frames from the event-camera model
(``events``). The class mix follows SEE's test-set counts, lighting is balanced per subject, subjects
are split into training and testing (disjoint), and every sequence has its own seeded random stream,
so a seed gives byte-identical files (docs/ARCHITECTURE.md, "Data"; Zhang et al., SIGGRAPH 2023).
"""
from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .events import event_counts, event_frames
from .expressions import subject_style, timeline
from .index import ANNOTATION_FILE
from .jpeg import frame_name, write_jpeg
from .lighting import intensity_frames, sample_lighting
from .naming import EMOTION_SPELLING, EMOTIONS, LIGHTINGS, SequenceName
from .render import Appearance, render

# SEE test-set class counts (docs/ARCHITECTURE.md, "Data"), used as the class mix.
SEE_CLASS_COUNTS = {"anger": 119, "disgust": 124, "fear": 113, "happiness": 89, "neutral": 92, "sadness": 100,
                    "surprise": 130}
DEGREES = ("undergraduate", "Master", "PhD")


@dataclass(frozen=True)
class SynthConfig:
    """Generator settings. The defaults keep ``make demo`` fast; raise ``subjects``/``size`` for experiments.

    ``variation`` scales how much subjects differ (face and expression style), ``jitter`` the
    per-sequence variation of each action unit, ``noise`` the APS sensor noise.

    Parameters
    ----------
    subjects
        Number of subjects (at least 2: training and testing are split by subject).
    seed
        Seed of every random draw; a seed gives identical bytes.
    size
        ``(H, W)`` of the frames (at least 8 x 8).
    sequences_per_subject
        Sequences per subject, spread over the emotions in SEE's class proportions.
    frames
        ``(shortest, longest)`` number of frames of a sequence; each length is drawn in between.
    test_fraction
        Share of the subjects put in the testing split (at least one, never all).
    variation
        How much subjects differ (face and expression style).
    jitter
        Per-sequence variation of each action unit.
    noise
        Scale of the APS sensor noise.

    Example
    -------
    >>> config = SynthConfig(subjects=4, sequences_per_subject=7, size=(32, 32), seed=1)
    >>> config.frames
    (18, 30)
    >>> summary = synthesize("data/tiny-see", config)  # doctest: +SKIP
    """

    subjects: int = 24
    seed: int = 0
    size: tuple[int, int] = (64, 64)
    sequences_per_subject: int = 21
    frames: tuple[int, int] = (18, 30)
    test_fraction: float = 0.32
    variation: float = 1.0
    jitter: float = 0.15
    noise: float = 1.0

    def __post_init__(self):
        if self.subjects < 2:
            raise ValueError("need at least 2 subjects (training and testing are split by subject)")
        if self.sequences_per_subject < 1 or not 1 <= self.frames[0] <= self.frames[1]:
            raise ValueError("need sequences_per_subject >= 1 and 1 <= frames[0] <= frames[1]")
        if min(self.size) < 8:
            raise ValueError(f"size {self.size} is too small (at least 8x8)")


@dataclass(frozen=True)
class PlannedSequence:
    """A sequence to generate: its name fields, split and subject."""

    info: SequenceName
    split: str
    subject_index: int


def _rng(config: SynthConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *key])


def _class_counts(n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-emotion counts summing to ``n`` in SEE's proportions (remainders distributed at random)."""
    p = np.array([SEE_CLASS_COUNTS[e] for e in EMOTIONS], dtype=float)
    p /= p.sum()
    counts = np.floor(p * n).astype(int)
    rest = p * n - counts
    if n > counts.sum():
        counts[rng.choice(len(p), n - counts.sum(), replace=False, p=rest / rest.sum())] += 1
    return counts


def plan(config: SynthConfig) -> list[PlannedSequence]:
    """All sequences to generate: names (SEE naming), splits (disjoint by subject), emotions, lightings."""
    rng = _rng(config, 0)
    n_test = min(config.subjects - 1, max(1, round(config.test_fraction * config.subjects)))
    test = set(rng.permutation(config.subjects)[:n_test].tolist())
    planned, number = [], 1
    for s in range(config.subjects):
        srng = _rng(config, 1, s)
        sex, age, degree = srng.choice(["man", "woman"]), int(srng.integers(18, 36)), srng.choice(DEGREES)
        emotions = np.repeat(EMOTIONS, _class_counts(config.sequences_per_subject, srng))
        order = srng.permutation(len(emotions))
        lightings = np.resize(srng.permutation(LIGHTINGS), len(emotions))
        for take, k in enumerate(order):
            length = int(srng.integers(config.frames[0], config.frames[1] + 1))
            name = SequenceName.format(number, f"{s + 1:03d}", str(sex), age, str(degree), str(lightings[take]),
                                       str(emotions[k]), length, take)
            planned.append(PlannedSequence(SequenceName.parse(name), "testing" if s in test else "training", s))
            number += 1
    return planned


def generate_sequence(config: SynthConfig, seq: PlannedSequence) -> tuple[np.ndarray, np.ndarray]:
    """(intensity frames, event frames) of one planned sequence, each (T, H, W) uint8."""
    face = Appearance.sample(_rng(config, 2, seq.subject_index), config.variation)
    style = subject_style(_rng(config, 3, seq.subject_index), config.variation)
    rng = _rng(config, 4, seq.info.number)
    lighting = sample_lighting(seq.info.lighting, config.size, rng)
    pose = timeline(seq.info.emotion, seq.info.length, style, rng, pupil_offset=lighting.condition.pupil,
                    jitter=config.jitter)
    radiance = render(face, pose, config.size) * lighting.field
    frames = intensity_frames(radiance, lighting, rng, config.noise)
    counts = event_counts(radiance, rng, detect=lighting.condition.event_detect,
                          noise_rate=lighting.condition.event_noise)
    return frames, event_frames(counts)


def write_sequence(out: Path, config: SynthConfig, seq: PlannedSequence) -> None:
    """Render one planned sequence and write its intensity and event JPEGs."""
    videos = dict(zip(("frame", "event"), generate_sequence(config, seq)))
    for modality, video in videos.items():
        folder = out / modality / EMOTION_SPELLING[seq.info.emotion] / seq.info.name
        folder.mkdir(parents=True)
        for i, image in enumerate(video):
            write_jpeg(image, folder / frame_name(i))


def synthesize(out: str | Path, config: SynthConfig = SynthConfig(), progress: bool = False,
               workers: int = 1) -> dict:
    """Write the data set under ``out`` (``event/``, ``frame/``, ``emotion.json``); return a summary.

    Parameters
    ----------
    out
        Folder to write; it must not already hold a SEE tree (mixing two would leave folders without
        entries).
    config
        Subjects, sizes, class mix and variation (:class:`SynthConfig`); a seed gives identical bytes.
    progress
        Show a tqdm bar over the sequences.
    workers
        Render sequences in that many processes (same bytes: every sequence has its own random stream).

    Example
    -------
    >>> synthesize("data/synthetic-see", SynthConfig(subjects=12, seed=1), progress=True)  # doctest: +SKIP
    """
    out = Path(out)
    existing = [out / p for p in ("event", "frame", ANNOTATION_FILE) if (out / p).exists()]
    if existing:
        raise FileExistsError(f"{existing[0]} already exists; choose an empty output folder")
    sequences = plan(config)
    bar = tqdm(total=len(sequences), desc="synthesizing", unit="seq", disable=not progress)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(partial(write_sequence, out, config), sequences, chunksize=8):
                bar.update()
    else:
        for seq in sequences:
            write_sequence(out, config, seq)
            bar.update()
    bar.close()
    annotations = {seq.info.name: {"subset": seq.split, "annotations": {
        "label": EMOTION_SPELLING[seq.info.emotion], "segment": [0, seq.info.length]}} for seq in sequences}
    (out / ANNOTATION_FILE).write_text(json.dumps(annotations, indent=1) + "\n", encoding="utf-8")
    return {"sequences": len(sequences), "frames": sum(seq.info.length for seq in sequences),
            "training": sum(s.split == "training" for s in sequences),
            "testing": sum(s.split == "testing" for s in sequences)}
