"""Clips decoded once per search, read by every trial (docs/ARCHITECTURE.md, "Trial overhead").

All trials of a search read the same few data sets, one per modality, clip length and split. Building one
(:class:`~tnas_plugin.data.SEEDataset`) lists the tree, checks every sequence, hashes every source JPEG's
path, size and time and opens one cached array per sequence: about a second per trial. A clip store holds
them built once, before the trials start:

* ``frames.npy``: every decoded sequence the data sets use, one after the other (uint8, ``(T, H, W)``),
  read memory-mapped;
* ``<modality>-<frames>f-<resolution>px-<split>.pkl``: each data set, pickled with its frame arrays
  replaced by their rows of ``frames.npy``;
* ``store.json``: the format version, the settings the data sets were built with and their files.

:func:`load_dataset` returns the stored data set, equal item for item to a freshly built one, or ``None``
when the store has none for that candidate (or the folder is absent, e.g. on a remote machine): the caller
then builds it as usual. A store built with other data settings is refused with the field that differs.
:func:`preload_store` loads them all ahead, in a process that forks the trials (a warm trial pool).
"""
from __future__ import annotations

import io
import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from tnas_plugin.candidate import CandidateSpec
from tnas_plugin.data import SEEDataset

STORE_VERSION = 1
MANIFEST = "store.json"
FRAMES = "frames.npy"

#: Data sets loaded ahead by :func:`preload_store`, by (store folder, file name); each is handed out once.
_PRELOADED: dict[tuple[str, str], SEEDataset] = {}


@dataclass(frozen=True)
class DatasetKey:
    """What a candidate's data set depends on besides the search-wide settings."""

    modality: str
    frames: int
    resolution: int
    split: str

    @classmethod
    def of(cls, spec: CandidateSpec, split: str) -> "DatasetKey":
        return cls(spec.modality, spec.frames, spec.resolution, split)

    @property
    def file_name(self) -> str:
        return f"{self.modality}-{self.frames}f-{self.resolution}px-{self.split}.pkl"


class _StorePickler(pickle.Pickler):
    """Pickles a data set with each memory-mapped frame array replaced by its row range in ``frames.npy``."""

    def __init__(self, file, rows: dict[str, tuple[int, int]], arrays: list[np.ndarray]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.rows, self.arrays = rows, arrays

    def persistent_id(self, obj):
        if not isinstance(obj, np.memmap) or obj.filename is None:
            return None
        if obj.filename not in self.rows:
            start = sum(len(array) for array in self.arrays)
            self.rows[obj.filename] = (start, start + len(obj))
            self.arrays.append(obj)
        return self.rows[obj.filename]


class _StoreUnpickler(pickle.Unpickler):
    def __init__(self, file, frames: np.ndarray):
        super().__init__(file)
        self.frames = frames

    def persistent_load(self, rows):
        start, stop = rows
        return self.frames[start:stop]


def write_clip_store(directory: str | Path, settings: Mapping, specs: Iterable[CandidateSpec], splits: Iterable[str],
                     build: Callable[[CandidateSpec, str], SEEDataset]) -> Path:
    """Build the data set of every distinct (modality, frames, resolution) of ``specs`` for each of ``splits``
    with ``build(spec, split)`` and store them in ``directory`` (replaced if present); returns it.

    ``settings`` are the JSON values the data sets were built with besides the key (data folder, skip,
    start points, seeds, ...); :func:`load_dataset` refuses the store for other ones.
    """
    directory = Path(directory)
    keys = {DatasetKey.of(spec, split): spec for spec in specs for split in splits}
    rows: dict[str, tuple[int, int]] = {}
    arrays: list[np.ndarray] = []
    pickles = {}
    for key, spec in keys.items():
        buffer = io.BytesIO()
        _StorePickler(buffer, rows, arrays).dump(build(spec, key.split))
        pickles[key.file_name] = buffer.getvalue()
    if len({(array.shape[1:], array.dtype) for array in arrays}) > 1:
        raise ValueError(f"{directory}: a clip store holds frames of one size and type, got "
                         f"{sorted({(array.shape[1:], str(array.dtype)) for array in arrays})}")
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    shape = (sum(len(array) for array in arrays), *(arrays[0].shape[1:] if arrays else (0, 0)))
    frames = np.lib.format.open_memmap(directory / FRAMES, mode="w+", dtype=arrays[0].dtype if arrays else np.uint8,
                                       shape=shape)
    for array, (start, stop) in zip(arrays, rows.values()):
        frames[start:stop] = array
    frames.flush()
    del frames
    for name, payload in pickles.items():
        (directory / name).write_bytes(payload)
    manifest = {"version": STORE_VERSION, "settings": dict(settings), "datasets": sorted(pickles)}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def _manifest(directory: Path) -> dict | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("version") != STORE_VERSION:
        raise ValueError(f"{path}: clip store version {manifest.get('version')!r}, expected {STORE_VERSION}")
    return manifest


def _unpickle(directory: Path, name: str, frames: np.ndarray) -> SEEDataset:
    with open(directory / name, "rb") as handle:
        return _StoreUnpickler(handle, frames).load()


def preload_store(directory: str | Path) -> int:
    """Load every data set of the store into this process ahead of :func:`load_dataset` (a warm trial pool does,
    so that the trials it forks find them in memory); each is handed out once. Returns how many."""
    directory = Path(directory).resolve()
    manifest = _manifest(directory)
    if manifest is None:
        raise ValueError(f"{directory}: not a clip store ({MANIFEST} missing)")
    frames = np.load(directory / FRAMES, mmap_mode="r")
    for name in manifest["datasets"]:
        _PRELOADED[(str(directory), name)] = _unpickle(directory, name, frames)
    return len(manifest["datasets"])


def load_dataset(directory: str | Path, settings: Mapping, spec: CandidateSpec, split: str) -> SEEDataset | None:
    """The stored data set of ``spec``'s ``split``, or ``None`` if ``directory`` does not exist or holds none for
    it; ``ValueError`` naming the field if the store was built with other ``settings``."""
    directory = Path(directory).resolve()
    manifest = _manifest(directory)
    if manifest is None:
        return None
    stored = manifest["settings"]
    for field in sorted(set(stored) | set(settings)):
        if stored.get(field) != settings.get(field):
            raise ValueError(f"{directory / MANIFEST}: the clip store was built with {field}={stored.get(field)!r}, "
                             f"this measurement uses {settings.get(field)!r}")
    name = DatasetKey.of(spec, split).file_name
    if name not in manifest["datasets"]:
        return None
    preloaded = _PRELOADED.pop((str(directory), name), None)
    return preloaded if preloaded is not None else _unpickle(directory, name, np.load(directory / FRAMES, mmap_mode="r"))
