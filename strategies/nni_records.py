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


def _decode_params(data: Any) -> tuple[str | None, dict]:
    """NNI's hyper-parameter record of a trial -> (parameter id, parameters); HPO: the parameter dict,
    NAS: the model's sample."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return None, {}
    parameter_id = None
    if isinstance(data, dict) and "parameters" in data:
        parameter_id = data.get("parameter_id")
        data = data["parameters"]
    if isinstance(data, dict) and isinstance(data.get("sample"), dict):
        data = data["sample"]
    if not isinstance(data, dict):
        return None, {}
    params = {key: value for key, value in data.items() if isinstance(value, (str, int, float, bool)) or value is None}
    return (None if parameter_id is None else str(parameter_id)), params


def _pair(trials: list[TrialRecord], by_parameter_id: dict[str, dict], reported: dict[str, str | None]) -> None:
    """Give each result the parameters it was computed with: those of the parameter id the trial sent
    with its final metric. NNI 3.0's local training service sometimes hands two trials that start
    together each other's parameters; its records (and web UI) then pair each of them with the other's
    parameters, while the metric carries the id of the parameters the trial really ran (which is also
    what a tuner is told). A trial without a result whose recorded parameters another trial turned out
    to have run gets that trial's recorded ones: the two were swapped."""
    recorded = {trial.trial_id: trial.params for trial in trials}
    freed = {}  # id() of parameters another trial ran -> the parameters that trial was recorded with
    for trial in trials:
        parameter_id = reported.get(trial.trial_id)
        if parameter_id is not None and parameter_id in by_parameter_id:
            ran = by_parameter_id[parameter_id]
            if ran is not trial.params:
                freed[id(ran)] = trial.params
            trial.params = ran
    for trial in trials:
        if trial.trial_id not in reported and id(recorded[trial.trial_id]) in freed:
            trial.params = freed[id(recorded[trial.trial_id])]


def trials_from_rest(port: int, timeout: float = 10.0) -> list[TrialRecord]:
    """Every trial of the experiment served by the NNI manager on ``127.0.0.1:port``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs", timeout=timeout) as response:
        jobs = json.loads(response.read())
    trials, by_parameter_id, reported = [], {}, {}
    for job in jobs:
        finals = [m for m in job.get("finalMetricData") or [] if m.get("type", "FINAL") == "FINAL"]
        hyper = job.get("hyperParameters") or []
        parameter_id, params = _decode_params(hyper[-1]) if hyper else (None, {})
        if parameter_id is not None:
            by_parameter_id[parameter_id] = params
        trial = TrialRecord(
            sequence=int(job.get("sequenceId", len(trials))),
            trial_id=job.get("trialJobId", ""),
            status=job.get("status", ""),
            params=params,
            metrics=decode_metric(finals[-1]["data"]) if finals else None,
        )
        if finals and finals[-1].get("parameterId") is not None:
            reported[trial.trial_id] = str(finals[-1]["parameterId"])
        trials.append(trial)
    _pair(trials, by_parameter_id, reported)
    return sorted(trials, key=lambda t: t.sequence)


def _read_database(database: Path) -> tuple[list[tuple], list[tuple]]:
    """The trial events (ID, event, data, sequence number) and final metrics (ID, parameter id, data) of an
    experiment's database (:func:`database_path`, opened read-only), oldest first."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        events = connection.execute(
            "SELECT trialJobId, event, data, sequenceId FROM TrialJobEvent ORDER BY timestamp").fetchall()
        finals = connection.execute(
            "SELECT trialJobId, parameterId, data FROM MetricData WHERE type = 'FINAL' ORDER BY timestamp").fetchall()
    except sqlite3.DatabaseError as broken:
        raise RecordsError(f"{database} is not a readable NNI database: {broken}") from broken
    finally:
        connection.close()
    return events, finals


def parameters_each_result_ran(database: Path) -> dict[str, dict]:
    """Trial ID -> the parameters its final result was computed with, exactly as the tuner proposed them:
    those of the parameter id the trial sent with its result, which NNI's own pairing may not be (see
    :func:`_pair`)."""
    events, finals = _read_database(database)
    proposed = {}
    for _, _, data, _ in events:
        try:
            record = json.loads(data) if data else None
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("parameters"), dict) and "parameter_id" in record:
            proposed[str(record["parameter_id"])] = record["parameters"]
    return {trial_id: proposed[str(parameter_id)] for trial_id, parameter_id, _ in finals
            if parameter_id is not None and str(parameter_id) in proposed}


def trials_from_database(database: Path) -> list[TrialRecord]:
    """Every trial recorded in an experiment's database (:func:`database_path`, opened read-only)."""
    events, finals = _read_database(database)
    trials: dict[str, TrialRecord] = {}
    by_parameter_id, reported = {}, {}
    for trial_id, event, data, sequence in events:
        trial = trials.setdefault(trial_id, TrialRecord(-1, trial_id, "", {}, None))
        trial.status = event
        if sequence is not None and sequence >= 0:
            trial.sequence = int(sequence)
        if data and not trial.params:
            parameter_id, trial.params = _decode_params(data)
            if parameter_id is not None:
                by_parameter_id[parameter_id] = trial.params
    for trial_id, parameter_id, data in finals:
        if trial_id in trials:
            trials[trial_id].metrics = decode_metric(data)
            reported[trial_id] = None if parameter_id is None else str(parameter_id)
    _pair(list(trials.values()), by_parameter_id, reported)
    return sorted(trials.values(), key=lambda t: t.sequence)


def read_trials(database: Path) -> list[TrialRecord]:
    """Every trial NNI recorded so far (none while its database does not exist yet)."""
    return trials_from_database(database) if database.is_file() else []
