"""NNI's records of an experiment, read the one way every command reads them, and ``"module:function"`` references.

* :func:`database_path`: where NNI's manager keeps an experiment's trials, ``<experiment folder>/db/nni.sqlite``
  (tables ``TrialJobEvent`` and ``MetricData``).
* :class:`TrialRecord`, :func:`trials_from_database`, :func:`read_trials` and, while the manager runs,
  :func:`trials_from_rest` (``/api/v1/nni/trial-jobs`` on the loopback address): every trial's sequence
  number, ID, status, parameters and final metric dict, for ``tnas-er front``, the search's trial log and
  the experiment runner alike.
* :func:`load_object`: the object a ``"package.module:name"`` reference names (the tuner's ``canonical``,
  the trial's ``--evaluator``).

Plain Python: no NNI import, so the nnictl tuner and trial processes stay light.
"""
from __future__ import annotations

import importlib
import json
import sqlite3
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tnas_plugin.errors import InputError


class RecordsError(InputError):
    """NNI's database of an experiment exists but cannot be read."""


def database_path(experiment_folder: Path) -> Path:
    """NNI's database of the experiment whose folder (``<working directory>/<experiment ID>``) is given."""
    return Path(experiment_folder) / "db" / "nni.sqlite"


def load_object(spec: str):
    """``"package.module:name"`` -> the object."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"expected 'module:name', got {spec!r}")
    return getattr(importlib.import_module(module_name), name)


@dataclass
class TrialRecord:
    """One NNI trial: NNI's sequence number and ID, its status, parameters and final metric dict (or None)."""

    sequence: int
    trial_id: str
    status: str
    params: dict
    metrics: dict | None


def decode_metric(data: Any) -> dict | None:
    """NNI stores a final metric as JSON text of the JSON text the trial reported: undo both; a number is
    ``{"default": number}``."""
    for _ in range(3):
        if not isinstance(data, str):
            break
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return None
    if isinstance(data, bool):
        return None
    if isinstance(data, (int, float)):
        return {"default": data}
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class _Issue:
    """Parameters NNI handed a trial: when (ms since the epoch), to which trial, under which parameter id;
    ``proposed`` as the tuner proposed them, ``params`` flattened for a :class:`TrialRecord`."""

    time: float
    trial_id: str
    parameter_id: str
    proposed: dict
    params: dict


def _issue(data: Any, time: float, trial_id: str) -> _Issue | None:
    """NNI's hyper-parameter record of a trial (``{"parameter_id", "parameters", ...}``) -> an :class:`_Issue`;
    HPO parameters are kept as they are, a NAS model's as its ``sample``."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("parameters"), dict) or data.get("parameter_id") is None:
        return None
    proposed = data["parameters"]
    flat = proposed["sample"] if isinstance(proposed.get("sample"), dict) else proposed
    params = {key: value for key, value in flat.items() if isinstance(value, (str, int, float, bool)) or value is None}
    return _Issue(float(time), trial_id, str(data["parameter_id"]), proposed, params)


def _issue_run(issues: list[_Issue], parameter_id: str, result_time: float) -> _Issue | None:
    """The parameters a result was computed with: the latest issue of the parameter id the trial reported
    that was made before the result. NNI numbers parameters afresh in each run of its dispatcher, so after
    a resume an id can name parameters of the earlier run too."""
    named = [issue for issue in issues if issue.parameter_id == parameter_id]
    before = [issue for issue in named if issue.time <= result_time]
    if before:
        return max(before, key=lambda issue: issue.time)
    return min(named, key=lambda issue: issue.time) if named else None


def _pair(trials: list[TrialRecord], issues: list[_Issue], reported: dict[str, tuple[str, float]]) -> dict[str, _Issue]:
    """Give each result the parameters it was computed with (:func:`_issue_run` of the parameter id the trial
    sent with its final metric) and return them by trial ID. NNI 3.0's local training service sometimes
    hands two trials that start together each other's parameters; its records (and web UI) then pair each
    of them with the other's parameters, while the metric carries the id of the parameters the trial really
    ran (which is also what a tuner is told). A trial without a result whose recorded parameters another
    trial turned out to have run gets that trial's recorded ones: the two were swapped."""
    recorded = {trial.trial_id: trial.params for trial in trials}
    ran, swapped_with = {}, {}
    for trial in trials:
        if trial.trial_id in reported:
            issue = _issue_run(issues, *reported[trial.trial_id])
            if issue is not None:
                ran[trial.trial_id] = issue
                trial.params = issue.params
                if issue.trial_id != trial.trial_id:
                    swapped_with[issue.trial_id] = recorded[trial.trial_id]
    for trial in trials:
        if trial.trial_id not in reported and trial.trial_id in swapped_with:
            trial.params = swapped_with[trial.trial_id]
    return ran


def trials_from_rest(port: int, timeout: float = 10.0) -> list[TrialRecord]:
    """Every trial of the experiment served by the NNI manager on ``127.0.0.1:port``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs", timeout=timeout) as response:
        jobs = json.loads(response.read())
    trials, issues, reported = [], [], {}
    for job in jobs:
        finals = [m for m in job.get("finalMetricData") or [] if m.get("type", "FINAL") == "FINAL"]
        hyper = job.get("hyperParameters") or []
        trial_id = job.get("trialJobId", "")
        issue = _issue(hyper[-1], job.get("startTime") or 0, trial_id) if hyper else None
        if issue is not None:
            issues.append(issue)
        trials.append(TrialRecord(
            sequence=int(job.get("sequenceId", len(trials))),
            trial_id=trial_id,
            status=job.get("status", ""),
            params=issue.params if issue else {},
            metrics=decode_metric(finals[-1]["data"]) if finals else None,
        ))
        if finals and finals[-1].get("parameterId") is not None:
            reported[trial_id] = (str(finals[-1]["parameterId"]), float(finals[-1].get("timestamp") or 0))
    _pair(trials, issues, reported)
    return sorted(trials, key=lambda t: t.sequence)


def _read_database(database: Path) -> tuple[list[TrialRecord], list[_Issue], dict[str, tuple[str, float]]]:
    """An experiment's database (:func:`database_path`, opened read-only) -> its trials as NNI recorded them,
    the parameters it issued, and each result's reported parameter id and time."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        events = connection.execute(
            "SELECT trialJobId, event, data, sequenceId, timestamp FROM TrialJobEvent ORDER BY timestamp").fetchall()
        finals = connection.execute("SELECT trialJobId, parameterId, data, timestamp FROM MetricData "
                                    "WHERE type = 'FINAL' ORDER BY timestamp").fetchall()
    except sqlite3.DatabaseError as broken:
        raise RecordsError(f"{database} is not a readable NNI database: {broken}") from broken
    finally:
        connection.close()
    trials: dict[str, TrialRecord] = {}
    issues, reported = {}, {}
    for trial_id, event, data, sequence, time in events:
        trial = trials.setdefault(trial_id, TrialRecord(-1, trial_id, "", {}, None))
        trial.status = event
        if sequence is not None and sequence >= 0:
            trial.sequence = int(sequence)
        issue = _issue(data, time, trial_id) if data and trial_id not in issues else None
        if issue is not None:
            issues[trial_id] = issue
            trial.params = issue.params
    for trial_id, parameter_id, data, time in finals:
        if trial_id in trials:
            trials[trial_id].metrics = decode_metric(data)
            if parameter_id is not None:
                reported[trial_id] = (str(parameter_id), float(time))
    return list(trials.values()), list(issues.values()), reported


def trials_from_database(database: Path) -> list[TrialRecord]:
    """Every trial recorded in an experiment's database (:func:`database_path`, opened read-only)."""
    trials, issues, reported = _read_database(database)
    _pair(trials, issues, reported)
    return sorted(trials, key=lambda t: t.sequence)


def parameters_each_result_ran(database: Path) -> dict[str, dict]:
    """Trial ID -> the parameters its final result was computed with, exactly as the tuner proposed them
    (which NNI's own pairing may not be: see :func:`_pair`)."""
    trials, issues, reported = _read_database(database)
    return {trial_id: issue.proposed for trial_id, issue in _pair(trials, issues, reported).items()}


def read_trials(database: Path) -> list[TrialRecord]:
    """Every trial NNI recorded so far (none while its database does not exist yet)."""
    return trials_from_database(database) if database.is_file() else []


CANCELLED = ("USER_CANCELED", "SYS_CANCELED")  # NNI's final statuses of a trial it stopped


def cancelled_without_result(database: Path) -> int:
    """Trials NNI cancelled before they reported a final result: its manager counts them against
    ``max_trial_number`` on resume yet never runs them again (docs/ARCHITECTURE.md, "What NNI 3.0 does on
    resume", *Trial budget*)."""
    return sum(trial.status in CANCELLED and trial.metrics is None for trial in read_trials(database))
