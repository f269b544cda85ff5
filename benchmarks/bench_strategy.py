"""TNASEvolution (NSGA-II over WAR and UAR) vs NNI's Random and RegularizedEvolution (scalar ``default``).

All three are the real NNI strategy classes, run the same way: in-process on NNI's
SequentialExecutionEngine over a ``TTFSEyeSpace``, with the same evaluator, trial budget and seeds. Each
run goes to the largest budget; a smaller budget's result is that run's first N trials (no strategy
knows the budget, so this equals a run stopped at N). Reported per strategy and budget, median over seeds:
hypervolume of the (WAR, UAR) front above the chance-level reference (1/7, 1/7), best UAR, and on how many
seeds TNASEvolution's hypervolume is higher than each other strategy's.

Three objectives (``--mode``):

``tabular`` (the default; NAS-Bench style): every candidate of a small but real ``TTFSEyeSpace``
(:data:`TABLE_SPACE`, 96 distinct networks) is trained and measured once, for real, with
``measure_candidate`` (ANN-assisted training, TTFS conversion, discrete-time fine-tuning, test-split
WAR/UAR, SynOps, energy) on the built-in synthetic data; the table is cached in
``results/space_table.csv`` (one row per candidate, written as it is measured: an interrupted build
resumes, a re-run reuses it). The strategies then search that same space with an NNI
``FunctionalEvaluator`` that looks each proposed candidate's measured metrics up in the table and reports
them. The exhaustive table also gives the true optimum: the hypervolume of the whole space's front.
Results: ``bench_strategy_table.md`` / ``.json``.

``surrogate``: a cheap analytic surrogate of WAR/UAR over the full default ``TTFSEyeSpace()`` (no training;
see :func:`surrogate_metrics`); its numbers compare search strategies on an assumed landscape, not on data.
Results: ``bench_strategy.md`` / ``.json``.

``--evaluator module:factory`` with ``--evaluator-args JSON`` builds any NNI evaluator reporting
``{"default", "war", "uar", ...}`` (e.g. ``tnas_plugin.strategies:TNASEvaluator`` with
``{"data_root": "data/synthetic-see"}`` for real trials, every proposal trained anew) over ``TTFSEyeSpace()``.

    python benchmarks/bench_strategy.py                      # tabular: build/reuse the table, 100 seeds, budgets 10 20 40 60
    python benchmarks/bench_strategy.py --table-only         # only build (or complete) the table
    python benchmarks/bench_strategy.py --mode surrogate [--seeds 20] [--budgets 25 50 100 200 300]
"""
from __future__ import annotations

import argparse
import csv
import itertools
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

from machine import describe  # benchmarks/machine.py
from tnas_plugin import pareto
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.strategies import TNASEvolution
from tnas_plugin.strategies.nni_records import load_object

REFERENCE = (1 / 7, 1 / 7)  # chance level of 7 balanced classes
POPULATION = 20
RESULTS = Path(__file__).parent / "results"

# The tabular space: one conv stage (a deeper stage's labels would be inert duplicates), 2 x 2 x 2 x 3 x 2 x 2
# = 96 distinct candidates (channels, pool, width, modality, frames, steps per window).
TABLE_SPACE = dict(resolution=32, stage_choices=(1,), channel_choices=(4, 8), kernel_choices=(3,),
                   pool_choices=("max", "avg"), width_choices=(16, 32), modality_choices=("event", "frame", "both"),
                   frame_choices=(2, 4), steps_choices=(8, 16))
TABLE_METRICS = ("war", "uar", "default", "params", "synops", "energy_uj", "latency_steps", "seconds")
TABLE_POPULATION = 8  # NSGA-II population / RegularizedEvolution population at budgets of 10-40 trials


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


# ---------------------------------------------------------------------------------------------- tabular

def spec_key(spec) -> str:
    """A candidate's identity in the table: its CandidateSpec (inert labels do not enter it)."""
    stages = "|".join(f"{s.channels}x{s.kernel}{s.pool}" for s in spec.stages)
    return f"{spec.modality}/f{spec.frames}/s{spec.steps_per_window}/r{spec.resolution}/{stages}/w{spec.classifier_width}"


def enumerate_space(space: TTFSEyeSpace) -> list[tuple[dict, object]]:
    """Every distinct candidate of ``space`` as (sample, frozen model), in a fixed order."""
    labels = space.simplify()
    names = sorted(labels)
    candidates, seen = [], set()
    for values in itertools.product(*(labels[name].values for name in names)):
        sample = dict(zip(names, values))
        model = space.freeze(sample)
        key = spec_key(model.spec)
        if key not in seen:
            seen.add(key)
            candidates.append((sample, model))
    return candidates


def build_table(path: Path, data_root: str, epochs: int, seed: int = 0, eval_starts: int = 4) -> list[dict]:
    """Measure every candidate of :data:`TABLE_SPACE` once (missing rows only) and return the table rows."""
    from tnas_plugin.data import SynthConfig, synthesize
    from tnas_plugin.measurement import MeasurementSettings, measure_candidate

    if not Path(data_root, "emotion.json").exists():
        print(f"generating the synthetic data set in {data_root}", file=sys.stderr)
        synthesize(data_root, SynthConfig(), progress=True)
    settings = MeasurementSettings.from_options(data_root, epochs=epochs, eval_starts=eval_starts, seed=seed)
    candidates = enumerate_space(TTFSEyeSpace(**TABLE_SPACE))
    rows = read_table(path)
    stale = [r for r in rows.values() if int(r["epochs"]) != epochs or int(r["seed"]) != seed]
    if stale:
        raise SystemExit(f"{path} was measured with other settings (epochs/seed); delete it or pass matching --table-epochs")
    labels = sorted(candidates[0][0])
    fields = ["key", *labels, *TABLE_METRICS, "epochs", "seed", "eval_starts"]
    missing = [(sample, model) for sample, model in candidates if spec_key(model.spec) not in rows]
    if missing:
        print(f"measuring {len(missing)} of {len(candidates)} candidates ({epochs} epochs each) into {path}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    new_file = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new_file:
            writer.writeheader()
        started = time.time()
        for n, (sample, model) in enumerate(missing, 1):
            t0 = time.perf_counter()
            metrics = measure_candidate(model.spec, model.ann, settings).metrics
            row = {"key": spec_key(model.spec), **sample, **{m: metrics.get(m) for m in TABLE_METRICS if m != "seconds"},
                   "seconds": round(time.perf_counter() - t0, 2), "epochs": epochs, "seed": seed, "eval_starts": eval_starts}
            writer.writerow(row)
            handle.flush()
            rows[row["key"]] = {k: str(v) for k, v in row.items()}
            print(f"[{n}/{len(missing)}, {time.time() - started:.0f} s] {row['key']}: war {row['war']:.3f} "
                  f"uar {row['uar']:.3f} ({row['seconds']} s)", file=sys.stderr, flush=True)
    return [rows[spec_key(model.spec)] for _, model in candidates]


def read_table(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {row["key"]: row for row in csv.DictReader(handle)}


_TABLES: dict[str, dict[str, dict]] = {}


def _report_tabular(model, table: str) -> None:
    """NNI trial body: report the candidate's measured metrics from the table (no training)."""
    if table not in _TABLES:
        _TABLES[table] = read_table(Path(table))
    row = _TABLES[table][spec_key(model.spec)]
    metrics = {m: float(row[m]) for m in TABLE_METRICS if m != "seconds"}
    metrics["default"] = (metrics["war"] + metrics["uar"]) / 2
    nni.report_final_result(metrics)


def tabular_evaluator(table: str) -> FunctionalEvaluator:
    return FunctionalEvaluator(_report_tabular, table=str(table))


# ---------------------------------------------------------------------------------------------- search

def strategies(seed: int, population: int = POPULATION) -> dict:
    """The compared strategies; NNI's with their own defaults except the shared population size."""
    return {
        "TNASEvolution": TNASEvolution(seed=seed, population_size=population),
        "RegularizedEvolution": RegularizedEvolution(population_size=population, sample_size=max(2, population // 4), seed=seed),
        "Random": Random(seed=seed),
    }


def run(strategy, evaluator, trials: int, space_kwargs: dict | None = None) -> list[dict]:
    """Metric dicts of the trials, in order (a failed trial: None)."""
    engine = SequentialExecutionEngine(max_model_count=trials, continue_on_failure=True)
    reported: dict[int, dict] = {}
    engine.register_model_event_callback(ModelEventType.FinalMetric, lambda e: reported.__setitem__(id(e.model), e.metric))
    strategy(SimplifiedModelSpace.from_model(TTFSEyeSpace(**(space_kwargs or {})), evaluator), engine)
    return [reported.get(id(model)) for model in engine.list_models()]


def hypervolume(points, reference=REFERENCE) -> float:
    """Area dominated by ``points`` (both coordinates maximised) above ``reference``."""
    return pareto.hypervolume([(-x, -y) for x, y in points], (-reference[0], -reference[1]))


def summarise(results: list[dict | None], budget: int) -> dict:
    done = [m for m in results[:budget] if m is not None]
    return {"hv": hypervolume([(m["war"], m["uar"]) for m in done]), "best_uar": max(m["uar"] for m in done),
            "trials": len(results[:budget])}


def compare(evaluator, seeds: int, budgets: list[int], population: int, space_kwargs: dict | None) -> tuple[list[dict], dict]:
    started = time.time()
    table: dict[str, dict[int, list[dict]]] = {}
    for seed in range(seeds):
        for name, strategy in strategies(seed, population).items():
            results = run(strategy, evaluator, max(budgets), space_kwargs)
            for budget in budgets:
                table.setdefault(name, {}).setdefault(budget, []).append(summarise(results, budget))
        print(f"seed {seed} done ({time.time() - started:.0f} s)", file=sys.stderr)
    rows = []
    for budget in budgets:
        ours = [r["hv"] for r in table["TNASEvolution"][budget]]
        for name in table:
            runs = table[name][budget]
            rows.append({
                "budget": budget, "strategy": name,
                "median_hv": statistics.median(r["hv"] for r in runs),
                "mean_hv": statistics.fmean(r["hv"] for r in runs),
                "median_best_uar": statistics.median(r["best_uar"] for r in runs),
                "min_trials": min(r["trials"] for r in runs),
                "hv_per_seed": [r["hv"] for r in runs],
                "seeds_where_tnas_hv_higher": None if name == "TNASEvolution" else
                    sum(a > r["hv"] for a, r in zip(ours, runs)),
                "seeds_where_tnas_hv_lower": None if name == "TNASEvolution" else
                    sum(a < r["hv"] for a, r in zip(ours, runs)),
            })
    return rows, {"search_wall_s": round(time.time() - started, 1)}


def table_lines(rows: list[dict], seeds: int, optimum: dict | None = None) -> list[str]:
    lines = ["| budget | strategy | median HV (WAR, UAR) | mean HV | " + ("median HV / optimum | " if optimum else "")
             + "median best UAR | seeds TNAS HV higher / lower |" + (" seeds at optimum HV |" if optimum else ""),
             "|---:|---|---:|---:|" + ("---:|" if optimum else "") + "---:|---:|" + ("---:|" if optimum else "")]
    for r in rows:
        wins = "" if r["seeds_where_tnas_hv_higher"] is None else \
            f"{r['seeds_where_tnas_hv_higher']} / {r['seeds_where_tnas_hv_lower']} of {seeds}"
        ratio = f" {r['median_hv'] / optimum['hv']:.3f} |" if optimum else ""
        at_optimum = f" {sum(hv >= optimum['hv'] - 1e-12 for hv in r['hv_per_seed'])} |" if optimum else ""
        lines.append(f"| {r['budget']} | {r['strategy']} | {r['median_hv']:.4f} | {r['mean_hv']:.4f} |{ratio} {r['median_best_uar']:.4f} | {wins} |{at_optimum}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("tabular", "surrogate"), default="tabular",
                        help="objective (ignored with --evaluator); default: tabular")
    parser.add_argument("--seeds", type=int, help="default: 100 (tabular: seconds per seed), 20 (otherwise)")
    parser.add_argument("--budgets", type=int, nargs="+", help="default: 10 20 40 60 (tabular), 25 50 100 200 300 (otherwise)")
    parser.add_argument("--population", type=int, help=f"default: {TABLE_POPULATION} (tabular), {POPULATION} (otherwise)")
    parser.add_argument("--evaluator", help="evaluator factory 'module:name' over TTFSEyeSpace() (overrides --mode)")
    parser.add_argument("--evaluator-args", type=json.loads, default={})
    parser.add_argument("--data", default=str(RESULTS / "synthetic-see"), help="tabular: SEE tree (generated if absent)")
    parser.add_argument("--table", type=Path, default=RESULTS / "space_table.csv", help="tabular: the cached table")
    parser.add_argument("--table-epochs", type=int, default=20, help="tabular: training epochs per candidate (ANN + 1 fine-tuning)")
    parser.add_argument("--table-only", action="store_true", help="tabular: build or complete the table, then stop")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the table build (the table records one setting: results differ in the last digits across thread counts)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.getLogger("nni").setLevel(logging.ERROR)
    logging.getLogger("tnas_plugin").setLevel(logging.ERROR)
    mode = "evaluator" if args.evaluator else args.mode
    tabular = mode == "tabular"
    budgets = args.budgets or ([10, 20, 40, 60] if tabular else [25, 50, 100, 200, 300])
    args.seeds = args.seeds or (100 if tabular else 20)
    population = args.population or (TABLE_POPULATION if tabular else POPULATION)
    summary: dict = {"mode": mode, "seeds": args.seeds, "population_size": population, "reference": REFERENCE}

    optimum = None
    space_kwargs = None
    if tabular:
        import torch

        torch.set_num_threads(args.threads)
        summary["machine"] = describe()
        t0 = time.time()
        table = build_table(args.table, args.data, args.table_epochs)
        build_s = time.time() - t0
        if args.table_only:
            print(f"table complete: {len(table)} candidates in {args.table} ({build_s:.0f} s this run)")
            return 0
        evaluator = tabular_evaluator(str(args.table.resolve()))
        space_kwargs = TABLE_SPACE
        points = [(float(r["war"]), float(r["uar"])) for r in table]
        front = [r["key"] for r in table if not any(w >= float(r["war"]) and u >= float(r["uar"]) and (w, u) != (float(r["war"]), float(r["uar"]))
                                                   for w, u in points)]
        optimum = {"hv": hypervolume(points), "best_uar": max(u for _, u in points), "best_war": max(w for w, _ in points),
                   "front": front}
        summary.update(space=dict(TABLE_SPACE), candidates=len(table), table=str(args.table),
                       table_epochs=args.table_epochs, table_measure_s=round(sum(float(r["seconds"]) for r in table), 1),
                       table_median_s=statistics.median(float(r["seconds"]) for r in table),
                       table_war_range=[min(w for w, _ in points), max(w for w, _ in points)],
                       table_uar_range=[min(u for _, u in points), max(u for _, u in points)],
                       table_war_uar_correlation=statistics.correlation([w for w, _ in points], [u for _, u in points]),
                       optimum=optimum)
        evaluator_name = "tabular (measured once per candidate)"
    elif mode == "evaluator":
        evaluator = load_object(args.evaluator)(**args.evaluator_args)
        evaluator_name = args.evaluator
        summary["evaluator_args"] = args.evaluator_args
    else:
        evaluator = surrogate_evaluator()
        evaluator_name = "surrogate_evaluator"
    summary["evaluator"] = evaluator_name

    rows, timing = compare(evaluator, args.seeds, budgets, population, space_kwargs)
    summary.update(rows=rows, **timing)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bench_strategy_table" if tabular else "bench_strategy"
    (args.out / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n")
    if tabular:
        lines = [f"# Strategy benchmark on a measured table ({args.seeds} seeds, medians; HV reference (1/7, 1/7))", "",
                 f"Space: `TTFSEyeSpace(**{TABLE_SPACE})`, {len(table)} distinct candidates, each trained and measured once "
                 f"(`measure_candidate`, {args.table_epochs} epochs = {args.table_epochs - 1} ANN + 1 discrete TTFS fine-tuning, "
                 f"seed 0, 4 test start points per sequence) on the built-in synthetic data; table `{args.table.name}`, "
                 f"{summary['table_measure_s']:.0f} s of measurement (median {summary['table_median_s']:.1f} s per candidate).",
                 f"Table WAR {summary['table_war_range'][0]:.3f}-{summary['table_war_range'][1]:.3f}, "
                 f"UAR {summary['table_uar_range'][0]:.3f}-{summary['table_uar_range'][1]:.3f}. "
                 f"**Optimum** (whole table): HV {optimum['hv']:.4f}, best UAR {optimum['best_uar']:.4f}, "
                 f"{len(optimum['front'])} candidate(s) on the true front; WAR-UAR correlation over the table "
                 f"{summary['table_war_uar_correlation']:.3f}.",
                 f"Strategies: population {population} (TNASEvolution NSGA-II; RegularizedEvolution sample size "
                 f"{max(2, population // 4)}); Random and RegularizedEvolution optimise `default` = (WAR + UAR) / 2.",
                 f"Machine: {summary['machine']}. Search wall time {summary['search_wall_s']:.0f} s.", ""]
        lines += table_lines(rows, args.seeds, optimum)
    else:
        lines = [f"# Strategy benchmark ({evaluator_name}, {args.seeds} seeds, medians; HV reference {REFERENCE[0]:.3f})", ""]
        lines += table_lines(rows, args.seeds)
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
