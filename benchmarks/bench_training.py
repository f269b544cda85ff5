"""Does ANN-assisted training learn faster or more stably than direct TTFS or surrogate-gradient LIF training?

For ``--candidates`` distinct candidates of :class:`~tnas_plugin.search_spaces.TTFSEyeSpace` (resolution 32,
drawn with ``numpy.random.RandomState(0)``) and ``--seeds`` seeds, three paths train the same architecture
on the training split of the synthetic SEE in the real form that ``bench_search.py`` uses (48 subjects,
within-subject take split, validation carved within subjects; seed 0 picks the validation takes of every
run), each for ``--epochs`` epochs:

- ``ann``: ANN-assisted, ``epochs - 1`` epochs of the ReLU twin, exact mapping, 1 epoch of discrete-time
  TTFS fine-tuning (:func:`tnas_plugin.measurement.measure_candidate`, ``mode="ann"``);
- ``direct``: the TTFS network trained from its random initialisation with exact spike-time gradients
  (``mode="direct"``, batch norm folded with the data's statistics);
- ``lif``: the architecture with LIF neurons (:class:`tnas_plugin.jobs.baselines.SEENStyleLIF`), BPTT with
  surrogate gradients (:func:`~tnas_plugin.jobs.baselines.train_lif_baseline`, cosine learning rate over
  the run's epochs).

Every ``--eval-every`` epochs (and at each path's last epoch, and the ReLU twin's last) the network is scored
on the whole validation split (4 start points per sequence): the TTFS networks in discrete time at the
candidate's steps per window, the ANN-assisted path's ReLU twin also mapped as it stands (windows calibrated
on 128 training clips, no fine-tuning), the LIF network as :func:`~tnas_plugin.jobs.baselines.evaluate_stepped`
runs it. The clock (``train_s``) starts before the training data are built and stops during evaluations,
which draw no random numbers, so they leave training unchanged. One run per path gives both budgets:

- equal epochs: each path's last point;
- equal wall time: each path's last point within the ``train_s`` the ANN-assisted path took for the same
  candidate and seed (the LIF path's cosine schedule then has not annealed yet).

LIF training costs several times the others' per epoch, so ``--lif time`` trains the LIF path only until it has
trained as long as the ANN-assisted run of the same candidate and seed (scored after every epoch): such a run
counts at equal wall time, not at equal epochs. A cached full LIF run is used in its place either way.

Reported per path: median validation UAR at both budgets, the seconds to reach 90 % of the ANN-assisted
path's final UAR, the collapse rate (UAR exactly 1/7: one class predicted) and the spread across seeds
(median over candidates of the standard deviation of the final UAR over seeds). Every run is cached as JSON
under ``--cache`` when it ends; ``--shard i/n`` computes only the candidates ``c`` with ``c % n == i`` (so
processes can share the work) and a run without it writes ``training_modes.csv`` (one row per run: both
budgets), ``training_modes_curves.csv`` (every point), ``training_modes_summary.csv``, ``training_modes.md`` and
``training_modes.png`` to ``--out``.

    python benchmarks/bench_training.py --epochs 40 --candidates 10 --seeds 3 --threads 1 [--lif full]
    python benchmarks/bench_training.py --shard 0/2 & python benchmarks/bench_training.py --shard 1/2  # then once more, alone
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_search  # noqa: E402  (the data set and the JSON cache)
from machine import describe  # noqa: E402

from tnas_plugin.candidate import CandidateSpec, build_ann  # noqa: E402
from tnas_plugin.jobs.baselines import evaluate_stepped, train_lif_baseline  # noqa: E402
from tnas_plugin.measurement import MeasurementSettings, measure_candidate  # noqa: E402
from tnas_plugin.metrics import uar, war  # noqa: E402
from tnas_plugin.search_spaces import TTFSEyeSpace  # noqa: E402
from tnas_plugin.trainer import EpochRecord, TrainCallbacks, predict  # noqa: E402
from tnas_plugin.ttfs import ann_to_ttfs  # noqa: E402

ROOT = Path(__file__).resolve().parent
CHANCE = 1 / 7
PATHS = {"ann": "ANN-assisted", "direct": "direct TTFS", "lif": "LIF surrogate gradient"}
CALIBRATION_CLIPS = 128  # the trainer's 4 calibration batches of 32


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40, help="the equal epoch budget of every path (>= 2)")
    parser.add_argument("--eval-every", type=int, default=4, help="epochs between two points of a learning curve")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shard", default="0/1", help="i/n: compute only candidates c with c %% n == i")
    parser.add_argument("--lif", choices=("full", "time"), default="time",
                        help="LIF runs to compute: all epochs, or only until the ANN-assisted run's training seconds "
                             "(equal wall time only); a cached full run is used either way")
    add_data_args(parser)
    args = parser.parse_args(argv)
    args.shard = tuple(int(part) for part in args.shard.split("/"))
    return finish_data_args(args)


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """The options this benchmark and ``bench_ann_rank.py`` share: data, cache and output folders."""
    parser.add_argument("--subjects", type=int, default=48, help="synthetic subjects (bench_search.py's)")
    parser.add_argument("--test-fraction", type=float, default=0.32)
    parser.add_argument("--data", type=Path, default=None, help="default: data/bench-search-see-<subjects>-<test fraction>")
    parser.add_argument("--cache", type=Path, default=ROOT / "results" / "training_modes_cache")
    parser.add_argument("--out", type=Path, default=ROOT / "results")


def finish_data_args(args: argparse.Namespace) -> argparse.Namespace:
    args.data = args.data or Path(f"data/bench-search-see-{args.subjects}-{args.test_fraction:g}")
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2 (the ANN-assisted path fine-tunes 1 of them)")
    return args


def sample_candidates(count: int) -> list[CandidateSpec]:
    """``count`` distinct candidates of the eye space, drawn in turn with ``RandomState(0)``."""
    space = TTFSEyeSpace(resolution=32)
    random_state = np.random.RandomState(0)
    specs: list[CandidateSpec] = []
    while len(specs) < count:
        sample: dict = {}
        space.random(memo=sample, random_state=random_state)
        spec = space.freeze(sample).spec
        if spec not in specs:
            specs.append(spec)
    return specs


class Clock:
    """Seconds since it was made, less the time spent in :meth:`paused` blocks."""

    def __init__(self):
        self.start, self.excluded = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    @contextmanager
    def paused(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - began


def scores(y_true: np.ndarray, y_pred: np.ndarray, prefix: str = "") -> dict:
    """WAR, UAR and the number of classes predicted."""
    return {f"{prefix}war": war(y_true, y_pred), f"{prefix}uar": uar(y_true, y_pred),
            f"{prefix}classes": int(len(np.unique(y_pred)))}


@dataclass(frozen=True)
class Run:
    """One path's training of one candidate at one seed: its learning curve (``epoch``, ``stage``, ``train_s``,
    ``war``, ``uar``, ``classes``, ``eval_s``; on the ReLU twin's epochs also ``twin_*``) and the seconds of
    the whole run, evaluations included."""

    candidate: int
    arch: str
    seed: int
    path: str
    curve: list[dict]
    seconds: float
    budget_s: float | None = None  #: stopped once it had trained this long (``None``: all its epochs)


Scorer = Callable[[EpochRecord, torch.nn.Module], dict]


class BudgetSpent(Exception):
    """Raised by a curve hook to stop training once its run has trained for its budget of seconds."""


def curve_hook(curve: list[dict], clock: Clock, every: int, last: dict[str, int], score: Scorer,
               budget_s: float | None = None):
    """An ``on_epoch`` hook appending a scored point to ``curve`` every ``every`` epochs of the run and at the last
    epoch of each stage in ``last`` (stage -> epochs); scoring is off the clock. With ``budget_s`` it raises
    :class:`BudgetSpent` after the first epoch that ends at or beyond that many training seconds."""
    epochs = [0]

    def on_epoch(record: EpochRecord, network: torch.nn.Module) -> None:
        epochs[0] += 1
        train_s = clock.seconds()
        if not epochs[0] % every or record.epoch + 1 == last.get(record.stage):
            with clock.paused():
                began = time.perf_counter()
                point = score(record, network)
                curve.append({"epoch": epochs[0], "stage": record.stage, "train_s": train_s,
                              "eval_s": time.perf_counter() - began, **point})
        if budget_s is not None and train_s >= budget_s:
            raise BudgetSpent

    return on_epoch


def ttfs_scorer(spec: CandidateSpec, settings: MeasurementSettings, validation: DataLoader) -> Scorer:
    """Scores the TTFS network in discrete time; on ReLU-twin epochs the twin itself (``twin_*``, timed as
    ``twin_eval_s``) and the twin mapped as it stands (windows calibrated on training clips of a data set
    of its own, so the trainer's draws are untouched)."""
    device, config, calibration = settings.train.torch_device(), settings.train, []

    def discrete(snn) -> dict:
        return scores(*predict(lambda x: snn(x, spec.steps_per_window), validation, device))

    def score(record: EpochRecord, network: torch.nn.Module) -> dict:
        if record.stage != "ann":
            network.eval()
            return discrete(network)
        if not calibration:
            clips = settings.dataset(spec, "training")
            calibration.append(torch.stack([clips[i][0] for i in range(min(CALIBRATION_CLIPS, len(clips)))]))
        began = time.perf_counter()
        twin = copy.deepcopy(network).eval()
        point = scores(*predict(twin, validation, device), prefix="twin_")
        point["twin_eval_s"] = time.perf_counter() - began
        return {**point, **discrete(ann_to_ttfs(twin, calibration[0].to(device), config.margin, config.percentile))}

    return score


def settings_for(args, path: str, seed: int) -> MeasurementSettings:
    """The path's measurement settings: ``--epochs`` in all (the ANN-assisted path: ``epochs - 1`` + 1 fine-tuning)."""
    mode = "direct" if path == "direct" else "ann"
    epochs = args.epochs - 1 if path == "ann" else args.epochs
    return MeasurementSettings.from_options(args.data, epochs=epochs, finetune_epochs=1, mode=mode, seed=seed,
                                            validation_seed=0, eval_starts=4, device="cpu")


def train_path(args, spec: CandidateSpec, path: str, seed: int, budget_s: float | None = None) -> list[dict]:
    """One run of ``path``: its learning curve (the LIF path with ``budget_s``: scored every epoch, stopped once it has
    trained that many seconds)."""
    settings = settings_for(args, path, seed)
    validation = DataLoader(settings.dataset(spec, "validation"), batch_size=settings.batch_size * 4)
    curve: list[dict] = []
    clock = Clock()
    if path == "lif":
        def score(record, network):
            return scores(*evaluate_stepped(network, validation, count=False)[:2])

        every = args.eval_every if budget_s is None else 1
        hook = curve_hook(curve, clock, every, {"lif-bptt": args.epochs}, score, budget_s)
        try:
            train_lif_baseline(spec, settings, TrainCallbacks(on_epoch=hook))
        except BudgetSpent:
            pass
        return curve
    last = {"ann": args.epochs - 1, "finetune": 1} if path == "ann" else {"direct": args.epochs}
    hook = curve_hook(curve, clock, args.eval_every, last, ttfs_scorer(spec, settings, validation))
    result = measure_candidate(spec, build_ann(spec), settings, TrainCallbacks(on_epoch=hook))
    if not np.isclose(result.metrics["uar"], curve[-1]["uar"]):
        raise AssertionError(f"the curve's last point {curve[-1]} disagrees with measure_candidate's {result.metrics['uar']}")
    return curve


def cached_run(args, number: int, spec: CandidateSpec, path: str, seed: int, may_compute: bool = True,
               budget_s: float | None = None) -> Run | None:
    """The run from ``--cache``, else trained and cached (``None`` if it is missing and not ``may_compute``);
    ``budget_s``: the LIF path stopped after that many training seconds (cached apart from its full runs)."""
    stopped = "" if budget_s is None else "-time"
    key = f"{path}{stopped}-c{number}-s{seed}-e{args.epochs}-every{args.eval_every}-{args.data.name}"

    def compute() -> dict:
        began = time.perf_counter()
        curve = train_path(args, spec, path, seed, budget_s)
        return asdict(Run(number, spec.describe(), seed, path, curve, time.perf_counter() - began, budget_s))

    cached = bench_search.cached(args.cache / f"{key}.json", compute, may_compute)
    if cached is None:
        return None
    run = Run(**cached)
    if run.arch != spec.describe():
        raise ValueError(f"{key}: cached for {run.arch}, not {spec.describe()}; use another --cache")
    return run


def curves_frame(runs: list[Run]) -> pd.DataFrame:
    """Every point of every run, one row each; ``stopped``: the run stopped at a time budget; ``rel_s``: its training
    seconds over those of the ANN-assisted run of the same candidate and seed."""
    frame = pd.DataFrame([{"candidate": run.candidate, "arch": run.arch, "seed": run.seed, "path": run.path,
                           "stopped": run.budget_s is not None, **point} for run in runs for point in run.curve])
    ann_s = frame[frame["path"] == "ann"].groupby(["candidate", "seed"])["train_s"].max().rename("ann_s")
    frame = frame.merge(ann_s, on=["candidate", "seed"], how="left")
    frame["rel_s"] = frame["train_s"] / frame.pop("ann_s")
    return frame


def twin_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Per candidate and seed, from the ANN-assisted run's curve: the ReLU twin's validation UAR at its last epoch and
    the TTFS network's final one, and the seconds (training + evaluation) each costs."""
    rows = []
    ann = curves[curves["path"] == "ann"]
    for (candidate, arch, seed), curve in ann.groupby(["candidate", "arch", "seed"], sort=True):
        twin = curve[curve["stage"] == "ann"].sort_values("epoch").iloc[-1]
        final = curve.sort_values("epoch").iloc[-1]
        rows.append({"candidate": candidate, "arch": arch, "seed": seed, "twin_uar": twin["twin_uar"],
                     "ttfs_uar": final["uar"], "twin_s": twin["train_s"] + twin["twin_eval_s"],
                     "ttfs_s": final["train_s"] + final["eval_s"]})
    return pd.DataFrame(rows)


def value_at(curve: pd.DataFrame, seconds: float) -> pd.Series | None:
    """The last point of one run's curve at or before ``seconds`` of training (``None``: none so early)."""
    within = curve[curve["train_s"] <= seconds]
    return within.iloc[-1] if len(within) else None


def time_to_reach(curve: pd.DataFrame, target: float) -> float:
    """Training seconds of the first point of one run's curve with UAR >= ``target``; ``inf`` if none."""
    reached = curve[curve["uar"] >= target]
    return float(reached["train_s"].iloc[0]) if len(reached) else float("inf")


def collapsed(uar_values) -> np.ndarray:
    """Whether each UAR is exactly chance (1/7): the network predicts one class."""
    return np.isclose(np.asarray(uar_values, dtype=float), CHANCE)


def budget_table(curves: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per candidate, seed and path: validation UAR at equal epochs (``epochs``; NaN for a run stopped before) and at
    the ANN-assisted path's wall time, and the seconds to reach 90 % of the ANN-assisted path's final UAR."""
    rows = []
    for (candidate, seed), runs in curves.groupby(["candidate", "seed"], sort=True):
        ann = runs[runs["path"] == "ann"].sort_values("train_s")
        if ann.empty:
            continue
        budget, target = ann["train_s"].iloc[-1], 0.9 * ann["uar"].iloc[-1]
        for path, curve in runs.groupby("path", sort=False):
            curve = curve.sort_values("train_s")
            at_time = value_at(curve, budget)
            complete = curve["epoch"].iloc[-1] >= epochs
            rows.append({"candidate": candidate, "arch": curve["arch"].iloc[0], "seed": seed, "path": path,
                         "epochs": int(curve["epoch"].iloc[-1]), "train_s": curve["train_s"].iloc[-1] if complete else np.nan,
                         "uar_epochs": curve["uar"].iloc[-1] if complete else np.nan,
                         "war_epochs": curve["war"].iloc[-1] if complete else np.nan,
                         "budget_s": budget, "epochs_at_time": np.nan if at_time is None else at_time["epoch"],
                         "uar_time": CHANCE if at_time is None else at_time["uar"], "point_at_time": at_time is not None,
                         "t90_s": time_to_reach(curve, target)})
    table = pd.DataFrame(rows)
    table["collapsed_epochs"] = collapsed(table["uar_epochs"]).astype(float)
    table.loc[table["uar_epochs"].isna(), "collapsed_epochs"] = np.nan
    table["collapsed_time"] = collapsed(table["uar_time"]) & table["point_at_time"]
    return table


def seed_spread(table: pd.DataFrame, column: str) -> pd.Series:
    """Per path, the median over candidates of the standard deviation of ``column`` across seeds (candidates with a
    value at every seed of the table only; NaN where there is none)."""
    grouped = table.groupby(["path", "candidate"])[column]
    spread = grouped.std().where(grouped.count() == table["seed"].nunique())
    return spread.groupby("path").median()


def path_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per path: medians and IQRs at both budgets, time to 90 %, collapse rates, seed spread."""
    grouped = table.groupby("path")

    def iqr(values: pd.Series) -> float:
        return values.quantile(0.75) - values.quantile(0.25)

    summary = pd.DataFrame({
        "runs": grouped.size(), "runs_epochs": grouped["uar_epochs"].count(),
        "median_epochs_at_time": grouped["epochs_at_time"].median(),
        "train_s_median": grouped["train_s"].median(),
        "uar_epochs_median": grouped["uar_epochs"].median(), "uar_epochs_iqr": grouped["uar_epochs"].agg(iqr),
        "uar_time_median": grouped["uar_time"].median(), "uar_time_iqr": grouped["uar_time"].agg(iqr),
        "t90_s_median": grouped["t90_s"].median(), "t90_reached": grouped["t90_s"].agg(lambda t: int(np.isfinite(t).sum())),
        "collapsed_epochs": grouped["collapsed_epochs"].mean(), "collapsed_time": grouped["collapsed_time"].mean(),
        "seed_std_epochs": seed_spread(table, "uar_epochs"), "seed_std_time": seed_spread(table, "uar_time"),
    })
    summary["learns_3x_chance"] = summary["uar_epochs_median"] >= 3 * CHANCE
    return summary.reindex([path for path in PATHS if path in summary.index])


def curve_band(curves: pd.DataFrame, x: str, grid: np.ndarray) -> pd.DataFrame:
    """Per path and grid value of ``x`` (``train_s``, ``rel_s`` or ``epoch``): median and quartiles over runs of each
    run's last UAR at or before it. A run counts from its first point on; one stopped at a time budget only up to its
    last point (a run that ended keeps its final value)."""
    rows = []
    for path, runs in curves.groupby("path", sort=False):
        runs = [run.sort_values(x) for _, run in runs.groupby(["candidate", "seed"])]
        for value in grid:
            points = [run.loc[run[x] <= value, "uar"] for run in runs
                      if not (run["stopped"].iloc[0] and value > run[x].iloc[-1])]
            values = pd.Series([p.iloc[-1] for p in points if len(p)], dtype=float)
            if len(values):
                rows.append({"path": path, x: value, "runs": len(values), "median": values.median(),
                             "q25": values.quantile(0.25), "q75": values.quantile(0.75)})
    return pd.DataFrame(rows)


def plot(curves: pd.DataFrame, path: Path) -> None:
    """Validation UAR against training seconds, against seconds relative to the ANN-assisted run's and against epochs:
    median and quartiles over runs, a colour per path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    panels = {"train_s": ("training seconds (evaluation excluded)", np.linspace(0, curves["train_s"].quantile(0.9), 150)),
              "rel_s": ("training seconds / the ANN-assisted run's (1 = equal wall time)", np.linspace(0, 3, 150)),
              "epoch": ("epoch (LIF: full runs only)", np.arange(1, curves["epoch"].max() + 1))}
    for axis, (x, (label, grid)) in zip(axes, panels.items()):
        band = curve_band(curves if x != "epoch" else curves[~curves["stopped"]], x, grid)
        for name, path_label in PATHS.items():
            line = band[band["path"] == name]
            axis.plot(line[x], line["median"], label=path_label)
            axis.fill_between(line[x], line["q25"], line["q75"], alpha=0.2)
        axis.axhline(CHANCE, color="grey", linestyle=":", label="chance (1/7)")
        axis.axhline(3 * CHANCE, color="grey", linestyle="--", linewidth=0.8, label="3x chance")
        if x == "rel_s":
            axis.axvline(1.0, color="black", linewidth=0.8)
        axis.set_xlabel(label)
        axis.set_ylabel("validation UAR (median, quartiles over runs)")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def verdict(summary: pd.DataFrame) -> str:
    """The report's opening sentences, from the summary's figures."""
    ann, others = summary.loc["ann"], summary.drop(index="ann")

    def versus(column: str, digits: int = 3, percent: bool = False) -> str:
        return ", ".join(f"{PATHS[path]} {row[column]:.0%}" if percent else f"{PATHS[path]} {row[column]:.{digits}f}"
                         for path, row in others.iterrows())

    def than(paths: list[str], claim: str) -> str:
        """"<claim> than both other paths", "than neither", or "than X but not than Y"."""
        rest = [PATHS[path] for path in others.index if path not in paths]
        if not rest:
            return f"{claim} than both other paths"
        if not paths:
            return f"not {claim} than either other path"
        return f"{claim} than {', '.join(PATHS[path] for path in paths)} but not than {', '.join(rest)}"

    faster = [path for path, row in others.iterrows()
              if ann["uar_time_median"] > row["uar_time_median"] and ann["t90_s_median"] < row["t90_s_median"]]
    steadier = [path for path, row in others.iterrows()
                if ann["seed_std_time"] < row["seed_std_time"] and ann["collapsed_time"] <= row["collapsed_time"]]
    learners = [PATHS[path] + ("" if row["runs_epochs"] == row["runs"] else f" (from its {row['runs_epochs']} full runs)")
                for path, row in summary.iterrows() if row["learns_3x_chance"]]
    return " ".join([
        f"**ANN-assisted training learns {than(faster, 'faster')}** (faster: higher median validation UAR at the "
        f"ANN-assisted run's own wall time and sooner at 90 % of its final UAR). At that time the median validation "
        f"UAR is {ann['uar_time_median']:.3f} vs {versus('uar_time_median')}; 90 % of the ANN-assisted final UAR takes a "
        f"median {ann['t90_s_median']:.0f} s vs {versus('t90_s_median', 0)} (inf: half the runs or more never got there).",
        f"**It is {than(steadier, 'more stable')}** (more stable: a smaller spread across seeds and no more collapsed "
        f"runs): median std of the UAR over seeds at equal time {ann['seed_std_time']:.3f} vs {versus('seed_std_time')}, "
        f"runs collapsed to one class {ann['collapsed_time']:.0%} vs {versus('collapsed_time', percent=True)}.",
        f"Median validation UAR >= 3x chance (0.43) at equal epochs: {', '.join(learners) if learners else 'no path'}.",
    ])


def report(args, summary: pd.DataFrame, table: pd.DataFrame, curves: pd.DataFrame, wall_s: float) -> list[str]:
    """The Markdown report, verdict first."""
    def cell(value: float, digits: int = 3) -> str:
        return "n/a" if pd.isna(value) else f"{value:.{digits}f}"

    lines = [f"# Training paths: ANN-assisted vs direct TTFS vs LIF surrogate gradient ({args.candidates} candidates x "
             f"{args.seeds} seeds, {args.epochs} epochs)", "", verdict(summary), "",
             "All figures are on the validation split: development results (the paths' settings are the project's; the "
             "epochs, 40, were sized on a first timing run as the most the time allowed). Chance is 1/7 = "
             f"{CHANCE:.3f}; a collapsed run predicts one class (UAR exactly 1/7).", "",
             "| path | runs (equal epochs) | median validation UAR, equal epochs (IQR) | median validation UAR, equal wall "
             "time (IQR) | median epochs within that time | median s to 90 % of ANN-assisted final UAR (runs reaching it) "
             "| collapsed, equal epochs / time | seed spread (median std), epochs / time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for path, row in summary.iterrows():
        lines.append(f"| {PATHS[path]} | {row['runs']} ({row['runs_epochs']}) | {cell(row['uar_epochs_median'])} "
                     f"({cell(row['uar_epochs_iqr'])}) | {cell(row['uar_time_median'])} ({cell(row['uar_time_iqr'])}) | "
                     f"{cell(row['median_epochs_at_time'], 0)} | {cell(row['t90_s_median'], 1)} ({row['t90_reached']}/{row['runs']}) | "
                     f"{cell(row['collapsed_epochs'] * 100, 0)} % / {row['collapsed_time']:.0%} | "
                     f"{cell(row['seed_std_epochs'])} / {cell(row['seed_std_time'])} |")
    twins = twin_table(curves)
    lines += ["", f"The ANN-assisted runs' ReLU twin reaches a median validation UAR of {twins['twin_uar'].median():.3f} "
              f"after its {args.epochs - 1} epochs; mapped to the TTFS network in discrete time and fine-tuned for 1 "
              f"epoch, {twins['ttfs_uar'].median():.3f} (median change {(twins['ttfs_uar'] - twins['twin_uar']).median():+.3f}; "
              f"{int(collapsed(twins['twin_uar']).sum())} of {len(twins)} twins collapsed).",
              "", f"Median training seconds for the {args.epochs} epochs: "
              + ", ".join(f"{PATHS[path]} {cell(row['train_s_median'], 1)}" for path, row in summary.iterrows()) + ".",
              "Equal wall time: each run's last point within the ANN-assisted run's training seconds for the same "
              "candidate and seed (counted at chance, not as collapsed, where it has none yet). Time to 90 %: a run that "
              "never reached it counts as infinite in the median (inf). LIF runs trained with `--lif time` stopped once "
              "they had trained as long as the ANN-assisted run: they count at equal time and in the time to 90 % "
              "(censored at that time), not at equal epochs (n/a where no full run exists); the full LIF runs are scored "
              f"every {args.eval_every} epochs, so their point at equal time can lie up to {args.eval_every - 1} epochs "
              "short of it. Seed spread: candidates with a value at every seed only (n/a: none).", "",
              "Learning curves: `training_modes.png`; every run: `training_modes.csv`; every point: "
              "`training_modes_curves.csv`.", "",
              f"Machine: {describe()}. Wall time {wall_s:.0f} s for the runs computed in this call. Data: {args.data} "
              "(built-in synthetic SEE in the real form, 48 subjects), resolution 32, validation 4 start points per "
              "sequence.", "", "Per candidate, median validation UAR over seeds at equal epochs / at equal wall time:", "",
              per_candidate(table).to_markdown()]
    return lines


def per_candidate(table: pd.DataFrame) -> pd.DataFrame:
    """Per candidate and path: ``"<equal epochs> / <equal time>"`` medians over seeds."""
    medians = table.groupby(["candidate", "arch", "path"])[["uar_epochs", "uar_time"]].median()
    cells = medians.apply(lambda row: " / ".join("n/a" if pd.isna(v) else f"{v:.3f}" for v in row), axis=1)
    return cells.unstack("path").reindex(columns=list(PATHS))


def path_run(args, number: int, spec: CandidateSpec, path: str, seed: int, earlier: list[Run]) -> Run:
    """The run of ``path`` (cached or trained); the LIF path as ``--lif`` says, unless its full run is cached.
    ``earlier`` holds the ANN-assisted run of the same candidate and seed, whose training seconds a stopped LIF run gets."""
    if path != "lif":
        return cached_run(args, number, spec, path, seed)
    full = cached_run(args, number, spec, path, seed, may_compute=args.lif == "full")
    if full is not None:
        return full
    ann = next(run for run in earlier if (run.candidate, run.seed, run.path) == (number, seed, "ann"))
    return cached_run(args, number, spec, path, seed, budget_s=ann.curve[-1]["train_s"])


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    bench_search.ensure_data(args)
    specs = sample_candidates(args.candidates)
    began = time.perf_counter()
    runs = []
    index, shards = args.shard
    for number, spec in enumerate(specs):
        if number % shards != index:
            continue
        for seed in range(args.seeds):
            for path in PATHS:
                run = path_run(args, number, spec, path, seed, runs)
                print(json.dumps({"candidate": number, "seed": seed, "path": path, "uar": round(run.curve[-1]["uar"], 4),
                                  "train_s": round(run.curve[-1]["train_s"], 1), "elapsed_s": round(time.perf_counter() - began)}),
                      flush=True)
                runs.append(run)
    if shards > 1:
        return 0
    curves = curves_frame(runs)
    table = budget_table(curves, args.epochs)
    summary = path_summary(table)
    args.out.mkdir(parents=True, exist_ok=True)
    curves.to_csv(args.out / "training_modes_curves.csv", index=False)
    table.to_csv(args.out / "training_modes.csv", index=False)
    summary.to_csv(args.out / "training_modes_summary.csv")
    plot(curves, args.out / "training_modes.png")
    lines = report(args, summary, table, curves, time.perf_counter() - began)
    (args.out / "training_modes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
