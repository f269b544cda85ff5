"""Decoded-frame cache, so that repeated trials of a search do not decode the JPEGs again.

One ``.npy`` file (uint8, (T, H, W)) per sequence, modality and resolution under
``<directory>/<modality>/<HxW|native>/<seq>-<key>.npy``. The key hashes the resolution and every source
file's absolute path, size and modification time, so any change to a source JPEG gives a new key: the
sequence is decoded again and the stale file removed. Files are written atomically
(:func:`tnas_plugin.atomic.atomic_file`), so concurrent trials can share one cache.

The default directory is ``<root>/.cache``; when the data folder is not writable (a read-only mount, a
shared data set) it is a folder of its own per data set under the user cache folder
(:func:`default_cache_dir`).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from tnas_plugin.atomic import atomic_file

from .errors import SEEDataError
from .jpeg import read_frames


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/tnas-er`` (``~/.cache/tnas-er`` when unset): where caches of read-only data go."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tnas-er"


def default_cache_dir(root: str | Path) -> Path:
    """``<root>/.cache`` if it can be written, else ``<user cache>/frames/<name>-<hash of root's path>``."""
    root = Path(root)
    local = root / ".cache"
    if os.access(local if local.is_dir() else root, os.W_OK):
        return local
    absolute = os.path.abspath(root)
    return user_cache_root() / "frames" / f"{root.name}-{hashlib.sha1(absolute.encode()).hexdigest()[:12]}"


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
        with atomic_file(target, "wb") as handle:
            np.save(handle, frames)
        for stale in folder.glob(f"{glob.escape(name)}-*.npy"):
            if stale != target:
                stale.unlink(missing_ok=True)
        return np.load(target, mmap_mode="r")
