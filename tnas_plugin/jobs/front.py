"""``tnas-er front EXPERIMENT_ID --objectives KEY:max,KEY:min``: the Pareto front of any NNI experiment.

It reads NNI's own records, so it works for every experiment whose trials report a metric dict, whatever
tuner or strategy ran it (``nnictl`` HPO experiments and ``NasExperiment``\\ s alike):

* while the experiment's manager runs: its REST API on the loopback address
  (``/api/v1/nni/trial-jobs``: parameters, status and final metric of every trial);
* afterwards: the experiment folder's database, ``<experiment folder>/db/nni.sqlite`` (tables
  ``TrialJobEvent`` and ``MetricData``), found through nnictl's experiment registry
  (``$NNI_CONFIG_DIR/.experiment``), else ``~/nni-experiments/ID``, else ``--experiment-dir``.

It prints the front as a table and writes into ``--out`` (default ``front-ID``): ``front.csv`` (the
non-dominated trials, best first by the first objective), ``front.png`` (all results and the front; for
three or more objectives one panel per pair), ``hypervolume.csv`` / ``hypervolume.png`` (hypervolume of
the front of the first N trials against N, NNI's trial sequence). Objectives are maximised or
minimised as given; a trial whose metric lacks one of them, or that failed, is left out. The
hypervolume (``moocore.hypervolume``) is measured from ``--reference-point`` (one value per objective,
in the metrics' own units), by default the worst value of each objective over all results moved
outwards by 10% of its range.
"""
from __future__ import annotations

import argparse
import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tnas_plugin.pareto import hypervolume, non_dominated

if TYPE_CHECKING:  # tnas-er --help never loads NNI: the records module (an NNI adapter) is imported when used
    from tnas_plugin.strategies.nni_records import TrialRecord

from tnas_plugin.errors import InputError, UsageError

EPILOG = """examples:
  tnas-er front AbCd1234 --objectives accuracy:max,n_nodes:min
  tnas-er front AbCd1234 --objectives war:max,uar:max,synops:min --reference-point 0.14,0.14,2e6 --out results/front
  tnas-er front AbCd1234 --objectives accuracy:max,fit_seconds:min --experiment-dir ~/nni-experiments/AbCd1234
"""


class FrontError(InputError):
    """The experiment or its records cannot be found or read, or hold no usable result (exit status 1)."""


# ----------------------------------------------------------------------------------------------------
# Finding the experiment's records


def _registry_entry(experiment_id: str) -> dict | None:
    """nnictl's record of the experiment (port, status, logDir), if it has one."""
    try:
        from nni.tools.nnictl.config_utils import Experiments

        return Experiments().get_all_experiments().get(experiment_id)
    except Exception:  # noqa: BLE001 - a broken or missing registry only means: look elsewhere
        return None


def _serving_port(experiment_id: str, port: int | None) -> int | None:
    """The port of a running manager that serves this experiment (checked by asking it), else None."""
    if port is None:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/experiment", timeout=5) as response:
            served = json.loads(response.read()).get("id")
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return port if served == experiment_id else None


def load_trials(experiment_id: str, *, experiment_dir: Path | None = None, port: int | None = None) -> tuple[list[TrialRecord], str]:
    """The experiment's trials and where they were read (``"REST :port"`` or the database path)."""
    from tnas_plugin.strategies.nni_records import database_path, trials_from_database, trials_from_rest

    entry = _registry_entry(experiment_id) or {}
    if experiment_dir is None:
        live = _serving_port(experiment_id, port if port is not None else entry.get("port"))
        if live is not None:
            return trials_from_rest(live), f"REST API of the running manager on 127.0.0.1:{live}"
    candidates = []
    if experiment_dir is not None:
        candidates.append(Path(experiment_dir).expanduser())
    if entry.get("logDir"):
        candidates.append(Path(entry["logDir"]).expanduser() / experiment_id)
    candidates.append(Path.home() / "nni-experiments" / experiment_id)
    for folder in candidates:
        database = database_path(folder)
        if database.is_file():
            return trials_from_database(database), str(database)
    raise FrontError(f"experiment {experiment_id!r}: no running manager answers for it and no database in "
                     + ", ".join(str(database_path(c)) for c in candidates)
                     + " (pass --experiment-dir with the experiment folder, or --port of its manager)")


# ----------------------------------------------------------------------------------------------------
# Front and hypervolume


def parse_objectives(text: str) -> dict[str, str]:
    """``"acc:max,size:min"`` -> ``{"acc": "max", "size": "min"}``."""
    objectives = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, direction = item.rpartition(":")
        if not key or direction not in ("max", "min"):
            raise argparse.ArgumentTypeError(f"objective {item!r} must be KEY:max or KEY:min")
        if key in objectives:
            raise argparse.ArgumentTypeError(f"objective {key!r} is given twice")
        objectives[key] = direction
    if not objectives:
        raise argparse.ArgumentTypeError("give at least one objective, e.g. accuracy:max,latency:min")
    return objectives


def parse_reference(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"reference point {text!r} must be numbers separated by commas") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"reference point {text!r} must be finite")
    return values


def _usable(trial: TrialRecord, objectives: dict[str, str]) -> bool:
    metrics = trial.metrics
    return metrics is not None and all(
        isinstance(metrics.get(key), (int, float)) and not isinstance(metrics.get(key), bool)
        and math.isfinite(metrics[key]) for key in objectives)


def _minimised(trial: TrialRecord, objectives: dict[str, str]) -> list[float]:
    return [-trial.metrics[key] if direction == "max" else trial.metrics[key] for key, direction in objectives.items()]


def default_reference(points: list[list[float]]) -> list[float]:
    """Worst value per (minimised) objective moved outwards by 10% of its range (of its size if every
    result has the same value; by 1 if that value is 0)."""
    reference = []
    for column in zip(*points):
        worst, spread = max(column), max(column) - min(column)
        reference.append(worst + 0.1 * (spread or abs(worst)) if spread or worst else 1.0)
    return reference


@dataclass
class FrontResult:
    objectives: dict[str, str]
    trials: list[TrialRecord]  # usable results, in NNI's sequence order
    front: list[TrialRecord]  # non-dominated, best first by the first objective
    reference: list[float]  # in the metrics' own units
    hypervolume: list[tuple[int, int, float]]  # (trial sequence, results so far, hypervolume)
    source: str


def compute_front(trials: list[TrialRecord], objectives: dict[str, str], reference: list[float] | None = None,
                  source: str = "") -> FrontResult:
    usable = [t for t in trials if _usable(t, objectives)]
    if not usable:
        raise FrontError(f"no trial has a final metric with every objective key {list(objectives)} "
                         f"({len(trials)} trial(s) read from {source or 'the records'})")
    points = [_minimised(t, objectives) for t in usable]
    if reference is None:
        minimised_reference = default_reference(points)
    else:
        if len(reference) != len(objectives):
            raise UsageError(f"--reference-point has {len(reference)} value(s) for {len(objectives)} objective(s)")
        minimised_reference = [-r if d == "max" else r for r, d in zip(reference, objectives.values())]
    front = sorted((usable[i] for i in non_dominated(points)), key=lambda t: _minimised(t, objectives))
    curve, seen = [], []
    for trial, point in zip(usable, points):
        seen.append(point)
        curve.append((trial.sequence, len(seen), hypervolume(seen, minimised_reference)))
    user_reference = [-r if d == "max" else r for r, d in zip(minimised_reference, objectives.values())]
    return FrontResult(objectives, usable, front, user_reference, curve, source)


# ----------------------------------------------------------------------------------------------------
# Output


def front_table(result: FrontResult):
    import pandas as pd

    rows = []
    for trial in result.front:
        row = {"trial": trial.sequence, "trial_id": trial.trial_id}
        row.update({key: trial.metrics[key] for key in result.objectives})
        row.update({f"param:{key}": value for key, value in trial.params.items()})
        row.update({f"metric:{key}": value for key, value in trial.metrics.items()
                    if key not in result.objectives and isinstance(value, (int, float, str, bool))})
        rows.append(row)
    return pd.DataFrame(rows)


def write_outputs(result: FrontResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "front.csv", out / "hypervolume.csv", out / "front.png", out / "hypervolume.png"]
    front_table(result).to_csv(written[0], index=False)
    pd.DataFrame(result.hypervolume, columns=["trial", "results", "hypervolume"]).to_csv(written[1], index=False)

    keys = list(result.objectives)
    label = {key: f"{key} ({result.objectives[key]})" for key in keys}
    pairs = [(keys[0], keys[0])] if len(keys) == 1 else [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
    columns = min(3, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    front_ids = {t.trial_id for t in result.front}
    for ax, (a, b) in zip(axes.flat, pairs):
        ax.scatter([t.metrics[a] for t in result.trials], [t.metrics[b] for t in result.trials],
                   s=14, color="0.65", label=f"all results ({len(result.trials)})")
        shown = sorted((t for t in result.trials if t.trial_id in front_ids), key=lambda t: t.metrics[a])
        ax.plot([t.metrics[a] for t in shown], [t.metrics[b] for t in shown], "o-" if len(keys) == 2 else "o",
                color="tab:red", label=f"Pareto front ({len(shown)})")
        ax.set_xlabel(label[a])
        ax.set_ylabel(label[b])
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Pareto front of {len(keys)} objectives" + ("" if len(keys) == 2 else " (pairwise projections)"))
    fig.tight_layout()
    fig.savefig(written[2], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step([s for s, _, _ in result.hypervolume], [h for _, _, h in result.hypervolume], where="post")
    ax.set_xlabel("trial (NNI sequence number)")
    ax.set_ylabel("hypervolume of the front so far")
    ax.set_title("reference point " + ", ".join(f"{k}={r:g}" for k, r in zip(keys, result.reference)), fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(written[3], dpi=110)
    plt.close(fig)
    return written


def _run(args: argparse.Namespace) -> int:
    trials, source = load_trials(args.experiment_id, experiment_dir=args.experiment_dir, port=args.port)
    result = compute_front(trials, args.objectives, args.reference_point, source)
    out = args.out or Path(f"front-{args.experiment_id}")
    written = write_outputs(result, out)
    table = front_table(result)
    print(f"{len(trials)} trials read from {source}; {len(result.trials)} with every objective; "
          f"Pareto front of {len(result.front)}:")
    shown = table[[c for c in table.columns if c != "trial_id" and not c.startswith("metric:")]]  # all in front.csv
    print(shown.rename(columns=lambda c: c.removeprefix("param:")).to_string(index=False, max_colwidth=24))
    print(f"hypervolume {result.hypervolume[-1][2]:.6g} (reference point "
          + ", ".join(f"{k}={r:g}" for k, r in zip(result.objectives, result.reference)) + ")")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def register(subparsers) -> None:
    front = subparsers.add_parser(
        "front", help="Pareto front and hypervolume of any NNI experiment with dict metrics",
        description=__doc__.split("\n\n")[1], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    front.add_argument("experiment_id", metavar="EXPERIMENT_ID", help="NNI experiment ID (as nnictl and the web UI show it)")
    front.add_argument("--objectives", required=True, type=parse_objectives, metavar="KEY:max,KEY:min",
                       help="metric keys and their directions, comma-separated")
    front.add_argument("--reference-point", type=parse_reference, metavar="V1,V2,...",
                       help="hypervolume reference point, one value per objective in its own units "
                            "(default: the worst result per objective, 10%% of the range further out)")
    front.add_argument("--out", type=Path, help="output folder (default front-EXPERIMENT_ID)")
    front.add_argument("--experiment-dir", type=Path,
                       help="the experiment folder holding db/nni.sqlite (default: from nnictl's registry, "
                            "else ~/nni-experiments/EXPERIMENT_ID)")
    front.add_argument("--port", type=int, help="port of the experiment's running manager (default: from nnictl's registry)")
    front.set_defaults(func=_run)
