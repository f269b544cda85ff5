"""Synthetic SEE-like data set in the real SEE's form, so that the real loader is what gets exercised.

The structure is the real data set's (docs/ARCHITECTURE.md, "Data"; Zhang et al., SIGGRAPH 2023): the
``{"labels": [...], "database": {...}}`` annotation file, folders ``<modality>/<label>/<name>/00000.jpg``
(the authors' reading rule), one lighting per subject, takes numbered per (subject, emotion), a split
within subjects by take (each subject's latest takes are tested, about SEE's 767 of 2,405 sequences),
and sequence lengths over SEE's range (18 to 131 frames, mean about 52).

Subjects get their own face (``render.Appearance``) and expression style; each sequence follows one
emotion's eye-region action units (``expressions``) under its subject's lighting condition
(``lighting``), with an intensity video from the APS model and event frames from the event-camera model
(``events``). The class mix follows SEE's test-set counts, and every sequence has its own seeded random
stream, so a seed gives byte-identical files.
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
from .index import ANNOTATION_FILES
from .jpeg import frame_name, write_jpeg
from .lighting import intensity_frames, sample_lighting
from .naming import DEGREES, EMOTION_SPELLING, EMOTIONS, LIGHTINGS, SequenceName
from .render import Appearance, render

# SEE test-set class counts (docs/ARCHITECTURE.md, "Data"), used as the class mix.
SEE_CLASS_COUNTS = {"anger": 119, "disgust": 124, "fear": 113, "happiness": 89, "neutral": 92, "sadness": 100,
                    "surprise": 130}
SEE_TEST_FRACTION = 767 / 2405  # share of SEE's sequences in its official test split
SEE_MEAN_FRAMES = 52  # mean length of SEE's test sequences, in frames


@dataclass(frozen=True)
class SynthConfig:
    """Generator settings. The defaults keep ``make demo`` fast; raise ``subjects``/``size`` for experiments.

    ``variation`` scales how much subjects differ (face and expression style), ``jitter`` the
    per-sequence variation of each action unit, ``noise`` the APS sensor noise.

    Parameters
    ----------
    subjects
        Number of subjects (at least 1: training and testing are split within subjects).
    seed
        Seed of every random draw; a seed gives identical bytes.
    size
        ``(H, W)`` of the frames (at least 8 x 8).
    sequences_per_subject
        Sequences per subject (at least 2): two takes of each emotion when at least 14, the rest in SEE's
        class proportions. Only emotions with two takes or more are tested.
    frames
        ``(shortest, longest)`` number of frames of a sequence (SEE: 18 to 131).
    mean_frames
        Mean length: lengths are log-normal (spread 0.4) with this mean, clipped to ``frames``.
    test_fraction
        Share of each subject's sequences put in the testing split, its latest takes (at least one, never all).
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
    (18, 131)
    >>> summary = synthesize("data/tiny-see", config)  # doctest: +SKIP
    """

    subjects: int = 24
    seed: int = 0
    size: tuple[int, int] = (64, 64)
    sequences_per_subject: int = 21
    frames: tuple[int, int] = (18, 131)
    mean_frames: int = SEE_MEAN_FRAMES
    test_fraction: float = SEE_TEST_FRACTION
    variation: float = 1.0
    jitter: float = 0.15
    noise: float = 1.0

    def __post_init__(self):
        if self.subjects < 1:
            raise ValueError("need at least 1 subject")
        if self.sequences_per_subject < 2 or not 1 <= self.frames[0] <= self.frames[1]:
            raise ValueError("need sequences_per_subject >= 2 (training and testing are split within subjects) "
                             "and 1 <= frames[0] <= frames[1]")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction!r}")
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
    """Per-emotion counts summing to ``n``: two takes of each emotion when ``n`` allows (so that each can be
    both trained on and tested, as in SEE), the rest in SEE's proportions (remainders distributed at random)."""
    p = np.array([SEE_CLASS_COUNTS[e] for e in EMOTIONS], dtype=float)
    p /= p.sum()
    base = min(2, n // len(EMOTIONS))
    rest_n = n - base * len(EMOTIONS)
    counts = np.floor(p * rest_n).astype(int)
    rest = p * rest_n - counts
    if rest_n > counts.sum():
        counts[rng.choice(len(p), rest_n - counts.sum(), replace=False, p=rest / rest.sum())] += 1
    return counts + base


def plan(config: SynthConfig) -> list[PlannedSequence]:
    """All sequences to generate: names (SEE naming, takes counted per subject and emotion), one lighting
    per subject (balanced over subjects), and the split within subjects (:func:`_latest_takes`)."""
    lightings = np.resize(_rng(config, 0).permutation(LIGHTINGS), config.subjects)
    planned, number = [], 1
    for s in range(config.subjects):
        srng = _rng(config, 1, s)
        sex, age, degree = srng.choice(["man", "woman"]), int(srng.integers(18, 36)), srng.choice(DEGREES)
        emotions = np.repeat(EMOTIONS, _class_counts(config.sequences_per_subject, srng))[srng.permutation(config.sequences_per_subject)]
        takes = [int(np.sum(emotions[:k] == emotion)) for k, emotion in enumerate(emotions)]
        tested = _latest_takes(emotions, takes, config.test_fraction, srng)
        for k, (emotion, take) in enumerate(zip(emotions, takes)):
            length = int(np.clip(round(config.mean_frames * np.exp(0.4 * srng.standard_normal() - 0.08)), *config.frames))
            name = SequenceName.format(number, f"{s + 1:03d}", str(sex), age, str(degree), str(lightings[s]),
                                       str(emotion), length, take)
            planned.append(PlannedSequence(SequenceName.parse(name), "testing" if k in tested else "training", s))
            number += 1
    return planned


def _latest_takes(emotions: np.ndarray, takes: list[int], fraction: float, rng: np.random.Generator) -> set[int]:
    """Indices of one subject's tested sequences: ``round(fraction * n)`` of its ``n``, shared out over its
    emotions in proportion (largest remainders first, ties in a seeded order), each emotion giving its latest
    takes and keeping at least one in training, as in SEE's official split (an emotion with one take is
    never tested)."""
    n = len(emotions)
    wanted = round(fraction * n)
    groups = {e: sorted((k for k in range(n) if emotions[k] == e), key=lambda k: -takes[k]) for e in sorted(set(emotions))}
    share = {e: fraction * len(g) for e, g in groups.items()}
    counts = {e: min(len(groups[e]) - 1, int(np.floor(q))) for e, q in share.items()}
    tie = dict(zip(groups, rng.permutation(len(groups))))
    open_groups = [e for e in groups if counts[e] < len(groups[e]) - 1]
    for e in sorted(open_groups, key=lambda e: (counts[e] - share[e], tie[e]))[:max(0, wanted - sum(counts.values()))]:
        counts[e] += 1
    return {k for e, group in groups.items() for k in group[:counts[e]]}


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
    existing = [out / p for p in ("event", "frame", *ANNOTATION_FILES) if (out / p).exists()]
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
    database = {seq.info.name: {"subset": seq.split, "annotations": {
        "label": EMOTION_SPELLING[seq.info.emotion], "segment": [0, seq.info.length]}} for seq in sequences}
    annotations = {"labels": [EMOTION_SPELLING[e] for e in EMOTIONS], "database": database}
    (out / ANNOTATION_FILES[0]).write_text(json.dumps(annotations, indent=1) + "\n", encoding="utf-8")
    return {"sequences": len(sequences), "frames": sum(seq.info.length for seq in sequences),
            "training": sum(s.split == "training" for s in sequences),
            "testing": sum(s.split == "testing" for s in sequences)}
