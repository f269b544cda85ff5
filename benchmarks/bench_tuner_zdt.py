"""The evolution core (``ParetoEvolution``, as the nnictl tuner runs it) vs Optuna's ``NSGAIISampler`` and
random search on the ZDT problems (Zitzler, Deb and Thiele, "Comparison of multiobjective evolutionary
algorithms: empirical results", Evolutionary Computation 8(2):173-195, 2000), written from the formulas:

- ``zdt1``, ``zdt2``, ``zdt3``: 30 continuous variables in [0, 1] (``uniform`` in NNI's search space).
- ``zdt1_mixed``: ZDT1 with x16..x30 each a ``choice`` among the 11 values 0, 0.1, ..., 1.

Both objectives are minimised. Each method runs ``--evals`` evaluations per seed in the ask/tell loop
(one candidate at a time); the hypervolume of the front found after the first N evaluations (reference
point (11, 11), ``moocore.hypervolume``) is reported at each budget, median over ``--seeds`` seeds.
Optuna runs with its defaults apart from the seed (population 50, its default crossover and mutation);
random search draws every variable independently from its prior; ``ParetoEvolution`` runs with
``EvolutionOptions`` defaults apart from the objectives and the seed.

    pip install -r requirements-bench.txt      # optuna (benchmark only)
    python benchmarks/bench_tuner_zdt.py                      # 10 seeds, budgets 100 300 1000, 2 processes
    python benchmarks/bench_tuner_zdt.py --seeds 3 --jobs 1   # quicker

Results: ``results/tuner_zdt_runs.csv`` (every run and budget), ``results/tuner_zdt.csv`` and ``.md``
(medians), ``results/tuner_zdt.png`` (median hypervolume against evaluations).
"""
from __future__ import annotations

import argparse
import csv
import logging
import math
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tnas_plugin.pareto import hypervolume

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

N_VARS = 30
REFERENCE = (11.0, 11.0)
GRID = [round(i / 10, 1) for i in range(11)]
PROBLEMS = ("zdt1", "zdt2", "zdt3", "zdt1_mixed")
METHODS = ("tnas", "optuna", "random")
LABELS = {"tnas": "TNAS-ER ParetoEvolution", "optuna": "Optuna NSGAIISampler", "random": "random search"}


def zdt(problem: str, x: list[float]) -> tuple[float, float]:
    """ZDT1/2/3 (``zdt1_mixed`` is ZDT1) of the 30 variables ``x``; both objectives minimised."""
    f1 = x[0]
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    ratio = f1 / g
    if problem == "zdt2":
        h = 1 - ratio ** 2
    elif problem == "zdt3":
        h = 1 - math.sqrt(ratio) - ratio * math.sin(10 * math.pi * f1)
    else:
        h = 1 - math.sqrt(ratio)
    return f1, g * h


def search_space(problem: str) -> dict:
    space = {}
    for i in range(1, N_VARS + 1):
        if problem == "zdt1_mixed" and i >= 16:
            space[f"x{i}"] = {"_type": "choice", "_value": GRID}
        else:
            space[f"x{i}"] = {"_type": "uniform", "_value": [0.0, 1.0]}
    return space


def run_tnas(problem: str, seed: int, evals: int) -> list[tuple[float, float]]:
    from tnas_plugin.strategies.evolution_core import EvolutionOptions, ParetoEvolution

    core = ParetoEvolution(search_space(problem), EvolutionOptions(objectives={"f1": "min", "f2": "min"}, seed=seed))
    points = []
    for _ in range(evals):
        params = core.ask()
        f1, f2 = zdt(problem, [params[f"x{i}"] for i in range(1, N_VARS + 1)])
        core.tell(params, {"f1": f1, "f2": f2})
        points.append((f1, f2))
    return points


def run_optuna(problem: str, seed: int, evals: int) -> list[tuple[float, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {
        label: optuna.distributions.CategoricalDistribution(entry["_value"]) if entry["_type"] == "choice"
        else optuna.distributions.FloatDistribution(*entry["_value"])
        for label, entry in search_space(problem).items()
    }
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed))
    points = []
    for _ in range(evals):
        trial = study.ask(distributions)
        f1, f2 = zdt(problem, [trial.params[f"x{i}"] for i in range(1, N_VARS + 1)])
        study.tell(trial, [f1, f2])
        points.append((f1, f2))
    return points


def run_random(problem: str, seed: int, evals: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    space = search_space(problem)
    points = []
    for _ in range(evals):
        x = [rng.choice(entry["_value"]) if entry["_type"] == "choice" else rng.uniform(*entry["_value"])
             for entry in space.values()]
        points.append(zdt(problem, x))
    return points


RUNNERS = {"tnas": run_tnas, "optuna": run_optuna, "random": run_random}


def one_run(task):
    problem, method, seed, evals, checkpoints = task
    started = time.perf_counter()
    points = RUNNERS[method](problem, seed, evals)
    seconds = time.perf_counter() - started
    return problem, method, seed, seconds, {n: hypervolume(points[:n], REFERENCE) for n in checkpoints}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    evals = max(args.budgets)
    checkpoints = sorted({*args.budgets, *range(50, evals + 1, 50)})
    tasks = [(p, m, s, evals, checkpoints) for p in args.problems for m in args.methods for s in range(args.seeds)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one_run, tasks))
    wall = time.perf_counter() - started

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "tuner_zdt_runs.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["problem", "method", "seed", "evaluations", "hypervolume", "run_seconds"])
        for problem, method, seed, seconds, hvs in results:
            for n, hv in hvs.items():
                writer.writerow([problem, method, seed, n, f"{hv:.6f}", f"{seconds:.2f}"])

    def median(problem, method, n):
        return statistics.median(h[n] for p, m, _, _, h in results if p == problem and m == method)

    def median_seconds(problem, method):
        return statistics.median(s for p, m, _, s, _ in results if p == problem and m == method)

    with open(args.out / "tuner_zdt.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["problem", "method", *[f"hv_{n}" for n in args.budgets], "median_run_seconds"])
        for problem in args.problems:
            for method in args.methods:
                writer.writerow([problem, method, *[f"{median(problem, method, n):.4f}" for n in args.budgets],
                                 f"{median_seconds(problem, method):.2f}"])

    from machine import describe

    lines = [
        "# ZDT benchmark: median hypervolume (reference (11, 11)) over "
        f"{args.seeds} seeds, {N_VARS} variables", "",
        f"Machine: {describe()}. Wall time of the whole run: {wall:.0f} s with {args.jobs} processes.", "",
        "| problem | method | " + " | ".join(f"{n} evals" for n in args.budgets) + " | s per run |",
        "|---|---|" + "---:|" * (len(args.budgets) + 1),
    ]
    for problem in args.problems:
        for method in args.methods:
            lines.append(f"| {problem} | {LABELS[method]} | "
                         + " | ".join(f"{median(problem, method, n):.3f}" for n in args.budgets)
                         + f" | {median_seconds(problem, method):.1f} |")
    (args.out / "tuner_zdt.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.problems), figsize=(4.2 * len(args.problems), 3.6), squeeze=False)
    for ax, problem in zip(axes[0], args.problems):
        for method in args.methods:
            ax.plot(checkpoints, [median(problem, method, n) for n in checkpoints], label=LABELS[method])
        ax.set_title(problem)
        ax.set_xlabel("evaluations")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"median hypervolume, ref {REFERENCE}")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "tuner_zdt.png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
