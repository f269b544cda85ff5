"""Reading a SEE tree: the annotation file plus the event and intensity folders, checked sequence by sequence.

Both layouts the SEE authors ship are read as they are (docs/ARCHITECTURE.md, "Data"; Zhang et al.,
SIGGRAPH 2023)::

    documented:         <root>/event/<label>/<seq>/00000.jpg    <root>/frame/...   <root>/emotion.json
    the authors' code:  <root>/event_30/<label>/<seq>/00000.jpg <root>/frame/...   <root>/emotion_new_adjust2.json

The annotation file is ``{"labels": [...], "database": {"<seq>": {"subset": ..., "annotations":
{"label": ..., "segment": [s, e]}}}}`` (a flat ``{"<seq>": entry}`` object is read too). A class index is
the position of its emotion in ``labels`` when the file has that list, else in ``EMOTIONS``.

What the authors' loader tolerates is accepted and named as a ``SEEDataNote``: frames numbered from 1, a
segment that runs past the frames present (frames missing at the end), one modality shorter than the
other at the end, a sequence folder without an entry (ignored) and an entry whose folder is missing
(skipped). Real damage is a ``SEEDataError`` naming the path at fault: a gap inside a sequence, a label
that is no emotion or disagrees with the name, a sequence under several emotion folders, a bad segment
or subset. ``build_index`` returns both next to the good sequences, so the caller decides what to raise.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import SEEDataError, SEEDataNote
from .jpeg import frame_name
from .naming import EMOTIONS, SequenceName, normalize_emotion

ANNOTATION_FILES = ("emotion.json", "emotion_new_adjust2.json")  # documented name, then the authors' code's
MODALITY_FOLDERS = ("event", "frame")
FOLDER_NAMES = {"event": ("event", "event_30"), "frame": ("frame",)}  # per modality, in the order looked for
SPLITS = ("training", "testing")
JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclass(frozen=True)
class SequenceRecord:
    """One checked sequence: its parsed name, split, segment [start, end) and frame files per modality."""

    info: SequenceName
    split: str
    segment: tuple[int, int]
    files: dict[str, tuple[Path, ...]]


@dataclass(frozen=True)
class Annotations:
    """An annotation file: its entries by sequence name and the class order (canonical emotions)."""

    path: Path
    entries: dict[str, dict]
    classes: tuple[str, ...]


@dataclass(frozen=True)
class SEEIndex:
    """The checked sequences of one split, every problem (real damage) and every note (tolerated)."""

    records: list[SequenceRecord]
    problems: list[SEEDataError] = field(default_factory=list)
    notes: list[SEEDataNote] = field(default_factory=list)
    classes: tuple[str, ...] = EMOTIONS


def annotation_path(root: str | Path, annotations: str | Path | None = None) -> Path:
    """The annotation file of ``root``: ``annotations`` if given (a path, or a name inside ``root``), else the
    first of ``ANNOTATION_FILES`` present. ``SEEDataError`` listing what was looked for when there is none."""
    root = Path(root)
    if annotations is not None:
        given = Path(annotations)
        path = given if given.is_absolute() or given.exists() else root / given
        if not path.is_file():
            raise SEEDataError(path, "annotation file is missing")
        return path
    for name in ANNOTATION_FILES:
        if (root / name).is_file():
            return root / name
    raise SEEDataError(root, f"no annotation file: looked for {' and '.join(ANNOTATION_FILES)} "
                       "(pass --annotations FILE for another name)")


def has_annotations(root: str | Path, annotations: str | Path | None = None) -> bool:
    """Whether ``root`` holds an annotation file (see :func:`annotation_path`)."""
    try:
        annotation_path(root, annotations)
    except SEEDataError:
        return False
    return True


def modality_folder(root: str | Path, modality: str) -> Path:
    """``<root>/event`` or ``<root>/event_30`` (the first present), ``<root>/frame``; ``SEEDataError`` if none."""
    names = FOLDER_NAMES[modality]
    for name in names:
        if (Path(root) / name).is_dir():
            return Path(root) / name
    raise SEEDataError(Path(root) / names[0], f"the {' or '.join(n + '/' for n in names)} folder is missing")


def read_annotations(root: str | Path, annotations: str | Path | None = None) -> Annotations:
    """The entries and class order of ``root``'s annotation file (:func:`annotation_path`)."""
    path = annotation_path(root, annotations)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SEEDataError(path, f"unreadable annotation file ({exc})") from None
    classes = EMOTIONS
    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        if "labels" in data:
            classes = _classes(path, data["labels"])
        data = data["database"]
    if not isinstance(data, dict) or not data:
        raise SEEDataError(path, "the annotation file must be a non-empty object mapping sequence names to entries")
    return Annotations(path, data, classes)


def _classes(path: Path, labels) -> tuple[str, ...]:
    """The canonical emotions of a ``labels`` list, in its order; it must name each of the 7 emotions once."""
    try:
        classes = tuple(normalize_emotion(label) for label in labels)
    except (TypeError, ValueError) as exc:
        raise SEEDataError(path, f"labels: {exc}") from None
    if sorted(classes) != sorted(EMOTIONS):
        raise SEEDataError(path, f"labels {list(labels)!r} must name each of the 7 emotions once")
    return classes


def scan_tree(folder: Path) -> tuple[dict[str, list[tuple[str, Path]]], list[SEEDataNote]]:
    """Sequence folders under ``<folder>/<emotion>/``: name -> [(canonical emotion, folder), ...], and a note
    for each folder that is not an emotion's (ignored, as the authors' loader never looks there)."""
    found: dict[str, list[tuple[str, Path]]] = {}
    notes = []
    for emotion_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            emotion = normalize_emotion(emotion_dir.name)
        except ValueError:
            notes.append(SEEDataNote(emotion_dir, "ignored: not an emotion folder"))
            continue
        for seq_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found.setdefault(seq_dir.name, []).append((emotion, seq_dir))
    return found, notes


def list_frames(seq_dir: Path) -> tuple[tuple[Path, ...], list[SEEDataNote]]:
    """The JPEGs of one sequence folder in frame order, numbered from 0 (or from 1, noted) without gaps."""
    frames: dict[int, Path] = {}
    for path in seq_dir.iterdir():
        if path.suffix.lower() in JPEG_SUFFIXES:
            if not path.stem.isdigit():
                raise SEEDataError(path, "JPEG name is not a frame number", seq_dir.name)
            frames[int(path.stem)] = path
    if not frames:
        raise SEEDataError(seq_dir, "empty sequence: no JPEG frames", seq_dir.name)
    first = min(frames)
    if first > 1:
        raise SEEDataError(seq_dir / frame_name(0), f"missing JPEG (frames start at {frame_name(first)}; "
                           "expected 00000.jpg or 00001.jpg)", seq_dir.name)
    for index in range(first, max(frames) + 1):
        if index not in frames:
            raise SEEDataError(seq_dir / frame_name(index), "missing JPEG (gap in the frame numbers)", seq_dir.name)
    notes = [SEEDataNote(seq_dir, "frames numbered from 1: read as frames 0..n-1", seq_dir.name)] if first == 1 else []
    return tuple(frames[i] for i in range(first, first + len(frames))), notes


def _check_entry(annotations: Annotations, name: str, entry: dict, trees: dict,
                 split: str) -> tuple[SequenceRecord | None, list[SEEDataNote]]:
    """One entry checked against its name and folders: its record and notes (record ``None``: skipped, as
    the notes say); ``SEEDataError`` on real damage."""
    def fail(path: Path, problem: str) -> SEEDataError:
        return SEEDataError(path, problem, name)

    try:
        info = SequenceName.parse(name)
    except ValueError as exc:
        raise fail(annotations.path, str(exc)) from None
    entry_annotations = entry.get("annotations")
    if not isinstance(entry_annotations, dict) or "label" not in entry_annotations:
        raise fail(annotations.path, f"entry {name!r} has no annotations.label")
    raw_label = entry_annotations["label"]
    try:
        label = normalize_emotion(raw_label)
    except ValueError as exc:
        raise fail(annotations.path, f"entry {name!r}: {exc}") from None
    if label != info.emotion:
        raise fail(annotations.path, f"label {raw_label!r} disagrees with the name's emotion field")

    files, notes = {}, []
    for modality, (folder, found) in trees.items():
        hits = found.get(name)
        if not hits:
            return None, [SEEDataNote(folder / str(raw_label) / name,
                                      f"skipped: listed in {annotations.path.name} but its folder is missing", name)]
        if len(hits) > 1:
            raise fail(hits[1][1], "sequence folder appears under several emotion folders: "
                       + ", ".join(str(p) for _, p in hits))
        emotion, seq_dir = hits[0]
        if emotion != label:
            raise fail(seq_dir, f"emotion folder {seq_dir.parent.name!r} disagrees with label {raw_label!r}")
        files[modality], frame_notes = list_frames(seq_dir)
        notes += frame_notes

    counts = {modality: len(f) for modality, f in files.items()}
    count = min(counts.values())
    segment = entry_annotations.get("segment", [0, info.length])
    if (not isinstance(segment, (list, tuple)) or len(segment) != 2 or not all(isinstance(v, int) for v in segment)
            or not 0 <= segment[0] < segment[1] or segment[0] >= count):
        raise fail(annotations.path, f"entry {name!r}: segment {segment!r} is not [start, end) starting within "
                   f"its {count} frames")
    shortest = files[min(counts, key=counts.get)][0].parent
    if segment[1] > count and max(counts.values()) >= segment[1]:
        notes.append(SEEDataNote(shortest, f"{shortest.parts[-3]}/ ends {segment[1] - count} frame(s) early "
                                 f"({counts}): segment {list(segment)} cut to [{segment[0]}, {count}]", name))
    elif segment[1] > count:
        notes.append(SEEDataNote(shortest, f"{segment[1] - count} frame(s) missing at the end of segment "
                                 f"{list(segment)}: using [{segment[0]}, {count}]", name))
    elif len(set(counts.values())) > 1:
        longest = files[max(counts, key=counts.get)][0].parent
        notes.append(SEEDataNote(longest, f"{max(counts.values()) - count} frame(s) more than the other modality "
                                 f"({counts}): not used", name))
    files = {modality: f[:count] for modality, f in files.items()}
    record = SequenceRecord(info=info, split=split, segment=(segment[0], min(segment[1], count)), files=files)
    return record, notes


def build_index(root: str | Path, split: str, modalities: Iterable[str] = MODALITY_FOLDERS,
                subjects: Iterable[str] | None = None, annotations: str | Path | None = None) -> SEEIndex:
    """Checked sequences of ``split`` (ordered by sequence number), every problem and every note.

    Tree-level findings (folders that are no emotion's, folders without an entry, entries with an unknown
    subset) are reported whatever the split. A missing or unreadable annotation file or a missing
    modality folder raises at once: there is nothing to skip to.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    annotation_file = read_annotations(root, annotations)
    problems: list[SEEDataError] = []
    notes: list[SEEDataNote] = []
    trees = {}
    for modality in modalities:
        folder = modality_folder(root, modality)
        found, tree_notes = scan_tree(folder)
        trees[modality] = (folder, found)
        notes += tree_notes
        notes += [SEEDataNote(path, f"ignored: no entry in {annotation_file.path.name}", name)
                  for name, hits in found.items() if name not in annotation_file.entries for _, path in hits]

    wanted = None if subjects is None else {str(s) for s in subjects}
    records = []
    for name, entry in annotation_file.entries.items():
        subset = entry.get("subset") if isinstance(entry, dict) else None
        if subset not in SPLITS:
            problems.append(SEEDataError(annotation_file.path, f"entry {name!r}: subset {subset!r} is not "
                                         "'training' or 'testing'", name))
            continue
        if subset != split:
            continue
        try:
            record, entry_notes = _check_entry(annotation_file, name, entry, trees, split)
        except SEEDataError as exc:
            problems.append(exc)
            continue
        notes += entry_notes
        if record is not None and (wanted is None or record.info.subject in wanted):
            records.append(record)
    records.sort(key=lambda r: (r.info.number, r.info.name))
    return SEEIndex(records, problems, notes, annotation_file.classes)
