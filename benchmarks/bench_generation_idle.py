"""What the generational search costs: slot time left idle at generation boundaries in real searches
(docs/ARCHITECTURE.md, "Determinism").

A generation is bred only once every candidate of the one before has a result, so a slot whose trial has
ended may wait for the slowest trial of its generation; the steady-state search of earlier releases started
the next trial at once. In each NNI experiment given (default: the demo's, ``results/demo/nni/*``: ``make bench``
runs ``make demo`` first if there is none), every gap between a trial's end and the next trial's
start on the freed slot is read from NNI's database (``TrialJobEvent``) and put in one of two kinds:

* **boundary**: the next trial is of a later generation (the tuner's saved ``generations``) than a trial still
  running when the slot was freed: the slot waited for the generation to complete;
* **dispatch**: otherwise, NNI's own hand-over (its polling), which the steady-state search paid as well.

The generational search's loss of distinct trials per minute against a steady-state one on the same trials is
the boundary share of the slot time: trials / (wall - boundary idle / concurrency) vs trials / wall.
Writes ``generation_idle.csv`` and ``generation_idle.md`` to ``--results``.

    python benchmarks/bench_generation_idle.py [EXPERIMENT_FOLDER ...] [--concurrency 2]
"""
from __future__ import annotations

import argparse
import bisect
import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from machine import describe
from tnas_plugin.strategies.nni_records import database_path

ENDED = ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
STATE = Path("checkpoint") / "tnas_evolution_state.json"


@dataclass(frozen=True)
class IdleSlots:
    """One experiment's slot time: idle at generation boundaries and in NNI's hand-over."""

    experiment: str
    trials: int
    generations: int
    wall_s: float
    boundary_idle_slot_s: float
    dispatch_idle_slot_s: float
    boundary_share: float
    trials_per_minute: float
    trials_per_minute_without_boundaries: float


def idle_slots(folder: Path, concurrency: int) -> IdleSlots:
    """The idle slot time of the NNI experiment in ``folder`` (see the module docstring)."""
    generations = json.loads((folder / STATE).read_text())["generations"]
    with sqlite3.connect(database_path(folder)) as db:
        events = db.execute("SELECT trialJobId, event, timestamp, data FROM TrialJobEvent ORDER BY timestamp").fetchall()
    started, ended, generation = {}, {}, {}
    for trial, event, stamp, data in events:
        if event == "RUNNING" and data:
            started[trial] = stamp / 1000
            generation[trial] = bisect.bisect_right(generations, json.loads(data)["parameter_id"]) - 1
        elif event in ENDED:
            ended[trial] = stamp / 1000
    trials = sorted((started[t], ended[t], generation[t]) for t in started if t in ended)
    waiting = sorted((start, gen) for start, _, gen in trials)  # trials not yet matched to a freed slot
    boundary = dispatch = 0.0
    for start, end, gen in sorted(trials, key=lambda trial: trial[1]):
        following = next((item for item in waiting if item[0] >= end), None)
        if following is None:
            continue
        waiting.remove(following)
        running = [g for s, e, g in trials if s <= end < e]
        if following[1] > gen and running and min(running) < following[1]:
            boundary += following[0] - end
        else:
            dispatch += following[0] - end
    wall = max(end for _, end, _ in trials) - trials[0][0]
    return IdleSlots(folder.name, len(trials), len(generations), wall, boundary, dispatch,
                     boundary / (concurrency * wall), 60 * len(trials) / wall,
                     60 * len(trials) / (wall - boundary / concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="*", type=Path, help="NNI experiment folders (default: the demo's)")
    parser.add_argument("--concurrency", type=int, default=2, help="trials side by side in those experiments")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    folders = args.experiments or sorted(p for p in Path("results/demo/nni").glob("*") if (p / STATE).exists())
    if not folders:
        raise SystemExit("bench_generation_idle: no experiment folder given and none under results/demo/nni "
                         "(run `make demo` first)")
    rows = [idle_slots(folder, args.concurrency) for folder in folders]
    table = pd.DataFrame([asdict(row) for row in rows])
    args.results.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.results / "generation_idle.csv", index=False)
    worst = table["boundary_share"].max()
    verdict = (f"Waiting for generations to complete left {100 * worst:.1f} % of the slot time idle at most "
               f"({'under' if worst < 0.10 else 'over'} the 10 % budget): that is what the generational search "
               f"costs in distinct trials per minute against a steady-state one on the same trials.")
    text = (f"# Idle slots at generation boundaries\n\n{verdict}\n\n"
            f"`python benchmarks/bench_generation_idle.py {' '.join(map(str, args.experiments))}`; "
            f"{args.concurrency} trials side by side; read {describe()}.\n\n"
            f"{table.to_markdown(index=False, floatfmt='.3g')}\n\n"
            "Dispatch idle time is NNI's hand-over between a trial's end and the next start, paid by any search.\n")
    (args.results / "generation_idle.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
