"""The validation split, carved from the training subset the way the test split was carved.

SEE's official split is within subjects, by take: every test subject also has training sequences
(docs/ARCHITECTURE.md, "Evaluation protocol"). Validation then holds out takes within each training
subject (``"take"``), stratified by emotion, so that it measures what the test measures (other takes of
the same people) and no subject, and so no lighting, disappears from training. A tree split by subject
(no test subject in training) holds out whole training subjects instead (``"subject"``). ``"auto"``
picks by the tree. Both are deterministic per seed.
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from .errors import SEEDataError
from .index import read_annotations
from .naming import SequenceName

VALIDATION_FRACTION = 0.2
VALIDATION_SPLITS = ("auto", "take", "subject")


def _names_by_subset(entries: dict[str, dict]) -> dict[str, list[SequenceName]]:
    subsets: dict[str, list[SequenceName]] = defaultdict(list)
    for name, entry in sorted(entries.items()):
        if isinstance(entry, dict) and entry.get("subset") in ("training", "testing"):
            with contextlib.suppress(ValueError):  # a bad name is reported by build_index, not here
                subsets[entry["subset"]].append(SequenceName.parse(name))
    return subsets


def split_protocol(root: str | Path, annotations: str | Path | None = None) -> str:
    """``"take"`` when a test subject also has training sequences (SEE's official split), else ``"subject"``."""
    return _protocol(_names_by_subset(read_annotations(root, annotations).entries))


def _protocol(subsets: dict[str, list[SequenceName]]) -> str:
    training = {info.subject for info in subsets["training"]}
    return "take" if any(info.subject in training for info in subsets["testing"]) else "subject"


def validation_sequences(root: str | Path, fraction: float = VALIDATION_FRACTION, seed: int = 0, mode: str = "auto",
                         annotations: str | Path | None = None) -> set[str]:
    """Names of the training sequences held out for validation (``fraction=0``: none).

    ``mode="take"``: for each emotion, up to ``round(fraction * n)`` of its ``n`` training sequences, taken one
    take at a time from (subject, emotion) groups visited in a seeded order, a group giving a take only while
    it keeps another in training (a subject is never validated on an emotion it was not trained on, which
    the test split, too, never asks). ``SEEDataError`` when no group has two takes.
    ``mode="subject"``: every sequence of ``round(fraction * n)`` of the ``n`` training subjects (at least 1,
    at most ``n - 1``). ``"auto"``: :func:`split_protocol`.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction!r}")
    if mode not in VALIDATION_SPLITS:
        raise ValueError(f"validation_split must be one of {VALIDATION_SPLITS}, got {mode!r}")
    if fraction == 0:
        return set()
    annotation_file = read_annotations(root, annotations)
    subsets = _names_by_subset(annotation_file.entries)
    if mode == "auto":
        mode = _protocol(subsets)
    training = subsets["training"]
    rng = np.random.default_rng(seed)
    if mode == "subject":
        subjects = sorted({info.subject for info in training})
        if len(subjects) < 2:
            raise SEEDataError(annotation_file.path, f"{len(subjects)} training subject(s): need at least 2 to hold "
                               "out validation subjects (use --validation-split take)")
        count = min(len(subjects) - 1, max(1, round(fraction * len(subjects))))
        held_out = set(rng.permutation(subjects)[:count].tolist())
        return {info.name for info in training if info.subject in held_out}
    held_out = _held_out_takes(training, fraction, rng)
    if not held_out:
        raise SEEDataError(annotation_file.path, "no subject has two training takes of one emotion to hold one out "
                           "for validation (use --validation-split subject)")
    return held_out


def _held_out_takes(training: list[SequenceName], fraction: float, rng: np.random.Generator) -> set[str]:
    """Takes held out within subjects, emotion by emotion (see :func:`validation_sequences`)."""
    held_out: set[str] = set()
    for emotion in sorted({info.emotion for info in training}):
        groups: dict[str, list[SequenceName]] = defaultdict(list)
        for info in training:
            if info.emotion == emotion:
                groups[info.subject].append(info)
        target = round(fraction * sum(len(group) for group in groups.values()))
        order = [groups[s] for s in rng.permutation(sorted(groups)).tolist()]
        queues = [[group[k] for k in rng.permutation(len(group))] for group in order]
        while target > 0 and any(len(queue) > 1 for queue in queues):
            for queue in queues:
                if target > 0 and len(queue) > 1:  # the group keeps a take in training
                    held_out.add(queue.pop().name)
                    target -= 1
    return held_out
