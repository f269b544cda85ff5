"""Atomic file writes: a reader (another trial, a resumed run, a tuner reloading its state) only ever sees a
whole file, the previous one or the new one.

The content goes to a uniquely named temporary file next to the target (``tempfile.mkstemp``: concurrent
writers never share one), which ``os.replace`` then renames over the target (atomic on POSIX and Windows
within one file system); on any error the temporary file is removed and the target left as it was.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A stream (``mode`` ``"w"`` or ``"wb"``) whose content replaces ``path`` when the block ends without error.

    Example
    -------
    >>> import json
    >>> with atomic_file("state.json") as stream:  # doctest: +SKIP
    ...     json.dump({"done": 3}, stream)
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (:func:`atomic_file`)."""
    with atomic_file(path) as stream:
        stream.write(text)
