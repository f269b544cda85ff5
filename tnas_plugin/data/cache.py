"""Decoded-frame cache, so that repeated trials of a search do not decode the JPEGs again.

One ``.npy`` file (uint8, (T, H, W)) per sequence, modality and resolution under
``<directory>/<modality>/<HxW|native>/<seq>-<key>.npy``. The key hashes the resolution and every source
file's absolute path, size and modification time, so any change to a source JPEG gives a new key: the
sequence is decoded again and the stale file removed. Files are written atomically (temporary file +
``os.replace``), so concurrent trials can share one cache.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import SEEDataError
from .jpeg import read_frames


def source_key(files: Sequence[Path], size: tuple[int, int] | None) -> str:
    """Hash of the resolution and each file's absolute path, size and mtime (ns)."""
    entries = []
    for path in files:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise SEEDataError(path, "missing JPEG") from None
        entries.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    payload = json.dumps({"size": size, "files": entries}).encode()
    return hashlib.sha1(payload).hexdigest()[:20]


class FrameCache:
    """Decoded sequences on disk, loaded memory-mapped."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def load(self, files: Sequence[Path], size: tuple[int, int] | None, modality: str, name: str) -> np.ndarray:
        """The (T, H, W) uint8 frames of ``files``: from the cache if its key matches, else decoded and stored."""
        folder = self.directory / modality / ("native" if size is None else f"{size[0]}x{size[1]}")
        target = folder / f"{name}-{source_key(files, size)}.npy"
        if target.exists():
            try:
                return np.load(target, mmap_mode="r")
            except (OSError, ValueError):
                pass  # a damaged cache file is simply rebuilt
        frames = read_frames(files, size)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{target.name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            np.save(handle, frames)
        os.replace(tmp, target)
        for stale in folder.glob(f"{glob.escape(name)}-*.npy"):
            if stale != target:
                stale.unlink(missing_ok=True)
        return np.load(target, mmap_mode="r")
