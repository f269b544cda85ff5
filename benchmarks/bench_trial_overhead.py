"""Trial overhead: distinct trials per minute of the demo's search phase and the median fixed cost per trial,
this tree against a baseline commit (default 1c9179a: plain trials, no clip store, step-by-step ``count_ttfs``),
in one sitting on the same machine (docs/ARCHITECTURE.md, "Trial overhead").

Each version runs ``--runs`` searches alternately (so that both see the same machine load): the search phase of
``tnas-er search`` (``run_tuner``) with the demo's settings (the default synthetic data, 15 epochs, two trials
side by side) and ``--budget`` trials, in a fresh interpreter whose ``tnas_plugin`` is that version's (``-P``: not the one in the current folder): this tree
as installed, or the baseline's git worktree laid out as the package installs (a folder of links, first on
``PYTHONPATH``; the trials inherit it). The tuner proposes its seeded initial population first (the hand-crafted
network and its one-change neighbours), so both versions train the same candidates. From NNI's database:

* **trials per minute**: trials that ended / the search's wall time (from the call, clip store and NNI's start
  included, to the experiment's end);
* **fixed cost** of a trial: its wall time (NNI's ``RUNNING`` event to its end event) minus its work, the time
  from the start of its first epoch (its first intermediate result minus its median epoch interval) to its
  final result: interpreter start, imports, data sets, NNI's hand-over and end detection.

Medians over the runs (trials per minute) and over all trials (fixed cost), written again after every run (a
stopped benchmark leaves the runs it finished). A run in which NNI ran no trial (its
tuner did not connect within NNI's 10 s on a loaded machine) is repeated. Writes ``trial_overhead.json`` and
``trial_overhead.md`` under ``--results`` with the machine's load average before and after each run.

    python benchmarks/bench_trial_overhead.py [--budget 12] [--runs 3] [--baseline 1c9179a]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from machine import describe
from tnas_plugin.strategies.nni_records import database_path

REPOSITORY = Path(__file__).resolve().parent.parent
PLUGIN_FOLDERS = ("hardware", "strategies", "search_spaces")  # top-level folders installed under tnas_plugin/
DEMO_TRIALS = 100  # make demo's budget
START_ATTEMPTS = 3  # a loaded machine can keep NNI's tuner from connecting in its 10 s: such a run is repeated

# Runs in the version's interpreter: the search phase of tnas-er search, timed.
RUNNER = """
import json, sys, time
from pathlib import Path
from types import SimpleNamespace
import tnas_plugin.hardware.synops as synops
from tnas_plugin.jobs.search_job import SearchOptions, run_tuner
data, budget, port, work, experiment_id = sys.argv[1:]
options = SearchOptions(data=Path(data), budget=int(budget), port=int(port), announce_ui=False)
start = time.time()
history, front, completed = run_tuner(options, None, SimpleNamespace(work=Path(work)), experiment_id)
print(json.dumps({"start": start, "end": time.time(), "completed": completed, "synops": synops.__file__}))
"""


@dataclass(frozen=True)
class SearchRun:
    """One timed search phase."""

    version: str
    wall_s: float
    trials: int
    failed: int
    trials_per_minute: float
    start_up_s: float
    running_trials_per_minute: float
    fixed_costs_s: tuple[float, ...]
    trial_walls_s: tuple[float, ...]
    load_before: float
    load_after: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def baseline_package(commit: str, folder: Path) -> Path:
    """A git worktree of ``commit`` and, beside it, a folder whose ``tnas_plugin`` is laid out as it installs."""
    source = folder / "source"
    subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", str(source), commit],
                   check=True, capture_output=True)
    package = folder / "package" / "tnas_plugin"
    package.mkdir(parents=True)
    for entry in (source / "tnas_plugin").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in PLUGIN_FOLDERS:
        (package / name).symlink_to(source / name)
    return package.parent


def trial_times(database: Path) -> tuple[list[float], list[float], int, float, float]:
    """(fixed cost of each trial that reported, wall time of each ended trial, failed trials, the first trial's
    start and the last trial's end as Unix times), in seconds."""
    with sqlite3.connect(database) as db:
        events = db.execute("SELECT trialJobId, event, timestamp FROM TrialJobEvent").fetchall()
        metrics = db.execute("SELECT trialJobId, type, timestamp FROM MetricData ORDER BY timestamp").fetchall()
    started = {trial: stamp for trial, event, stamp in events if event == "RUNNING"}
    ended = {trial: (event, stamp) for trial, event, stamp in events if event in ("SUCCEEDED", "FAILED", "USER_CANCELED")}
    walls, fixed = [], []
    for trial, (event, stamp) in ended.items():
        if trial not in started:
            continue
        wall = (stamp - started[trial]) / 1000
        walls.append(wall)
        epochs = [t for tid, kind, t in metrics if tid == trial and kind == "PERIODICAL"]
        final = [t for tid, kind, t in metrics if tid == trial and kind == "FINAL"]
        if len(epochs) >= 2 and final:
            epoch = statistics.median(b - a for a, b in zip(epochs, epochs[1:]))
            fixed.append(wall - (final[0] - (epochs[0] - epoch)) / 1000)
    failed = sum(event != "SUCCEEDED" for event, _ in ended.values())
    return fixed, walls, failed, min(started.values()) / 1000, max(stamp for _, stamp in ended.values()) / 1000


def run_search(version: str, env: dict, data: Path, budget: int, work: Path) -> SearchRun:
    experiment_id = f"{version[:4]}{int(time.time()) % 10_000:04d}"
    load_before = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-P", "-c", RUNNER, str(data), str(budget), str(free_port()), str(work), experiment_id],
                          env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{version} search failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {version}: tnas_plugin.hardware from {Path(timing['synops']).parent}", flush=True)
    fixed, walls, failed, first_start, last_end = trial_times(database_path(work / "nni" / experiment_id))
    wall = timing["end"] - timing["start"]
    return SearchRun(version, wall, len(walls), failed, 60 * len(walls) / wall, first_start - timing["start"],
                     60 * len(walls) / (last_end - first_start), tuple(fixed), tuple(walls), load_before, os.getloadavg()[0])


def summary(runs: list[SearchRun]) -> dict:
    return {"runs": len(runs), "trials_per_minute": statistics.median(r.trials_per_minute for r in runs),
            "running_trials_per_minute": statistics.median(r.running_trials_per_minute for r in runs),
            "start_up_s": statistics.median(r.start_up_s for r in runs),
            "median_fixed_cost_s": statistics.median(c for r in runs for c in r.fixed_costs_s),
            "median_trial_wall_s": statistics.median(w for r in runs for w in r.trial_walls_s),
            "median_search_wall_s": statistics.median(r.wall_s for r in runs),
            "trials": sum(r.trials for r in runs), "failed": sum(r.failed for r in runs)}


def table(summaries: dict, budget: int) -> str:
    rows = ["| version | trials per minute | trials per minute once trials run | start-up before the first trial (s) | "
            f"median fixed cost per trial (s) | median trial wall (s) | median search wall, {budget} trials (s) | failed |",
            "|---|---|---|---|---|---|---|---|"]
    for version, s in summaries.items():
        rows.append(f"| {version} | {s['trials_per_minute']:.2f} | {s['running_trials_per_minute']:.2f} | "
                    f"{s['start_up_s']:.1f} | {s['median_fixed_cost_s']:.2f} | "
                    f"{s['median_trial_wall_s']:.2f} | {s['median_search_wall_s']:.1f} | {s['failed']}/{s['trials']} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/synthetic-see"), help="SEE tree (generated if absent)")
    parser.add_argument("--budget", type=int, default=12, help="trials per search")
    parser.add_argument("--runs", type=int, default=3, help="searches per version")
    parser.add_argument("--baseline", default="1c9179a", help="the commit to compare with")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    data = args.data.resolve()
    if not (data / "emotion.json").exists():
        from tnas_plugin.data import SynthConfig, synthesize

        synthesize(data, SynthConfig(seed=0))
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as scratch:
        scratch = Path(scratch)
        try:
            baseline = baseline_package(args.baseline, scratch / "baseline")
            environments = {"after": {k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                            f"{args.baseline}": {**os.environ, "PYTHONPATH": str(baseline)}}
            runs = {version: [] for version in environments}
            for number in range(args.runs):
                for version, env in environments.items():
                    for attempt in range(START_ATTEMPTS):
                        run = run_search(version, env, data, args.budget, scratch / f"{version}-{number}-{attempt}")
                        if run.trials:
                            break
                        print(f"run {number} {version}: NNI ran no trial (its manager or tuner did not start); again",
                              flush=True)
                    print(f"run {number} {version}: {run.trials} trials in {run.wall_s:.1f} s, {run.trials_per_minute:.2f}/min, "
                          f"median fixed cost {statistics.median(run.fixed_costs_s or [float('nan')]):.2f} s, "
                          f"load {run.load_before:.1f} -> {run.load_after:.1f}", flush=True)
                    runs[version].append(run)
                    write_results(args, runs)
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(scratch / "baseline" / "source")],
                           capture_output=True)


def demo_rate(summary: dict) -> float:
    """Trials per minute of a search of the demo's ``DEMO_TRIALS`` trials with this start-up and running rate."""
    return 60 * DEMO_TRIALS / (summary["start_up_s"] + 60 * DEMO_TRIALS / summary["running_trials_per_minute"])


def write_results(args, runs: dict[str, list[SearchRun]]) -> None:
    """``trial_overhead.json`` and ``.md`` from the runs finished so far (each version needs one)."""
    if not all(runs.values()):
        return
    summaries = {version: summary(version_runs) for version, version_runs in runs.items()}
    ordered = {f"{args.baseline} (before)": summaries[args.baseline], "this tree (after)": summaries["after"]}
    speedup = summaries["after"]["trials_per_minute"] / summaries[args.baseline]["trials_per_minute"]
    machine = describe()
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "trial_overhead.json").write_text(json.dumps({
        "budget": args.budget, "machine": machine, "summaries": ordered, "speedup": speedup,
        "runs": [asdict(run) for version_runs in runs.values() for run in version_runs]}, indent=2) + "\n")
    fixed = summaries["after"]["median_fixed_cost_s"]
    running = summaries["after"]["running_trials_per_minute"] / summaries[args.baseline]["running_trials_per_minute"]
    demo = demo_rate(summaries["after"]) / demo_rate(summaries[args.baseline])
    verdict = (f"Once trials run, this tree runs {running:.2f}x the trials per minute of {args.baseline}; over the whole "
               f"{args.budget}-trial search, whose one-time start-up (clips decoded once, the warm pool) weighs more "
               f"than in the demo's {DEMO_TRIALS}, {speedup:.2f}x; with the measured start-up and running rates, the "
               f"demo's {DEMO_TRIALS} trials would run at {demo:.2f}x (target 2x). Median fixed cost "
               f"{fixed:.2f} s per trial (target 0.5 s: {'met' if fixed <= 0.5 else 'not met'}).")
    text = (f"# Trial overhead\n\n{verdict}\n\n`python benchmarks/bench_trial_overhead.py --budget {args.budget} --runs {args.runs} "
            f"--baseline {args.baseline}`: {min(len(r) for r in runs.values())} of {args.runs} runs per version done; "
            f"{machine} when written; 1-minute load average {min(r.load_before for v in runs.values() for r in v):.1f} to "
            f"{max(r.load_after for v in runs.values() for r in v):.1f} during the runs (per run in trial_overhead.json).\n\n"
            f"{table(ordered, args.budget)}\n\nTrials per minute: {speedup:.2f}x the baseline's.\n")
    (args.results / "trial_overhead.md").write_text(text)
    print(text, flush=True)


if __name__ == "__main__":
    main()
