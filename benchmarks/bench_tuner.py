"""The evolution core (``ParetoEvolution``, as the nnictl tuner runs it) against random search, Optuna's
``NSGAIISampler`` and ``TPESampler`` and pymoo's ``NSGA2``, on standard multi-objective test problems split
into a tuning set and a report set (docs/ARCHITECTURE.md, "Proposal model").

Problems, every objective minimised, written from their formulas:

- tuning set (the core's defaults are chosen on it, ``--tune``): ZDT1, ZDT2, ZDT3 (Zitzler, Deb and Thiele,
  Evolutionary Computation 8(2):173-195, 2000), 30 ``uniform`` variables in [0, 1];
- report set (never used to choose anything): ZDT4 (10 variables, x2..x10 in [-5, 5]: 21^9 local fronts),
  ZDT6 (10 variables, a biased density along the front), DTLZ2 (3 objectives, 12 variables) and DTLZ7
  (3 objectives, 22 variables, 4 disconnected front pieces) (Deb, Thiele, Laumanns and Zitzler, "Scalable
  test problems for evolutionary multiobjective optimization", 2005), and ``zdt1_mixed``: ZDT1 whose
  x11..x20 are ``randint [0, 11)`` and x21..x30 a ``choice`` of 0, 0.1, ..., 1, each divided by 10 or taken as is.

Methods: ``model`` is the core with its defaults (Latin hypercube start, model-based proposals, NSGA-II after
300 results); ``nsga2`` is
the core as it was before the proposal model (``proposals="nsga2"``, ``initial_design="random"``); Optuna 5
samplers with their defaults apart from the seed (``NSGAIISampler`` population 50, ``TPESampler``'s
multi-objective TPE with 10 random start-up trials); pymoo's ``NSGA2`` with its defaults (population 100)
through its ask/tell interface, on the continuous relaxation of the mixed problem (a variable is rounded to
its grid where the problem reads it); random search draws each variable from its prior. Every method sees one
candidate at a time and none is told the budget, so one run of ``--evals`` evaluations is read at each
budget: the hypervolume (``moocore.hypervolume``, reference point :data:`REFERENCE`) of the first N points.
``--tpe-cap`` stops the TPE runs early (its cost per trial grows with the history); budgets past the cap are
left out for it.

Per problem and budget: median hypervolume over ``--seeds`` seeds, and the two-sided Mann-Whitney U test's
p-value of ``model`` against random search and against TPE (unpaired: a seed number means nothing across methods).

    pip install -r requirements-bench.txt       # optuna, pymoo (benchmark only)
    python benchmarks/bench_tuner.py            # both sets, 10 seeds, 50 100 300 1000 evaluations, 2 processes
    python benchmarks/bench_tuner.py --tune     # the candidate defaults of the core, on the tuning set only

Results: ``results/tuner_runs.csv`` (every run and budget), ``results/tuner.csv`` and ``.md`` (medians,
p-values, the proposal cost), ``results/tuner.png``; with ``--tune``: ``results/tuner_tuning.csv`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tnas_plugin.pareto import hypervolume

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

TUNING = ("zdt1", "zdt2", "zdt3")
REPORT = ("zdt4", "zdt6", "dtlz2", "dtlz7", "zdt1_mixed")
PROBLEMS = TUNING + REPORT
# Hypervolume reference points: beyond the worst value of each objective on the front, and for ZDT4 and DTLZ7
# wide enough that random search's first points count too.
REFERENCE = {"zdt1": (11, 11), "zdt2": (11, 11), "zdt3": (11, 11), "zdt1_mixed": (11, 11), "zdt6": (11, 11),
             "zdt4": (11, 300), "dtlz2": (3, 3, 3), "dtlz7": (1.1, 1.1, 25)}
METHODS = ("model", "nsga2", "random", "optuna_nsga2", "optuna_tpe", "pymoo_nsga2")
LABELS = {"model": "TNAS-ER core (defaults: model, NSGA-II after 300)", "nsga2": "TNAS-ER core (plain NSGA-II, before)",
          "random": "random search", "optuna_nsga2": "Optuna NSGAIISampler", "optuna_tpe": "Optuna TPESampler",
          "pymoo_nsga2": "pymoo NSGA2"}
# Candidate defaults of the core tried by --tune (each on top of EvolutionOptions' own defaults), in the order they
# were tried: the good split by crowding first (results/tuner_tuning.md, tuner_tuning_handover.md), then the split
# by hypervolume contribution against the crowding split's winner, "model, sampled 1.0, 24 candidates"
# (tuner_tuning_split.md).
TUNING_GRID = {
    "nsga2, random start (before)": {"proposals": "nsga2", "initial_design": "random"},
    "nsga2, lhs start": {"proposals": "nsga2"},
    "model, sampled 1.0, 24 candidates": {"model_sampled": 1.0, "model_candidates": 24, "model_good": "crowding"},
    "model, sampled 0.5, 24 candidates": {"model_sampled": 0.5, "model_candidates": 24, "model_good": "crowding"},
    "model, sampled 1.0, 8 candidates": {"model_sampled": 1.0, "model_candidates": 8, "model_good": "crowding"},
    "model, sampled 1.0, 24 candidates, gamma 0.1": {"model_sampled": 1.0, "model_gamma": 0.1, "model_good": "crowding"},
    "model until 100 results, then nsga2": {"model_until": 100, "model_good": "crowding"},
    "model until 300 results, then nsga2": {"model_until": 300, "model_good": "crowding"},
    "model, good split by hypervolume": {"model_good": "hypervolume"},
}
GRID = [round(i / 10, 1) for i in range(11)]


# ----------------------------------------------------------------------------------------------------
# Problems


def search_space(problem: str) -> dict:
    """The problem as an NNI HPO search space."""
    if problem in ("zdt4", "zdt6"):
        return {"x1": {"_type": "uniform", "_value": [0.0, 1.0]},
                **{f"x{i}": {"_type": "uniform", "_value": [-5.0, 5.0] if problem == "zdt4" else [0.0, 1.0]}
                   for i in range(2, 11)}}
    n = {"dtlz2": 12, "dtlz7": 22}.get(problem, 30)
    space = {f"x{i}": {"_type": "uniform", "_value": [0.0, 1.0]} for i in range(1, n + 1)}
    if problem == "zdt1_mixed":
        space.update({f"x{i}": {"_type": "randint", "_value": [0, 11]} for i in range(11, 21)})
        space.update({f"x{i}": {"_type": "choice", "_value": GRID} for i in range(21, 31)})
    return space


def objectives(problem: str, params: dict) -> tuple[float, ...]:
    """The objective values (minimised) of ``params`` (a value of the search space per variable)."""
    x = [params[f"x{i}"] for i in range(1, len(params) + 1)]
    if problem == "zdt1_mixed":
        x = x[:10] + [v / 10 for v in x[10:20]] + x[20:]
    if problem.startswith("dtlz"):
        return dtlz(problem, x)
    f1 = x[0]
    if problem == "zdt4":
        g = 1 + 10 * (len(x) - 1) + sum(v * v - 10 * math.cos(4 * math.pi * v) for v in x[1:])
    elif problem == "zdt6":
        f1 = 1 - math.exp(-4 * x[0]) * math.sin(6 * math.pi * x[0]) ** 6
        g = 1 + 9 * (sum(x[1:]) / (len(x) - 1)) ** 0.25
    else:
        g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    ratio = f1 / g
    if problem in ("zdt2", "zdt6"):
        h = 1 - ratio ** 2
    elif problem == "zdt3":
        h = 1 - math.sqrt(ratio) - ratio * math.sin(10 * math.pi * f1)
    else:
        h = 1 - math.sqrt(ratio)
    return f1, g * h


def dtlz(problem: str, x: list[float], m: int = 3) -> tuple[float, ...]:
    """DTLZ2 and DTLZ7 with ``m`` objectives (Deb et al. 2005, sections 6.2 and 6.7)."""
    tail = x[m - 1:]
    if problem == "dtlz7":
        g = 1 + 9 / len(tail) * sum(tail)
        head = x[:m - 1]
        h = m - sum(f / (1 + g) * (1 + math.sin(3 * math.pi * f)) for f in head)
        return (*head, (1 + g) * h)
    g = sum((v - 0.5) ** 2 for v in tail)
    values = []
    for i in range(m):
        f = 1 + g
        for v in x[:m - 1 - i]:
            f *= math.cos(v * math.pi / 2)
        if i:
            f *= math.sin(x[m - 1 - i] * math.pi / 2)
        values.append(f)
    return tuple(values)


# ----------------------------------------------------------------------------------------------------
# Methods: each returns the objective vectors of its evaluations in order, and the seconds spent proposing


def run_core(problem: str, seed: int, evals: int, options: dict) -> tuple[list, float]:
    from tnas_plugin.strategies.evolution_core import EvolutionOptions, ParetoEvolution

    names = [f"f{j}" for j in range(len(REFERENCE[problem]))]
    core = ParetoEvolution(search_space(problem), EvolutionOptions(
        objectives={name: "min" for name in names}, seed=seed, **options))
    points, asking = [], 0.0
    for _ in range(evals):
        started = time.perf_counter()
        params = core.ask()
        asking += time.perf_counter() - started
        values = objectives(problem, params)
        core.tell(params, dict(zip(names, values)))
        points.append(values)
    return points, asking


def run_optuna(problem: str, seed: int, evals: int, sampler: str) -> tuple[list, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {}
    for label, entry in search_space(problem).items():
        if entry["_type"] == "choice":
            distributions[label] = optuna.distributions.CategoricalDistribution(entry["_value"])
        elif entry["_type"] == "randint":
            distributions[label] = optuna.distributions.IntDistribution(entry["_value"][0], entry["_value"][1] - 1)
        else:
            distributions[label] = optuna.distributions.FloatDistribution(*entry["_value"])
    chosen = (optuna.samplers.NSGAIISampler if sampler == "nsga2" else optuna.samplers.TPESampler)(seed=seed)
    study = optuna.create_study(directions=["minimize"] * len(REFERENCE[problem]), sampler=chosen)
    points, asking = [], 0.0
    for _ in range(evals):
        started = time.perf_counter()
        trial = study.ask(distributions)
        asking += time.perf_counter() - started
        values = objectives(problem, trial.params)
        study.tell(trial, list(values))
        points.append(values)
    return points, asking


def run_pymoo(problem: str, seed: int, evals: int) -> tuple[list, float]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.problem import Problem
    from pymoo.problems.static import StaticProblem
    from pymoo.core.termination import NoTermination

    space = search_space(problem)
    labels = list(space)
    low = np.array([0.0 if e["_type"] == "choice" else e["_value"][0] - 0.5 * (e["_type"] == "randint") for e in space.values()])
    high = np.array([len(e["_value"]) if e["_type"] == "choice" else e["_value"][1] - 0.5 * (e["_type"] == "randint")
                     for e in space.values()], dtype=float)

    def decode(row) -> dict:
        params = {}
        for label, entry, v in zip(labels, space.values(), row):
            if entry["_type"] == "choice":
                params[label] = entry["_value"][min(int(v), len(entry["_value"]) - 1)]
            elif entry["_type"] == "randint":
                params[label] = min(max(int(round(v)), entry["_value"][0]), entry["_value"][1] - 1)
            else:
                params[label] = float(v)
        return params

    algorithm = NSGA2()
    algorithm.setup(Problem(n_var=len(labels), n_obj=len(REFERENCE[problem]), xl=low, xu=high),
                    termination=NoTermination(), seed=seed, verbose=False)
    points, asking = [], 0.0
    while len(points) < evals:
        started = time.perf_counter()
        population = algorithm.ask()
        asking += time.perf_counter() - started
        values = np.array([objectives(problem, decode(row)) for row in population.get("X")])
        points.extend(map(tuple, values))
        Evaluator().eval(StaticProblem(algorithm.problem, F=values), population)
        algorithm.tell(infills=population)
    return points[:evals], asking


def run_random(problem: str, seed: int, evals: int) -> tuple[list, float]:
    rng = random.Random(seed)
    space = search_space(problem)
    points = []
    for _ in range(evals):
        params = {}
        for label, entry in space.items():
            if entry["_type"] == "choice":
                params[label] = rng.choice(entry["_value"])
            elif entry["_type"] == "randint":
                params[label] = rng.randrange(*entry["_value"])
            else:
                params[label] = rng.uniform(*entry["_value"])
        points.append(objectives(problem, params))
    return points, 0.0


@dataclass(frozen=True)
class Task:
    """One run: ``method`` (a key of :data:`METHODS`, or a :data:`TUNING_GRID` label with ``options``)."""

    problem: str
    method: str
    seed: int
    evals: int
    checkpoints: tuple[int, ...]
    options: str = "{}"  # JSON of EvolutionOptions overrides (tuning runs)


@dataclass(frozen=True)
class Run:
    """A run's hypervolume at each checkpoint and its seconds (all, and in proposing alone)."""

    task: Task
    hypervolumes: dict
    seconds: float
    asking_seconds: float


def one_run(task: Task) -> Run:
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    if task.method in ("optuna_nsga2", "optuna_tpe"):
        points, asking = run_optuna(task.problem, task.seed, task.evals, task.method.split("_")[1])
    elif task.method == "pymoo_nsga2":
        points, asking = run_pymoo(task.problem, task.seed, task.evals)
    elif task.method == "random":
        points, asking = run_random(task.problem, task.seed, task.evals)
    elif task.method == "nsga2":
        points, asking = run_core(task.problem, task.seed, task.evals, {"proposals": "nsga2", "initial_design": "random"})
    else:  # "model" or a tuning candidate
        points, asking = run_core(task.problem, task.seed, task.evals, json.loads(task.options))
    reference = REFERENCE[task.problem]
    return Run(task, {n: hypervolume(points[:n], reference) for n in task.checkpoints if n <= len(points)},
               time.perf_counter() - started, asking)


def run_all(tasks: list[Task], jobs: int) -> pd.DataFrame:
    """Every run (longest first, so that the pool ends together), one row per run and checkpoint."""
    tasks = sorted(tasks, key=lambda t: (t.method not in ("optuna_tpe", "model"), -t.evals))
    with ProcessPoolExecutor(jobs) as pool:
        runs = list(pool.map(one_run, tasks))
    return pd.DataFrame([
        {"set": "tuning" if r.task.problem in TUNING else "report", "problem": r.task.problem, "method": r.task.method,
         "seed": r.task.seed, "evaluations": n, "hypervolume": hv, "run_seconds": r.seconds,
         "ask_seconds_per_proposal": r.asking_seconds / r.task.evals}
        for r in runs for n, hv in r.hypervolumes.items()])


def p_value(a, b) -> float:
    from scipy.stats import mannwhitneyu

    a, b = list(a), list(b)
    if not a or not b or (len(set(a)) == 1 and set(a) == set(b)):
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def table(runs: pd.DataFrame, budgets: list[int]) -> pd.DataFrame:
    """Median hypervolume per set, problem, method and budget, with ``model``'s p-values vs random and TPE."""
    rows = []
    for (group, problem, method, n), hv in runs.groupby(["set", "problem", "method", "evaluations"])["hypervolume"]:
        if n not in budgets:
            continue
        reference = runs[(runs.problem == problem) & (runs.evaluations == n)]
        row = {"set": group, "problem": problem, "method": method, "evaluations": n, "median_hv": hv.median()}
        if method == "model":
            for other in ("random", "optuna_tpe", "nsga2"):
                row[f"p_vs_{other}"] = p_value(hv, reference[reference.method == other].hypervolume)
        rows.append(row)
    return pd.DataFrame(rows)


def proposal_cost(seed: int = 0, results: int = 1000, proposals: int = 100) -> float:
    """Seconds per proposal of the core's model (``model_until=None``: no hand-over) once ``results`` results
    are on record (ZDT1)."""
    from tnas_plugin.strategies.evolution_core import EvolutionOptions, ParetoEvolution

    core = ParetoEvolution(search_space("zdt1"), EvolutionOptions(objectives={"f0": "min", "f1": "min"}, seed=seed,
                                                                  model_until=None))
    for _ in range(results):
        params = core.ask()
        core.tell(params, dict(zip(("f0", "f1"), objectives("zdt1", params))))
    started = time.perf_counter()
    for _ in range(proposals):
        params = core.ask()
        core.tell(params, dict(zip(("f0", "f1"), objectives("zdt1", params))))
    return (time.perf_counter() - started) / proposals


def verdict(summary: pd.DataFrame, at: int = 100) -> str:
    """The report set's outcome at ``at`` evaluations, in words."""
    rows = summary[(summary.set == "report") & (summary.evaluations == at)]
    model = rows[rows.method == "model"].set_index("problem")
    medians = rows.pivot(index="problem", columns="method", values="median_hv")
    ahead_random = [p for p in model.index if model.p_vs_random[p] < 0.05 and medians.model[p] > medians.random[p]]
    behind_tpe = [p for p in model.index if "optuna_tpe" in medians and model.p_vs_optuna_tpe[p] < 0.05
                  and medians.model[p] < medians.optuna_tpe[p]]
    ahead_tpe = [p for p in model.index if "optuna_tpe" in medians and model.p_vs_optuna_tpe[p] < 0.05
                 and medians.model[p] > medians.optuna_tpe[p]]
    last = summary[(summary.set == "report") & (summary.evaluations == summary.evaluations.max()) & (summary.method == "model")]
    behind_before = [p for p, q in zip(last.problem, last.p_vs_nsga2) if q < 0.05
                     and last.median_hv[last.problem == p].iloc[0] < rows_at(summary, p, "nsga2")]
    return (f"At {at} evaluations on the report set the core with model proposals is ahead of random search "
            f"(p < 0.05) on {len(ahead_random)} of {len(model)} problems ({', '.join(ahead_random) or 'none'}); "
            f"against Optuna's TPESampler it is ahead on {', '.join(ahead_tpe) or 'none'}, behind on "
            f"{', '.join(behind_tpe) or 'none'} (p < 0.05), level elsewhere. At {summary.evaluations.max()} "
            f"evaluations it is behind the core's plain NSGA-II (p < 0.05) on {', '.join(behind_before) or 'no problem'} "
            f"of the report set.")


def rows_at(summary: pd.DataFrame, problem: str, method: str) -> float:
    """The median hypervolume of ``method`` on ``problem`` at the largest budget."""
    rows = summary[(summary.problem == problem) & (summary.method == method)]
    return rows[rows.evaluations == rows.evaluations.max()].median_hv.iloc[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 300, 1000])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--tpe-cap", type=int, default=100, help="evaluations of a TPESampler run at most")
    parser.add_argument("--tune", action="store_true",
                        help="run the candidate defaults of TUNING_GRID on the tuning set instead of the comparison")
    parser.add_argument("--candidates", nargs="+", default=list(TUNING_GRID), choices=list(TUNING_GRID),
                        help="with --tune: the TUNING_GRID entries to run")
    parser.add_argument("--tuning-name", default="tuner_tuning",
                        help="with --tune: the tables' file name, without .md / .csv")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--from-runs", type=Path, default=None,
                        help="rebuild the tables and the plot from this tuner_runs.csv instead of running")
    args = parser.parse_args(argv)

    from machine import describe

    evals = max(args.budgets)
    checkpoints = tuple(sorted({*args.budgets, *range(50, evals + 1, 50)}))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.tune:
        tasks = [Task(p, label, s, evals, checkpoints, json.dumps(options))
                 for p in TUNING for label, options in TUNING_GRID.items() if label in args.candidates for s in seeds]
    else:
        tasks = [Task(p, m, s, min(evals, args.tpe_cap) if m == "optuna_tpe" else evals, checkpoints)
                 for p in args.problems for m in args.methods for s in seeds]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_runs:
        runs = pd.read_csv(args.from_runs)
        cpu_minutes = runs.drop_duplicates(["problem", "method", "seed"]).run_seconds.sum() / 60
        machine = (f"The runs ({cpu_minutes:.0f} CPU-minutes) are read from `{args.from_runs.name}`; the proposal "
                   f"cost was measured on {describe()}.")
    else:
        started = time.perf_counter()
        runs = run_all(tasks, args.jobs)
        wall = time.perf_counter() - started
        cpu_minutes = runs.drop_duplicates(["problem", "method", "seed"]).run_seconds.sum() / 60
        machine = (f"Machine: {describe()}. Wall time {wall:.0f} s with {args.jobs} processes, "
                   f"{cpu_minutes:.0f} CPU-minutes of runs.")
        if args.tune:
            return write_tuning(runs, args, machine)
        runs.to_csv(args.out / "tuner_runs.csv", index=False, float_format="%.6g")
    summary = table(runs, args.budgets)
    summary.to_csv(args.out / "tuner.csv", index=False, float_format="%.6g")
    cost = proposal_cost()
    lines = [f"# Tuner benchmark: {verdict(summary)}", "",
             f"Median hypervolume over {args.seeds} seeds (seeds {seeds.start}-{seeds.stop - 1}); "
             "p: two-sided Mann-Whitney U of the model-proposal core against random search and against Optuna's "
             f"TPESampler. Every method runs once to {evals} evaluations and is read at each budget (none knows "
             f"the budget); TPESampler runs are capped at {args.tpe_cap} evaluations (its cost per trial grows "
             "with the history). Defaults of the core were chosen on the tuning set only "
             "(`tuner_tuning.md`, `tuner_tuning_handover.md`, `tuner_tuning_split.md`). Reference points: "
             + ", ".join(f"{p} {REFERENCE[p]}" for p in args.problems) + ".", "",
             f"Proposal cost of the core's model (no hand-over, ZDT1, 30 variables) with 1,000 results on record: "
             f"{cost:.4f} s per proposal (mean over 100 proposals). {machine}", ""]
    for group in ("report", "tuning"):
        part = summary[summary.set == group]
        if part.empty:
            continue
        lines += [f"## {group.capitalize()} set", "",
                  "| problem | method | " + " | ".join(f"{n} evals" for n in args.budgets) + " |",
                  "|---|---|" + "---:|" * len(args.budgets)]
        for problem in [p for p in args.problems if p in set(part.problem)]:
            for method in args.methods:
                cells = []
                for n in args.budgets:
                    row = part[(part.problem == problem) & (part.method == method) & (part.evaluations == n)]
                    if row.empty:
                        cells.append("")
                        continue
                    cell = f"{row.median_hv.iloc[0]:.3f}"
                    if method == "model":
                        cell += (f" (p {row.p_vs_random.iloc[0]:.2g} / {row.p_vs_optuna_tpe.iloc[0]:.2g} / "
                                 f"{row.p_vs_nsga2.iloc[0]:.2g})")
                    cells.append(cell)
                lines.append(f"| {problem} | {LABELS[method]} | " + " | ".join(cells) + " |")
        lines += ["", "Model row: median (p vs random search / vs Optuna TPESampler / vs the core's plain NSGA-II); "
                  "p = 1 where the other method has no run at that budget.", ""]
    (args.out / "tuner.md").write_text("\n".join(lines))
    print("\n".join(lines))
    plot(runs, args, checkpoints)
    return 0


def write_tuning(runs: pd.DataFrame, args, machine: str) -> int:
    """The tuning set's median hypervolume per candidate default, and its mean rank over problems and budgets."""
    medians = runs[runs.evaluations.isin(args.budgets)].groupby(["method", "problem", "evaluations"]).hypervolume.median()
    wide = medians.unstack(["problem", "evaluations"])
    wide["mean_rank"] = wide.rank(ascending=False).mean(axis=1)
    wide = wide.sort_values("mean_rank")
    wide.to_csv(args.out / f"{args.tuning_name}.csv", float_format="%.6g")
    lines = [f"# Tuning set (ZDT1-3): best candidate default by mean rank: {wide.index[0]}", "",
             f"Median hypervolume over {args.seeds} seeds (seeds {args.first_seed}-{args.first_seed + args.seeds - 1}), "
             f"by problem and evaluations; mean rank over those columns (1 = best). {machine}", "",
             wide.to_markdown(floatfmt=".3f"), ""]
    (args.out / f"{args.tuning_name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def plot(runs: pd.DataFrame, args, checkpoints) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = [p for p in PROBLEMS if p in args.problems]
    fig, axes = plt.subplots(2, math.ceil(len(problems) / 2), figsize=(4.2 * math.ceil(len(problems) / 2), 7),
                             squeeze=False)
    medians = runs.groupby(["problem", "method", "evaluations"]).hypervolume.median()
    for ax, problem in zip(axes.flat, problems):
        for method in args.methods:
            series = medians[problem][method] if method in medians[problem] else None
            if series is not None:
                ax.plot(series.index, series.values, label=LABELS[method])
        ax.set_title(f"{problem} ({'tuning' if problem in TUNING else 'report'} set)")
        ax.set_xlabel("evaluations")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(problems):]:
        ax.axis("off")
    axes[0][0].set_ylabel("median hypervolume")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "tuner.png", dpi=110)


if __name__ == "__main__":
    sys.exit(main())
