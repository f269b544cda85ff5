"""Reading a SEE tree: ``emotion.json`` plus the ``event/`` and ``frame/`` folders, checked sequence by sequence.

Layout (docs/ARCHITECTURE.md, "Data"; Zhang et al., SIGGRAPH 2023)::

    <root>/emotion.json                     {"<seq>": {"subset": ..., "annotations": {"label": ..., "segment": [s, e]}}}
    <root>/event/<emotion>/<seq>/00000.jpg  accumulated event frames
    <root>/frame/<emotion>/<seq>/00000.jpg  intensity frames

Every problem becomes a ``SEEDataError`` naming the path at fault; ``build_index`` returns them next to the
good sequences so that the caller decides whether to raise or skip. A label is never guessed: the
label in ``emotion.json``, the emotion folder and the name's emotion field must agree.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import SEEDataError
from .jpeg import frame_name
from .naming import EMOTION_SPELLING, SequenceName, normalize_emotion

ANNOTATION_FILE = "emotion.json"
SPLITS = ("training", "testing")
MODALITY_FOLDERS = ("event", "frame")
JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclass(frozen=True)
class SequenceRecord:
    """One checked sequence: its parsed name, split, segment [start, end) and frame files per modality folder."""

    info: SequenceName
    split: str
    segment: tuple[int, int]
    files: dict[str, tuple[Path, ...]]


def read_annotations(root: Path) -> dict[str, dict]:
    """The entries of ``<root>/emotion.json`` by sequence name.

    Also accepts the ActivityNet-style ``{"labels": [...], "database": {...}}`` file of the SEEN code.
    """
    path = Path(root) / ANNOTATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SEEDataError(path, "emotion.json is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SEEDataError(path, f"unreadable emotion.json ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        data = data["database"]
    if not isinstance(data, dict) or not data:
        raise SEEDataError(path, "emotion.json must be a non-empty object mapping sequence names to entries")
    return data


def scan_tree(root: Path, modality: str) -> tuple[dict[str, list[tuple[str, Path]]], list[SEEDataError]]:
    """Sequence folders under ``<root>/<modality>/<emotion>/``: name -> [(canonical emotion, folder), ...]."""
    tree = Path(root) / modality
    if not tree.is_dir():
        raise SEEDataError(tree, f"the {modality}/ folder is missing")
    found: dict[str, list[tuple[str, Path]]] = {}
    problems = []
    for emotion_dir in sorted(p for p in tree.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            emotion = normalize_emotion(emotion_dir.name)
        except ValueError as exc:
            problems.append(SEEDataError(emotion_dir, f"emotion folder: {exc}"))
            continue
        for seq_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found.setdefault(seq_dir.name, []).append((emotion, seq_dir))
    return found, problems


def list_frames(seq_dir: Path) -> tuple[Path, ...]:
    """The JPEGs of one sequence folder in frame order; they must be numbered 0..n-1 without gaps."""
    frames: dict[int, Path] = {}
    for path in seq_dir.iterdir():
        if path.suffix.lower() in JPEG_SUFFIXES:
            if not path.stem.isdigit():
                raise SEEDataError(path, "JPEG name is not a frame number", seq_dir.name)
            frames[int(path.stem)] = path
    if not frames:
        raise SEEDataError(seq_dir, "empty sequence: no JPEG frames", seq_dir.name)
    for index in range(max(frames) + 1):
        if index not in frames:
            raise SEEDataError(seq_dir / frame_name(index), "missing JPEG (gap in the frame numbers)", seq_dir.name)
    return tuple(frames[i] for i in range(len(frames)))


def _check_entry(root: Path, name: str, entry: dict, trees: dict, split: str) -> SequenceRecord:
    """Validate one ``emotion.json`` entry against its name and folders; raise ``SEEDataError`` on any problem."""
    json_path = root / ANNOTATION_FILE

    def fail(path: Path, problem: str) -> SEEDataError:
        return SEEDataError(path, problem, name)

    try:
        info = SequenceName.parse(name)
    except ValueError as exc:
        raise fail(json_path, str(exc)) from None
    annotations = entry.get("annotations")
    if not isinstance(annotations, dict) or "label" not in annotations:
        raise fail(json_path, f"entry {name!r} has no annotations.label")
    raw_label = annotations["label"]
    try:
        label = normalize_emotion(raw_label)
    except ValueError as exc:
        raise fail(json_path, f"entry {name!r}: {exc}") from None
    if label != info.emotion:
        raise fail(json_path, f"label {raw_label!r} in emotion.json disagrees with the name's emotion field")

    files = {}
    for modality, found in trees.items():
        hits = found.get(name)
        if not hits:
            raise fail(root / modality / EMOTION_SPELLING[label] / name,
                       "sequence listed in emotion.json but its folder is missing")
        if len(hits) > 1:
            raise fail(hits[1][1], "sequence folder appears under several emotion folders: "
                       + ", ".join(str(p) for _, p in hits))
        emotion, seq_dir = hits[0]
        if emotion != label:
            raise fail(seq_dir, f"emotion folder {seq_dir.parent.name!r} disagrees with label {raw_label!r} in emotion.json")
        files[modality] = list_frames(seq_dir)

    counts = {modality: len(f) for modality, f in files.items()}
    if len(set(counts.values())) > 1:
        shortest = min(counts, key=counts.get)
        raise fail(files[shortest][0].parent, f"event/frame count mismatch: {counts}")
    count = next(iter(counts.values()))
    if count != info.length:
        folder = next(iter(files.values()))[0].parent
        kind = "missing JPEG" if count < info.length else "extra JPEG"
        raise fail(folder / frame_name(min(count, info.length)),
                   f"{kind}: the folder has {count} frames but the name says {info.length}")

    segment = annotations.get("segment", [0, count])
    if (not isinstance(segment, (list, tuple)) or len(segment) != 2
            or not all(isinstance(v, int) for v in segment) or not 0 <= segment[0] < segment[1] <= count):
        raise fail(json_path, f"entry {name!r}: segment {segment!r} is not [start, end) within its {count} frames")
    return SequenceRecord(info=info, split=split, segment=(segment[0], segment[1]), files=files)


def build_index(root: str | Path, split: str, modalities: Iterable[str] = MODALITY_FOLDERS,
                subjects: Iterable[str] | None = None) -> tuple[list[SequenceRecord], list[SEEDataError]]:
    """Checked sequences of ``split`` (ordered by sequence number) and every problem found.

    Problems with the tree itself (unknown emotion folders, folders without an entry, entries with an
    unknown subset) are reported whatever the split. A missing or unreadable ``emotion.json`` or a
    missing modality folder raises at once: there is nothing to skip to.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    annotations = read_annotations(root)
    problems: list[SEEDataError] = []
    trees = {}
    for modality in modalities:
        trees[modality], tree_problems = scan_tree(root, modality)
        problems += tree_problems
    for found in trees.values():
        for name, hits in found.items():
            if name not in annotations:
                problems += [SEEDataError(path, "sequence folder has no entry in emotion.json", name) for _, path in hits]

    wanted = None if subjects is None else {str(s) for s in subjects}
    records = []
    for name, entry in annotations.items():
        subset = entry.get("subset") if isinstance(entry, dict) else None
        if subset not in SPLITS:
            problems.append(SEEDataError(root / ANNOTATION_FILE, f"entry {name!r}: subset {subset!r} is not "
                                         "'training' or 'testing'", name))
            continue
        if subset != split:
            continue
        try:
            record = _check_entry(root, name, entry, trees, split)
        except SEEDataError as exc:
            problems.append(exc)
            continue
        if wanted is None or record.info.subject in wanted:
            records.append(record)
    records.sort(key=lambda r: (r.info.number, r.info.name))
    return records, problems
