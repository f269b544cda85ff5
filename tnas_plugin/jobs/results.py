"""Results folders that are never half old, half new (docs/ARCHITECTURE.md, "Reliability").

A run writes into ``<out>.partial/`` and, once everything is written, moves that folder to ``<out>``
(two renames on one file system). An existing, non-empty ``<out>`` is only replaced with
``overwrite=True``; a stopped run stays in ``<out>.partial/`` — its finished trials in ``trials.csv``,
its search state next to them — until ``tnas-er search --resume`` continues it or ``--overwrite``
discards it. Every path is checked here, before any training starts.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tnas_plugin.atomic import write_atomic
from tnas_plugin.errors import InputError, UsageError

PARTIAL_SUFFIX = ".partial"
RUN_FILE = "search-run.json"  # the stopped run's options, NNI experiment ID and progress


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def _is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write a probe file in it; ``InputError`` naming it otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f"{folder}: cannot write here ({error.strerror or error})") from None


@dataclass
class ResultsFolder:
    """``out``: where the finished run goes; ``work``: where it is written meanwhile."""

    out: Path

    @property
    def work(self) -> Path:
        return partial_of(self.out)

    @property
    def run_file(self) -> Path:
        return self.work / RUN_FILE

    @classmethod
    def create(cls, out: Path, overwrite: bool = False) -> "ResultsFolder":
        """A fresh working folder for a new run into ``out``; refuses to touch an earlier run unless ``overwrite``."""
        folder = cls(Path(out))
        if folder.out.exists() and not folder.out.is_dir():
            raise InputError(f"{folder.out}: exists and is not a folder")
        if not overwrite:
            if _is_nonempty_dir(folder.out):
                raise UsageError(f"{folder.out} already holds results; pass --overwrite to replace them "
                                 "or choose another --out")
            if folder.work.exists():
                raise UsageError(f"{folder.work} holds a stopped run; continue it with --resume {folder.out} "
                                 "or pass --overwrite to discard it")
        if folder.work.exists():
            shutil.rmtree(folder.work)
        check_writable(folder.out.parent)
        check_writable(folder.work)
        if folder.out.exists():
            check_writable(folder.out)  # the finished run must be able to replace it
        return folder

    @classmethod
    def of(cls, path: Path) -> "ResultsFolder":
        """The folder of ``--out path`` or of ``--resume path`` (``path`` may also be a ``.partial`` folder itself)."""
        path = Path(path)
        if path.name.endswith(PARTIAL_SUFFIX) and (path / RUN_FILE).is_file():
            return cls(path.with_name(path.name[:-len(PARTIAL_SUFFIX)]))
        return cls(path)

    @classmethod
    def stopped(cls, path: Path) -> "ResultsFolder":
        """The stopped run written for ``--out path`` (``path`` may also be its ``.partial`` folder itself)."""
        folder = cls.of(path)
        if not folder.run_file.is_file():
            if (path / "report.md").is_file():
                raise UsageError(f"{path}: this run finished; there is nothing to resume")
            raise InputError(f"{folder.run_file}: no stopped search to resume here")
        check_writable(folder.work)
        return folder

    def read_run(self) -> dict:
        try:
            return json.loads(self.run_file.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"{self.run_file}: unreadable ({error})") from None

    def write_run(self, state: dict) -> None:
        write_atomic(self.run_file, json.dumps(state, indent=2) + "\n")

    def discard(self) -> None:
        """Remove the working folder (a run refused or stopped before its search started)."""
        shutil.rmtree(self.work, ignore_errors=True)

    def publish(self) -> Path:
        """Move the finished run to ``out`` (replacing an earlier one: it was allowed by ``create``)."""
        self.run_file.unlink(missing_ok=True)
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.replaced-{os.getpid()}")
            os.replace(self.out, old)
        os.replace(self.work, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out
