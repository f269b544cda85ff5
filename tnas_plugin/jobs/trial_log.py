"""What happened to each NNI trial of a search, read from the experiment's own records.

NNI's manager keeps every trial's events in its database (read by
:func:`tnas_plugin.strategies.nni_records.read_trials`) and the trial's stderr in
``<experiment>/environments/<environment>/trials/<trial ID>/trial.stderr``. :class:`TrialMonitor`
follows them while the search runs and prints one line per trial that starts, ends or fails — a
failure with its one-line reason (the exception's last line) — and :func:`trial_columns` adds the NNI
trial ID and that reason to ``trials.csv``.
"""
from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Callable

import pandas as pd

from tnas_plugin.strategies.nni_records import RecordsError, TrialRecord, read_trials

from .signals import say

#: NNI statuses a trial ends with.
FINAL_STATUSES = ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)?(: .*)?$")


def failure_reason(stderr: Path) -> str:
    """The exception line that ended a trial (the last line of its last traceback), else its last line."""
    try:
        lines = [line.rstrip() for line in stderr.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return f"failed (no {stderr.name})"
    traceback = max((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")),
                    default=None)
    if traceback is not None:
        for line in reversed(lines[traceback + 1:]):
            if not line[0].isspace() and _EXCEPTION_LINE.match(line):
                return line
    return lines[-1] if lines else f"failed without a message (see {stderr})"


def trial_reason(database: Path, trial: TrialRecord) -> str:
    """Why ``trial`` did not succeed, in one line ("" when it did); its log is in the experiment folder."""
    if trial.status == "SUCCEEDED":
        return ""
    if trial.status != "FAILED":
        return trial.status.lower().replace("_", " ")
    logs = sorted(database.parent.parent.glob(f"environments/*/trials/{trial.trial_id}/trial.stderr"))
    return failure_reason(logs[0]) if logs else "failed (no trial log)"


def _params_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def trial_columns(table: pd.DataFrame, database: Path, param_names: list[str]) -> pd.DataFrame:
    """``table`` (one row per strategy record, with the parameter columns) plus ``nni_trial`` and ``reason``.

    A candidate proposed twice (re-proposed after a stop) is matched to its last NNI trial.
    """
    by_params = {_params_key(t.params): t for t in read_trials(database)}  # later trials overwrite earlier ones
    ids, reasons = [], []
    for _, row in table.iterrows():
        trial = by_params.get(_params_key({name: _plain(row[name]) for name in param_names if name in row}))
        ids.append(trial.trial_id if trial else "")
        failed = row.get("status") == "failed"
        reasons.append((trial_reason(database, trial) if trial else "no NNI trial (refused by the search space)")
                       if failed else "")
    return table.assign(nni_trial=ids, reason=reasons)


def _plain(value):
    return value.item() if hasattr(value, "item") else value


class TrialMonitor:
    """Prints one line per trial event of a running experiment; calls ``on_end`` after each trial ends."""

    def __init__(self, database: Path, on_end: Callable[[], None] | None = None, interval: float = 1.0):
        self.database, self.on_end, self.interval = database, on_end, interval
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tnas-trial-monitor", daemon=True)

    def __enter__(self) -> "TrialMonitor":
        with contextlib.suppress(RecordsError, sqlite3.Error, OSError):  # a resumed experiment: only news are printed
            self._seen = {trial.trial_id: trial.status for trial in read_trials(self.database)}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(RecordsError, sqlite3.Error, OSError):
                self.poll()

    def poll(self) -> None:
        ended = False
        for trial in read_trials(self.database):
            if self._seen.get(trial.trial_id) == trial.status:
                continue
            self._seen[trial.trial_id] = trial.status
            label = f"trial {trial.sequence} ({trial.trial_id})"
            if trial.status == "RUNNING":
                say(f"{label} running: {json.dumps(trial.params, sort_keys=True)}")
            elif trial.status == "SUCCEEDED":
                final = trial.metrics or {}
                scores = ", ".join(f"{key} {final[key]:.3f}" for key in ("war", "uar") if isinstance(final.get(key), float))
                say(f"{label} done{': ' + scores if scores else ''}")
            elif trial.status in FINAL_STATUSES:
                say(f"{label} {trial.status.lower()}: {trial_reason(self.database, trial)}")
            ended |= trial.status in FINAL_STATUSES
        if ended and self.on_end is not None:
            self.on_end()
