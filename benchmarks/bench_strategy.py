"""TNASEvolution (NSGA-II over WAR and UAR) vs NNI's Random and RegularizedEvolution (scalar ``default``).

All three are the real NNI strategy classes, run the same way: in-process on NNI's
SequentialExecutionEngine over ``TTFSEyeSpace()``, with the same evaluator, trial budget and seeds. Each
run goes to the largest budget; a smaller budget's result is that run's first N trials (no strategy
knows the budget, so this equals a run stopped at N). Reported per strategy and budget, median over seeds:
hypervolume of the (WAR, UAR) front above the chance-level reference (1/7, 1/7), and best UAR.

The objective is pluggable: ``--evaluator module:factory`` with ``--evaluator-args JSON`` builds any NNI
evaluator reporting ``{"default", "war", "uar", ...}`` (e.g. ``tnas_plugin.strategies:TNASEvaluator`` with
``{"data_root": "data/synthetic-see"}`` for real trials). The default is :func:`surrogate_evaluator`, a
cheap analytic surrogate of WAR/UAR (no training; see :func:`surrogate_metrics`), so that many seeds and
budgets run in minutes. Its numbers compare search strategies, not recognition accuracy.

    python benchmarks/bench_strategy.py [--seeds 20] [--budgets 25 50 100 200 300] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
import zlib
from pathlib import Path

import nni
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.execution.event import ModelEventType
from nni.nas.space import SimplifiedModelSpace
from nni.nas.strategy import Random, RegularizedEvolution

from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.strategies import TNASEvolution
from tnas_plugin.strategies.trial import load_object

REFERENCE = (1 / 7, 1 / 7)  # chance level of 7 balanced classes
POPULATION = 20


def surrogate_metrics(spec) -> dict:
    """Analytic WAR/UAR of a candidate, shaped after what the SEE task rewards (an assumption, not data).

    WAR (dominated by the majority classes) grows with capacity and classifier width and prefers intensity
    frames and short clips; UAR (every class equally, incl. the rare, dynamic fear/surprise) prefers event
    frames, longer clips and max pooling of sparse events, and loses from wide heads (over-fitting the
    rare classes). Coarse time steps cost both. A deterministic +-0.015 "training noise" per candidate.
    """
    conv = sum(stage.channels * stage.kernel ** 2 for stage in spec.stages)
    capacity = math.log2(1 + conv) / math.log2(1 + 3 * 16 * 25)
    width = math.log2(spec.classifier_width / 8) / 3
    quantisation = {8: -0.05, 16: -0.015, 32: 0.0}[spec.steps_per_window]
    pools = [stage.pool for stage in spec.stages]
    war = (0.42 + 0.20 * capacity + 0.06 * width + quantisation
           + {"event": 0.0, "frame": 0.03, "both": 0.04}[spec.modality]
           + 0.02 * (spec.frames == 2) - 0.02 * (pools.count("none") == len(pools)))
    uar = (0.40 + 0.12 * capacity - 0.05 * width + quantisation
           + {"event": 0.05, "frame": -0.02, "both": 0.03}[spec.modality]
           + 0.06 * (spec.frames == 4) + 0.015 * pools.count("max") - 0.03 * (len(spec.stages) == 3) * width)
    noise = zlib.crc32(repr(spec).encode()) / 2 ** 32 - 0.5
    war, uar = war + 0.03 * noise, uar - 0.03 * noise
    synops = 1e3 * spec.steps_per_window * sum(stage.channels for stage in spec.stages) * spec.frames
    return {"default": (war + uar) / 2, "war": war, "uar": uar, "synops": synops,
            "latency_steps": spec.steps_per_window * (len(spec.stages) + 2)}


def _report_surrogate(model) -> None:
    nni.report_final_result(surrogate_metrics(model.spec))


def surrogate_evaluator() -> FunctionalEvaluator:
    return FunctionalEvaluator(_report_surrogate)


def strategies(seed: int) -> dict:
    """The compared strategies; NNI's with their own defaults except the shared population size."""
    return {
        "TNASEvolution": TNASEvolution(seed=seed, population_size=POPULATION),
        "RegularizedEvolution": RegularizedEvolution(population_size=POPULATION, sample_size=POPULATION // 4, seed=seed),
        "Random": Random(seed=seed),
    }


def run(strategy, evaluator, trials: int) -> list[dict]:
    """Metric dicts of the trials, in order (a failed trial: None)."""
    engine = SequentialExecutionEngine(max_model_count=trials, continue_on_failure=True)
    reported: dict[int, dict] = {}
    engine.register_model_event_callback(ModelEventType.FinalMetric, lambda e: reported.__setitem__(id(e.model), e.metric))
    strategy(SimplifiedModelSpace.from_model(TTFSEyeSpace(), evaluator), engine)
    return [reported.get(id(model)) for model in engine.list_models()]


def hypervolume(points, reference=REFERENCE) -> float:
    """Area dominated by ``points`` (both coordinates maximised) above ``reference``."""
    area, best_y = 0.0, reference[1]
    for x, y in sorted(points, reverse=True):
        if x > reference[0] and y > best_y:
            area += (x - reference[0]) * (y - best_y)
            best_y = y
    return area


def summarise(results: list[dict | None], budget: int) -> dict:
    done = [m for m in results[:budget] if m is not None]
    return {"hv": hypervolume([(m["war"], m["uar"]) for m in done]), "best_uar": max(m["uar"] for m in done)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100, 200, 300])
    parser.add_argument("--evaluator", help="evaluator factory 'module:name' (default: the built-in surrogate)")
    parser.add_argument("--evaluator-args", type=json.loads, default={})
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    logging.getLogger("nni").setLevel(logging.ERROR)
    logging.getLogger("tnas_plugin").setLevel(logging.ERROR)
    factory = load_object(args.evaluator) if args.evaluator else surrogate_evaluator
    evaluator = factory(**args.evaluator_args)

    started = time.time()
    table: dict[str, dict[int, list[dict]]] = {}
    for seed in range(args.seeds):
        for name, strategy in strategies(seed).items():
            results = run(strategy, evaluator, max(args.budgets))
            for budget in args.budgets:
                table.setdefault(name, {}).setdefault(budget, []).append(summarise(results, budget))
        print(f"seed {seed} done ({time.time() - started:.0f} s)", file=sys.stderr)

    rows = []
    for budget in args.budgets:
        ours = [r["hv"] for r in table["TNASEvolution"][budget]]
        for name in table:
            runs = table[name][budget]
            rows.append({
                "budget": budget, "strategy": name,
                "median_hv": statistics.median(r["hv"] for r in runs),
                "median_best_uar": statistics.median(r["best_uar"] for r in runs),
                "seeds_where_tnas_hv_higher": None if name == "TNASEvolution" else
                    sum(a > r["hv"] for a, r in zip(ours, runs)),
            })
    evaluator_name = args.evaluator or "surrogate_evaluator"
    summary = {"evaluator": evaluator_name, "evaluator_args": args.evaluator_args, "seeds": args.seeds,
               "population_size": POPULATION, "reference": REFERENCE, "rows": rows,
               "wall_s": round(time.time() - started, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_strategy.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# Strategy benchmark ({evaluator_name}, {args.seeds} seeds, medians; HV reference {REFERENCE[0]:.3f})", "",
             "| budget | strategy | median HV (WAR, UAR) | median best UAR | seeds TNAS HV higher |",
             "|---:|---|---:|---:|---:|"]
    for r in rows:
        wins = "" if r["seeds_where_tnas_hv_higher"] is None else f"{r['seeds_where_tnas_hv_higher']}/{args.seeds}"
        lines.append(f"| {r['budget']} | {r['strategy']} | {r['median_hv']:.4f} | {r['median_best_uar']:.4f} | {wins} |")
    (args.out / "bench_strategy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
