"""Checking a whole SEE tree before any work: what ``tnas-er data check`` runs, and what ``search``,
``train`` and ``evaluate`` run first (docs/ARCHITECTURE.md, "Reliability").

Every sequence of both subsets is checked in every modality folder asked for: the index checks
(:func:`tnas_plugin.data.index.build_index`: names, labels, folders, frame numbering, segments), each
frame decoded into the frame cache at the resolution the job will read (missing, corrupt and mixed-size
JPEGs), and event frames of the same stored size as the intensity frames. A job that only reads
event frames still has its intensity frames checked when the search space can pick them, so a bad
file never surfaces after hours of searching.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from PIL import Image
from tqdm import tqdm

from .cache import FrameCache, default_cache_dir
from .errors import SEEDataError, SEEDataNote
from .index import MODALITY_FOLDERS, SPLITS, SequenceRecord, build_index


@dataclass
class TreeCheck:
    """The usable sequences of each subset, every problem found and every tolerance noted (each listed once)."""

    root: Path
    sequences: dict[str, list[SequenceRecord]] = field(default_factory=dict)
    problems: list[SEEDataError] = field(default_factory=list)
    notes: list[SEEDataNote] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad_sequences(self) -> list[str]:
        """Names of the sequences dropped because of a problem (tree-level problems name none)."""
        return sorted({p.sequence for p in self.problems if p.sequence})


def check_tree(root: str | Path, folders: Iterable[str] = MODALITY_FOLDERS, size: tuple[int, int] | None = None,
               cache_dir: str | Path | None = None, progress: bool = False,
               annotations: str | Path | None = None) -> TreeCheck:
    """Check every sequence of ``root`` in ``folders``, decoding its frames at ``size`` into the cache.

    Raises ``SEEDataError`` when there is nothing to check (no or an unreadable annotation file, a
    missing modality folder); every other problem is collected in ``problems``, every tolerance in ``notes``.
    """
    root, folders = Path(root), tuple(folders)
    cache = FrameCache(default_cache_dir(root) if cache_dir is None else cache_dir)
    result = TreeCheck(root)
    seen: set[str] = set()

    def report(problem: SEEDataError) -> None:
        if str(problem) not in seen:  # tree-level problems are found once per subset
            seen.add(str(problem))
            result.problems.append(problem)

    for split in SPLITS:
        index = build_index(root, split, folders, annotations=annotations)
        for problem in index.problems:
            report(problem)
        for note in index.notes:
            if str(note) not in seen:
                seen.add(str(note))
                result.notes.append(note)
        records = index.records
        good = []
        for record in tqdm(records, desc=f"checking {split}", disable=not progress):
            try:
                for folder in folders:
                    cache.load(record.files[folder], size, folder, record.info.name)
                _check_same_size(record, folders)
            except SEEDataError as problem:
                problem.sequence = record.info.name
                report(problem)
                continue
            good.append(record)
        if not good:
            report(SEEDataError(root, f"no usable {split!r} sequences"))
        result.sequences[split] = good
    return result


def _check_same_size(record: SequenceRecord, folders: tuple[str, ...]) -> None:
    """Event and intensity frames of one sequence must be stored at one size (read from the JPEG headers)."""
    sizes = {}
    for folder in folders:
        first = record.files[folder][0]
        try:
            with Image.open(first) as image:
                sizes[folder] = (image.height, image.width)
        except OSError as exc:
            raise SEEDataError(first, f"corrupt JPEG ({exc})") from None
    if len(set(sizes.values())) > 1:
        raise SEEDataError(record.files[folders[-1]][0].parent,
                           f"intensity frames and event frames differ in size: {sizes}", record.info.name)
