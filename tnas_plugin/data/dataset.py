"""``SEEDataset``: SEE-layout sequences as a torch Dataset of Ex-Sy clips (Zhang et al., SIGGRAPH 2023).

A clip "Ex-Sy" is x frames with y frames skipped between consecutive ones (stride y + 1), taken from the
sequence's annotated segment; a sequence shorter than the clip's span is padded by repeating its
frames cyclically, as the SEEN code does. Training draws a random start per item; evaluation uses a
fixed, seeded set of ``eval_starts`` start points per sequence (the SEE protocol uses 20 and averages),
each one a separate item, so plain accuracy over the items is that average.

SEE ships a training and a testing subset only. The ``"validation"`` split is carved from the training
subset the way the test split was carved (:func:`tnas_plugin.data.split.validation_sequences`: takes within
subjects for SEE's official split, whole subjects for a split by subject), ``"training"`` leaves it out, and
``"training+validation"`` is the whole training subset (for the final retraining once every choice is made).
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, get_worker_info
from tqdm import tqdm

from .cache import FrameCache, default_cache_dir
from .errors import SEEDataError, SEEDataNote
from .index import SequenceRecord, build_index
from .split import VALIDATION_FRACTION, validation_sequences

MODALITIES = {"event": ("event",), "frame": ("frame",), "both": ("event", "frame")}
EVENT_FORMATS = ("polarity", "grey")
DATASET_SPLITS = ("training", "validation", "training+validation", "testing")


def channels_per_frame(modality: str, event_format: str = "polarity") -> int:
    """Channels of one clip frame: 2 for polarity event frames (ON, OFF), else 1 per folder."""
    return sum(2 if folder == "event" and event_format == "polarity" else 1 for folder in MODALITIES[modality])


# Event frames store "no event" as grey 128; JPEG ringing moves it by up to ~10 levels, one event by ~40+.
# The polarity format maps |grey - 128| <= 16 to exactly 0, so an empty pixel gives no input spike.
EVENT_DEADBAND = 16 / 128


class SEEDataset(Dataset):
    """Clips of a SEE-layout tree, items ``(clip, label_index)``.

    ``clip`` is a float32 tensor of shape (T, C, H, W) with values in [0, 1]: T = ``clip_length``;
    (H, W) = ``size`` or the stored resolution; C = 2 for event frames with ``event_format="polarity"``
    (ON and OFF channels, 0 = no event: event JPEGs store 128 for "no event", and levels within
    ``EVENT_DEADBAND`` of it, i.e. JPEG ringing, also read as 0), 1 with ``"grey"`` (the stored level),
    1 for intensity frames; ``modality="both"`` stacks the event channels, then the intensity channel.
    ``label_index`` indexes ``classes``: the annotation file's ``labels`` order when it has that list, else
    ``EMOTIONS`` (canonical emotion names either way, so metrics stay readable).

    ``sampling`` is ``"random"`` (one item per sequence, a random start each time, from a generator
    seeded with ``seed``; in DataLoader workers torch's per-worker seed is used instead) or ``"fixed"``
    (``eval_starts`` items per sequence, one after the other, with start points drawn in turn from a generator
    seeded by ``seed`` and the sequence name, so a sequence's first ``n`` start points do not depend on
    ``eval_starts`` >= ``n``). The
    default is ``"random"`` for the training splits and ``"fixed"`` otherwise. ``split`` is ``"training"``,
    ``"validation"``, ``"training+validation"`` or ``"testing"``: validation holds the training sequences that
    :func:`tnas_plugin.data.split.validation_sequences` picks with ``validation_fraction``,
    ``validation_seed`` and ``validation_split``, training the others (``validation_fraction=0``: all of
    them), and ``testing`` is exactly the annotation file's test subset. ``subjects`` further keeps only
    those subject IDs. What the SEE authors' loader tolerates is accepted and listed in ``notes``. Decoded frames are cached under
    ``cache_dir`` (default ``<root>/.cache``, or a user cache folder when the data folder is read-only). ``on_error="raise"`` raises the first ``SEEDataError``;
    ``"skip"`` drops bad sequences and lists the errors in ``skipped``.

    Parameters
    ----------
    root
        The SEE-layout tree to read (the real data set or one written by :func:`tnas_plugin.data.synthesize`).
    split
        ``"training"``, ``"validation"`` or ``"testing"``.
    modality
        ``"event"``, ``"frame"`` (intensity) or ``"both"``.
    size
        ``(H, W)`` the frames are resized to; ``None`` keeps the stored resolution.
    clip_length
        Frames per clip, ``T``.
    skip
        Ex-Sy protocol: frames skipped between two frames of a clip.
    sampling
        ``"random"`` or ``"fixed"`` start points; ``None`` picks by ``split`` (see above).
    eval_starts
        Items (fixed start points) per sequence with ``sampling="fixed"``.
    seed
        Seed of the start points.
    subjects
        Subject IDs to keep; ``None`` keeps every subject of the split.
    validation_fraction, validation_seed, validation_split
        Share of the training sequences held out for validation, the seed that picks them, and how:
        ``"take"`` (within subjects), ``"subject"`` (whole subjects) or ``"auto"`` (as the test split was carved).
    annotations
        The annotation file (a path, or a name inside ``root``); default ``emotion.json`` or
        ``emotion_new_adjust2.json``, whichever is present.
    event_format
        ``"polarity"`` (ON/OFF channels) or ``"grey"`` (the stored level) for event frames.
    transform
        Applied to each clip before it is returned (e.g. stacking frames as channels).
    cache_dir
        Folder of the decoded-frame cache (see above for the default).
    on_error
        ``"raise"`` or ``"skip"`` on a bad sequence.
    progress
        Show a tqdm bar while the sequences are indexed and loaded.

    Example
    -------
    >>> train = SEEDataset("data/synthetic-see", "training", "event", size=(32, 32))  # doctest: +SKIP
    >>> clip, label = train[0]  # doctest: +SKIP
    >>> clip.shape  # doctest: +SKIP
    torch.Size([4, 2, 32, 32])
    """

    def __init__(self, root: str | Path, split: str = "training", modality: str = "event", *,
                 size: tuple[int, int] | None = None, clip_length: int = 4, skip: int = 3,
                 sampling: str | None = None, eval_starts: int = 20, seed: int = 0,
                 subjects: Iterable[str] | None = None, validation_fraction: float = VALIDATION_FRACTION,
                 validation_seed: int = 0, validation_split: str = "auto", annotations: str | Path | None = None,
                 event_format: str = "polarity",
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 cache_dir: str | Path | None = None, on_error: str = "raise", progress: bool = False):
        if split not in DATASET_SPLITS:
            raise ValueError(f"split must be one of {DATASET_SPLITS}, got {split!r}")
        if split == "validation" and validation_fraction == 0:
            raise ValueError("the validation split needs validation_fraction > 0")
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {tuple(MODALITIES)}, got {modality!r}")
        if event_format not in EVENT_FORMATS:
            raise ValueError(f"event_format must be one of {EVENT_FORMATS}, got {event_format!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        sampling = sampling or ("random" if split.startswith("training") else "fixed")
        if sampling not in ("random", "fixed"):
            raise ValueError(f"sampling must be 'random' or 'fixed', got {sampling!r}")
        if clip_length < 1 or skip < 0 or eval_starts < 1:
            raise ValueError("need clip_length >= 1, skip >= 0 and eval_starts >= 1")
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"size must be (height, width), got {size!r}")

        self.root = Path(root)
        self.split, self.modality, self.sampling = split, modality, sampling
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.clip_length, self.skip, self.eval_starts, self.seed = clip_length, skip, eval_starts, seed
        self.event_format, self.transform, self.on_error = event_format, transform, on_error
        self.skipped: list[SEEDataError] = []
        self._folders = MODALITIES[modality]
        self._generator = torch.Generator().manual_seed(seed)

        index = build_index(self.root, "testing" if split == "testing" else "training", self._folders, subjects, annotations)
        self.classes: list[str] = list(index.classes)
        self.notes: list[SEEDataNote] = index.notes
        records = index.records
        if split in ("training", "validation"):
            held_out = validation_sequences(self.root, validation_fraction, validation_seed, validation_split, annotations)
            records = [replace(r, split=split) for r in records if (r.info.name in held_out) == (split == "validation")]
        for problem in index.problems:
            self._report(problem)
        cache = FrameCache(default_cache_dir(self.root) if cache_dir is None else cache_dir)
        self.sequences: list[SequenceRecord] = []
        self._arrays: list[list[np.ndarray]] = []
        for record in tqdm(records, desc=f"loading {split}", disable=not progress):
            try:
                arrays = [cache.load(record.files[f], self.size, f, record.info.name) for f in self._folders]
                if len({a.shape[1:] for a in arrays}) > 1:
                    raise SEEDataError(record.files["frame"][0].parent,
                                       "intensity frames and event frames differ in size", record.info.name)
            except SEEDataError as exc:
                exc.sequence = record.info.name
                self._report(exc)
                continue
            self.sequences.append(record)
            self._arrays.append(arrays)
        if not self.sequences:
            raise SEEDataError(self.root, f"no usable {split!r} sequences"
                               + (f" ({len(self.skipped)} skipped)" if self.skipped else ""))
        self._items = [(k, start) for k, record in enumerate(self.sequences) for start in self._starts(record)]
        self.targets: list[int] = [self.classes.index(self.sequences[k].info.emotion) for k, _ in self._items]

    def _report(self, problem: SEEDataError) -> None:
        if self.on_error == "raise":
            raise problem
        self.skipped.append(problem)

    def _start_range(self, record: SequenceRecord) -> tuple[int, int]:
        """Lowest and highest start point whose clip fits in the segment (the lowest if none fits)."""
        span = (self.clip_length - 1) * (self.skip + 1) + 1
        first, end = record.segment
        return first, max(first, end - span)

    def _starts(self, record: SequenceRecord) -> list[int | None]:
        if self.sampling == "random":
            return [None]
        low, high = self._start_range(record)
        rng = np.random.default_rng([self.seed, zlib.crc32(record.info.name.encode())])
        return [int(s) for s in rng.integers(low, high + 1, size=self.eval_starts)]

    def frame_indices(self, sequence: int, start: int) -> np.ndarray:
        """Frame indices of the Ex-Sy clip of ``sequences[sequence]`` starting at ``start``."""
        end = self.sequences[sequence].segment[1]
        return np.resize(np.arange(start, end, self.skip + 1)[:self.clip_length], self.clip_length)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        k, start = self._items[index]
        if start is None:
            low, high = self._start_range(self.sequences[k])
            generator = None if get_worker_info() is not None else self._generator
            start = int(torch.randint(low, high + 1, (1,), generator=generator))
        indices = self.frame_indices(k, start)
        channels = []
        for folder, frames in zip(self._folders, self._arrays[k]):
            grey = torch.from_numpy(frames[indices].astype(np.float32) / 255.0)
            if folder == "event" and self.event_format == "polarity":
                signed = 2 * grey - 1
                channels += [((signed - EVENT_DEADBAND) / (1 - EVENT_DEADBAND)).clamp_(min=0),
                             ((-signed - EVENT_DEADBAND) / (1 - EVENT_DEADBAND)).clamp_(min=0)]
            else:
                channels.append(grey)
        clip = torch.stack(channels, dim=1)
        if self.transform is not None:
            clip = self.transform(clip)
        return clip, self.targets[index]

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        """(T, C, H, W) of every clip (before ``transform``)."""
        return (self.clip_length, channels_per_frame(self.modality, self.event_format), *self._arrays[0][0].shape[1:])

    @property
    def subjects(self) -> list[str]:
        """Subject IDs present, sorted."""
        return sorted({record.info.subject for record in self.sequences})

    def metadata(self, index: int) -> dict:
        """Item ``index``'s sequence fields (name, subject, sex, age, degree, lighting, emotion, length,
        take, ...), its split, label index and start frame (None when drawn at random)."""
        k, start = self._items[index]
        record = self.sequences[k]
        return {**asdict(record.info), "split": record.split, "label": self.targets[index], "start": start}

    def to_frame(self) -> pd.DataFrame:
        """One row of ``metadata`` per item."""
        return pd.DataFrame([self.metadata(i) for i in range(len(self))])
