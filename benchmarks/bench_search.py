"""Does the search pay off? TNASEvolution vs NNI's Random and RegularizedEvolution on the real eye space.

For each seed, on a synthetic SEE-like set with more subjects than the demo's (``--subjects``):

1. Search: each strategy runs on :class:`~tnas_plugin.search_spaces.TTFSEyeSpace` with the same evaluator
   (:func:`tnas_plugin.strategies.evaluator.evaluate_candidate`, the demo's trial settings: ``--epochs``
   epochs, fitness and costs on the validation split) and the same budget of evaluator wall time
   (``--search-seconds``) or of trials (``--search-trials``, independent of the machine's load), in-process on NNI's ``SequentialExecutionEngine`` (one torch thread), so that
   no strategy gains or loses from process start-up. TNASEvolution runs as ``tnas-er search`` configures
   it (objectives validation WAR, UAR and energy; the hand-crafted network and its one-change neighbours
   seeded; de-duplication on the canonical form); Random and RegularizedEvolution (Real et al., AAAI 2019)
   are NNI's, with their default de-duplication and the same population size, maximising the trial's
   ``default`` (mean of WAR and UAR).
2. Finalists: ``--finalists`` of each strategy's trials promoted as ``tnas-er search`` does
   (:func:`tnas_plugin.jobs.search_job.pick_finalists`: in turn the most accurate on validation overall,
   within the hand-crafted network's energy, half of it and a quarter of it; for NNI's strategies, which do
   not seed the hand-crafted network, its retrained validation energy), retrained for ``--final-epochs``.
   Every choice is made on validation, as the job makes it: the chosen network is the finalist with the
   best validation fitness within the hand-crafted network's validation energy
   (:func:`tnas_plugin.jobs.search_job.choose`), and the half-energy network is the finalist with the best
   validation UAR among those at most half of it. Their test metrics are read once. Finalists and baselines
   are all trained on the training split (not retrained on training + validation), so that the Spearman
   rank correlation of the finalists' validation UAR and test UAR per seed says whether validation
   predicts test.
3. Baselines: the hand-crafted TTFS CNN trained exactly like the finalists and its ANN twin
   (:func:`tnas_plugin.jobs.search_job.measure_baselines`, ``--baselines fast``).
4. Hypervolume of (UAR, energy) with the reference point (UAR 1/7, 2x the hand-crafted network's energy):
   on validation over every trial, and on test over the retrained finalists.

Low fidelity: the same number of random distinct candidates (``--fidelity``) is measured at ``--epochs``
and at ``--final-epochs``; the Spearman rank correlation of their validation UARs says whether the short
trials rank candidates like full training does.

Every (seed, strategy) search, every retrained network (per seed, keyed on the network it builds), every
seed's baselines and the fidelity study are cached as JSON under ``--cache``; a re-run only computes what is
missing, so the benchmark can run in several sittings. A process given ``--compute-seeds`` only fills the
cache; a run without it writes the tables.
Writes ``bench_search.csv`` (every retrained network on test), ``bench_search_summary.csv`` (per strategy,
mean and 95 % t-interval over seeds), ``bench_search_fidelity.csv``, ``bench_search.png`` and
``bench_search.md`` to ``--out``.

    python benchmarks/bench_search.py                                        # 5 seeds, one process
    python benchmarks/bench_search.py --compute-seeds 0,2,4 --fidelity 0 &   # or shared by two processes,
    python benchmarks/bench_search.py --compute-seeds 1,3                    # then re-run to collect the tables

The proposal comparison (docs/ARCHITECTURE.md, "Proposal model"): ``--strategies
TNASEvolution-model,TNASEvolution-nsga2,Random-seeded`` runs the evolution core with model proposals
(``proposals="model"``), as plain NSGA-II (``proposals="nsga2"``, ``initial_design="random"``) and NNI's
``Random``, each first proposing the job's initial population (the hand-crafted network and its one-change
neighbours); ``--first-seed`` moves the seeds off those of other studies, e.g.

    python benchmarks/bench_search.py --strategies TNASEvolution-model,TNASEvolution-nsga2,Random-seeded \\
        --search-trials 100 --first-seed 200 --seeds 5
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from nni.nas.strategy import Random, RegularizedEvolution
from nni.nas.strategy.utils import DuplicationError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402  (benchmarks/machine.py)

STRATEGIES = ("TNASEvolution", "Random", "RegularizedEvolution")
# The proposal comparison (--strategies with these names): the core with model proposals, the core as plain NSGA-II
# (its start as before the proposal model), and NNI's Random, all three starting from the job's initial population.
COMPARISON = ("TNASEvolution-model", "TNASEvolution-nsga2", "Random-seeded")
# The pre-registered confirmation run (benchmarks/README.md): every strategy from the same initial population, the
# job's (the hand-crafted network and its one-change neighbours), and TNASEvolution also without it.
CONFIRMATION = ("TNASEvolution", "Random-seeded", "RegularizedEvolution-seeded", "TNASEvolution-unseeded")
ROOT = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run: first-seed .. first-seed + seeds - 1")
    parser.add_argument("--compute-seeds", default=None,
                        help="comma-separated seeds this process may compute (default: all); the others are only "
                             "read from the cache, so several processes can share the seeds")
    parser.add_argument("--subjects", type=int, default=160, help="synthetic subjects (the demo has 24)")
    parser.add_argument("--test-fraction", type=float, default=0.32,
                        help="share of each subject's sequences (its latest takes) in the testing split: SEE's "
                             "767/2,405; with 160 subjects, 1,120 test sequences")
    parser.add_argument("--data-seed", type=int, default=0,
                        help="seed of the synthetic set's generator (a fresh set for a confirmation run)")
    parser.add_argument("--data", type=Path, default=None,
                        help="default: data/bench-search-see-<subjects>-<test fraction>, plus -data<seed> unless 0")
    parser.add_argument("--search-seconds", type=float, default=700.0,
                        help="evaluator wall time per search (700 s: about the demo's 100 trials)")
    parser.add_argument("--search-trials", type=int, default=None,
                        help="trials per search instead of a time budget (the same on a loaded machine)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs per trial (the demo's)")
    parser.add_argument("--final-epochs", type=int, default=50)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--finalists", type=int, default=8)
    parser.add_argument("--fidelity", type=int, default=20, help="candidates of the rank-correlation study (0: skip)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--cache", type=Path, default=None,
                        help="default: results/bench_search_cache/<data>-<search seconds>s-<epochs>-<final epochs>")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    args.data = args.data or Path(f"data/bench-search-see-{args.subjects}-{args.test_fraction:g}"
                                  + (f"-data{args.data_seed}" if args.data_seed else ""))
    budget = f"{args.search_trials}trials" if args.search_trials else f"{args.search_seconds:g}s"
    args.cache = args.cache or (ROOT / "results" / "bench_search_cache" /
                                f"{args.data.name}-{budget}-{args.epochs}-{args.final_epochs}")
    args.seed_range = range(args.first_seed, args.first_seed + args.seeds)
    args.compute_seeds = (set(args.seed_range) if args.compute_seeds is None
                          else {int(seed) for seed in args.compute_seeds.split(",") if seed})
    return args


def ensure_data(args) -> Path:
    from tnas_plugin.data import SynthConfig, has_annotations, synthesize

    if not has_annotations(args.data):
        print(f"generating {args.subjects} subjects into {args.data}", flush=True)
        synthesize(args.data, SynthConfig(subjects=args.subjects, test_fraction=args.test_fraction, seed=args.data_seed),
                   progress=True, workers=2)
    return args.data


def search_options(args, seed: int):
    from tnas_plugin.jobs.search_job import SearchOptions

    return SearchOptions(data=args.data, seed=seed, epochs=args.epochs, final_epochs=args.final_epochs,
                         population=args.population, finalists=args.finalists, final_training="training",
                         baselines="fast")


def make_strategy(name: str, options):
    from tnas_plugin.strategies import TNASEvolution

    if name == "TNASEvolution":
        return TNASEvolution(**options.evolution_args())
    if name == "TNASEvolution-model":
        return TNASEvolution(**options.evolution_args(), proposals="model")
    if name == "TNASEvolution-nsga2":
        return TNASEvolution(**options.evolution_args(), proposals="nsga2", initial_design="random")
    if name == "TNASEvolution-unseeded":
        return TNASEvolution(**{**options.evolution_args(), "initial_population": []})
    if name == "Random":
        return Random(seed=options.seed)
    if name == "Random-seeded":
        return SeededRandom(options.initial_population(), seed=options.seed)
    evolution = dict(population_size=options.population, sample_size=max(2, options.population // 4), seed=options.seed)
    if name == "RegularizedEvolution":
        return RegularizedEvolution(**evolution)
    if name == "RegularizedEvolution-seeded":
        return SeededRegularizedEvolution(options.initial_population(), **evolution)
    raise ValueError(f"unknown strategy {name!r}; expected one of {sorted({*STRATEGIES, *COMPARISON, *CONFIRMATION})}")


class SeededRandom(Random):
    """NNI's ``Random`` proposing the ``initial`` samples first (skipping any it would not run twice), then its own."""

    def __init__(self, initial: list[dict], **kwargs):
        super().__init__(**kwargs)
        self.initial = [dict(sample) for sample in initial]

    def _run(self) -> None:
        while self.initial:
            if not self.wait_for_resource():
                return
            if (model := _next_initial(self)) is not None:
                self.engine.submit_models(model)
        super()._run()


def _next_initial(strategy) -> object | None:
    """The next of ``strategy.initial`` samples not proposed before, frozen; ``None`` once they are used up."""
    while strategy.initial:
        sample = strategy.initial.pop(0)
        try:
            strategy._dedup_helper.dedup(sample)
        except DuplicationError:
            continue
        return strategy.model_space.freeze(sample)
    return None


class SeededRegularizedEvolution(RegularizedEvolution):
    """NNI's ``RegularizedEvolution`` whose first individuals are the ``initial`` samples (skipping any it would
    not run twice), then its own: random ones until the population is full, mutations after."""

    def __init__(self, initial: list[dict], **kwargs):
        super().__init__(**kwargs)
        self.initial = [dict(sample) for sample in initial]

    def random(self):
        model = _next_initial(self)
        return super().random() if model is None else model

    def new_individual(self):
        model = _next_initial(self)
        return super().new_individual() if model is None else model


_RECORDS: list[dict] = []


def recorded_trial(model, **options) -> dict:
    """The search's trial body, recording the sample, its validation metrics (None: failed, with the reason)
    and its duration."""
    from tnas_plugin.search_spaces import EyeSpaceChoices
    from tnas_plugin.strategies.evaluator import evaluate_candidate

    params = EyeSpaceChoices(resolution=model.spec.resolution).sample_of(model.spec)  # canonical: the network
    start = time.monotonic()
    try:
        metrics = evaluate_candidate(model, **options)
    except Exception as error:
        _RECORDS.append({"params": params, "metrics": None, "reason": f"{type(error).__name__}: {error}",
                         "seconds": time.monotonic() - start})
        raise
    _RECORDS.append({"params": params, "metrics": metrics, "seconds": time.monotonic() - start})
    return metrics


def run_search(name: str, options, seconds: float, trials: int | None = None) -> list[dict]:
    """One in-process search for ``seconds`` of evaluator time (or ``trials`` trials); every trial's record."""
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import SimplifiedModelSpace

    from tnas_plugin.search_spaces import TTFSEyeSpace

    _RECORDS.clear()
    evaluator = FunctionalEvaluator(recorded_trial, data_root=str(options.data.resolve()), **options.evaluator_settings())
    engine = (SequentialExecutionEngine(max_model_count=trials, continue_on_failure=True) if trials else
              SequentialExecutionEngine(max_duration=seconds, continue_on_failure=True))
    strategy = make_strategy(name, options)
    strategy.initialize(SimplifiedModelSpace.from_model(TTFSEyeSpace(resolution=options.resolution), evaluator), engine)
    strategy.run()
    return list(_RECORDS)


def retrain(options, params: dict) -> dict:
    """Validation and test metrics of ``params`` retrained like a finalist."""
    from tnas_plugin.measurement import MeasurementSettings, evaluate_network, measure_candidate
    from tnas_plugin.search_spaces import EyeSpaceChoices
    from tnas_plugin.candidate import build_ann

    spec = EyeSpaceChoices(resolution=options.resolution).spec(params)
    settings = MeasurementSettings.from_options(options.data, **options.evaluator_settings(final=True))
    result = measure_candidate(spec, build_ann(spec), settings)
    test = evaluate_network(spec, result.snn, settings, "testing", result.params)
    return {"validation": result.metrics, "testing": test.metrics, "test_sequences": len(settings.dataset(spec, "testing").sequences)}


def cached(path: Path, compute, may_compute: bool = True):
    """``path``'s JSON, else ``compute()``'s value saved there; ``None`` if it is missing and not ``may_compute``."""
    if path.is_file():
        return json.loads(path.read_text())
    if not may_compute:
        return None
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, default=float))
    return value


def strategy_run(args, name: str, seed: int) -> dict:
    options = search_options(args, seed)
    start = time.monotonic()
    records = run_search(name, options, args.search_seconds, args.search_trials)
    return {"strategy": name, "seed": seed, "records": records, "seconds": time.monotonic() - start}


def retrained_finalists(args, run: dict, handcrafted_val_energy: float, may_compute: bool) -> list[dict] | None:
    """The run's finalists (as the job picks them), each retrained once per seed and cached; ``None`` while
    one is missing and not ``may_compute``."""
    from tnas_plugin.jobs.search_job import as_trials, finalist_budget, pick_finalists

    options = search_options(args, run["seed"])
    records = as_trials(run["records"])
    budget = finalist_budget(options, records) or handcrafted_val_energy
    finalists = []
    for entry in pick_finalists(records, options.finalists, options.efficiency, budget):
        key = hashlib.sha1(_spec_key(entry.params).encode()).hexdigest()[:16]
        path = args.cache / f"retrained-seed{run['seed']}" / f"{key}.json"
        retrained = cached(path, lambda: {"params": entry.params, **retrain(options, entry.params)}, may_compute)
        if retrained is None:
            return None
        finalists.append(retrained)
    return finalists


def baselines_run(args, seed: int) -> dict:
    """The job's ``fast`` baselines with the hand-crafted TTFS CNN in the chosen network's place (itself and its
    ANN twin; not its rate twin, whose 256 steps over the test clips would cost more than a search, nor the
    LIF CNN): the hand-crafted network on validation, and both on test."""
    from tnas_plugin.candidate import build_ann
    from tnas_plugin.jobs.baselines import HANDCRAFTED_TTFS
    from tnas_plugin.jobs.search_job import _summary_row, measure_baselines
    from tnas_plugin.measurement import MeasurementSettings, measure_candidate

    options = search_options(args, seed)
    settings = MeasurementSettings.from_options(options.data, **options.evaluator_settings(final=True))
    handcrafted = replace(HANDCRAFTED_TTFS, resolution=options.resolution)
    trained = measure_candidate(handcrafted, build_ann(handcrafted), settings)
    return {"validation": [_summary_row("hand-crafted TTFS CNN", trained.metrics, "val_")],
            "testing": measure_baselines(options, settings, handcrafted, trained.snn, trained.snn, rate_steps=None)}


def fidelity_run(args) -> list[dict]:
    """``--fidelity`` random distinct candidates, validation metrics at ``--epochs`` and ``--final-epochs``."""
    import random

    from tnas_plugin.candidate import build_ann
    from tnas_plugin.measurement import MeasurementSettings, measure_candidate
    from tnas_plugin.search_spaces import EyeSpaceChoices, canonical_sample

    options = search_options(args, 0)
    choices = EyeSpaceChoices(resolution=options.resolution)
    space, rng, samples = choices.hpo_space(), random.Random(0), []
    while len(samples) < args.fidelity:
        sample = canonical_sample({label: rng.choice(entry["_value"]) for label, entry in space.items()}, space)
        if sample not in samples:
            samples.append(sample)
    rows = []
    for number, sample in enumerate(samples):
        spec = choices.spec(sample)
        row = {"candidate": number, **sample}
        for fidelity, final in (("low", False), ("full", True)):
            settings = MeasurementSettings.from_options(options.data, **options.evaluator_settings(final=final))
            start = time.monotonic()
            metrics = measure_candidate(spec, build_ann(spec), settings).metrics
            row.update({f"{fidelity}_uar": metrics["uar"], f"{fidelity}_war": metrics["war"],
                        f"{fidelity}_seconds": time.monotonic() - start})
        print(f"fidelity candidate {number}: low {row['low_uar']:.3f} full {row['full_uar']:.3f}", flush=True)
        rows.append(row)
    return rows


def interval(values) -> tuple[float, float]:
    """Mean and 95 % t-interval half-width (nan with one value)."""
    from scipy import stats

    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(values) < 2:
        return (float(values.mean()) if len(values) else math.nan), math.nan
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))


def tables(runs: list[dict], baselines: dict[int, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every retrained network, and per (seed, strategy) the search's figures; the choices read validation only."""
    from scipy import stats

    from tnas_plugin.jobs.report import hypervolume_2d
    from tnas_plugin.jobs.search_job import choose

    rows, summary_rows = [], []
    for run in runs:
        seed, hand_val, hand_test = run["seed"], baselines[run["seed"]]["validation"][0], baselines[run["seed"]]["testing"][0]
        val_ref = (1 / 7, 2 * hand_val["val_energy_uj"])
        test_ref = (1 / 7, 2 * hand_test["test_energy_uj"])
        done = [r["metrics"] for r in run["records"] if r["metrics"] is not None]
        distinct = len({_spec_key(r["params"]) for r in run["records"]})
        val_hv = hypervolume_2d([m["uar"] for m in done], [m["energy_uj"] for m in done], val_ref)
        test_hv = hypervolume_2d([f["testing"]["uar"] for f in run["finalists"]],
                                 [f["testing"]["energy_uj"] for f in run["finalists"]], test_ref)
        finalists = run["finalists"]
        chosen_index = choose([f["validation"] for f in finalists], "energy_uj", hand_val["val_energy_uj"])
        cheap_indices = [i for i, f in enumerate(finalists) if f["validation"]["energy_uj"] <= 0.5 * hand_val["val_energy_uj"]]
        cheap_index = max(cheap_indices, key=lambda i: finalists[i]["validation"]["uar"], default=None)
        for number, finalist in enumerate(finalists):
            test = finalist["testing"]
            half = 1.96 * math.sqrt(test["uar"] * (1 - test["uar"]) / finalist["test_sequences"])
            selected = "chosen" if number == chosen_index else "half-energy" if number == cheap_index else ""
            rows.append({"seed": seed, "strategy": run["strategy"], "network": f"finalist {number}", "selected": selected,
                         "val_uar": finalist["validation"]["uar"], "val_energy_uj": finalist["validation"]["energy_uj"],
                         "test_war": test["war"], "test_uar": test["uar"], "test_uar_95": half,
                         "test_energy_uj": test["energy_uj"]})
        chosen = finalists[chosen_index]["testing"]
        cheap = finalists[cheap_index]["testing"] if cheap_index is not None else {"uar": math.nan, "energy_uj": math.nan}
        energy_ratio = cheap["energy_uj"] / hand_test["test_energy_uj"]
        rho = (stats.spearmanr([f["validation"]["uar"] for f in finalists], [f["testing"]["uar"] for f in finalists]).statistic
               if len(finalists) > 2 else math.nan)
        summary_rows.append({"seed": seed, "strategy": run["strategy"], "handcrafted_test_uar": hand_test["test_uar"],
                             "handcrafted_test_energy_uj": hand_test["test_energy_uj"], "trials": len(run["records"]),
                             "distinct": distinct, "failed": len(run["records"]) - len(done),
                             "val_hypervolume": val_hv, "test_hypervolume": test_hv,
                             "spearman_val_test_uar": rho,
                             "chosen_test_uar_minus_handcrafted": chosen["uar"] - hand_test["test_uar"],
                             "chosen_test_energy_ratio": chosen["energy_uj"] / hand_test["test_energy_uj"],
                             "half_energy_test_uar_minus_handcrafted": cheap["uar"] - hand_test["test_uar"],
                             "half_energy_test_energy_ratio": energy_ratio,
                             "cheap_and_as_good": bool(cheap["uar"] >= hand_test["test_uar"] - 0.01 and energy_ratio <= 0.5)})
    for seed, baseline in baselines.items():
        for row in baseline["testing"]:
            rows.append({"seed": seed, "strategy": "baseline", "network": row["network"], "test_war": row["test_war"],
                         "test_uar": row["test_uar"], "test_energy_uj": row["test_energy_uj"]})
    return pd.DataFrame(rows), pd.DataFrame(summary_rows)


def verdict(summary: pd.DataFrame) -> str:
    """The report's first words: per strategy, does validation rank the finalists as test does, and how the chosen
    network compares with the hand-crafted one on test (means over seeds)."""
    sentences = []
    for strategy, group in summary.groupby("strategy"):
        rho = group["spearman_val_test_uar"]
        sentences.append(
            f"{strategy}: the finalists' validation UAR ranks their test UAR with mean Spearman {rho.mean():.2f} over "
            f"{len(group)} seeds (from {rho.min():.2f} to {rho.max():.2f}; target 0.6 {'met' if rho.mean() >= 0.6 else 'not met'}); "
            f"the network chosen on validation is {group['chosen_test_uar_minus_handcrafted'].mean():+.3f} test UAR from "
            f"the hand-crafted network at {group['chosen_test_energy_ratio'].mean():.2f}x its test energy.")
    return " ".join(sentences)


PAIRED = ("val_hypervolume", "test_hypervolume", "chosen_test_uar_minus_handcrafted",
          "half_energy_test_uar_minus_handcrafted")


def paired(summary: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per other strategy: mean and 95 % t-interval over seeds of ``reference``'s figure minus the strategy's, and
    the paired t-test's p-value (nan without a spread); a seed pairs runs on the same data from the same start."""
    from scipy import stats

    wide = summary.pivot(index="seed", columns="strategy")
    rows = []
    for other in [s for s in summary["strategy"].unique() if s != reference]:
        row = {"strategy": f"{reference} - {other}"}
        for key in PAIRED:
            difference = (wide[key][reference] - wide[key][other]).dropna()
            row[key], row[f"{key}_95"] = interval(difference)
            spread = len(difference) > 1 and difference.std() > 0
            row[f"{key}_p"] = float(stats.ttest_1samp(difference, 0).pvalue) if spread else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _spec_key(params: dict) -> str:
    """The network ``params`` builds (two samples differing in inert labels have the same key)."""
    from tnas_plugin.search_spaces import EyeSpaceChoices

    return json.dumps(EyeSpaceChoices().spec(params).to_dict(), sort_keys=True)


def plot(networks: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    markers = {"TNASEvolution": "o", "Random": "^", "RegularizedEvolution": "s", "TNASEvolution-model": "o",
               "TNASEvolution-nsga2": "D", "Random-seeded": "v", "RegularizedEvolution-seeded": "P",
               "TNASEvolution-unseeded": "h"}
    for strategy, group in networks.groupby("strategy"):
        if strategy == "baseline":
            for name, rows in group.groupby("network"):
                ax.plot(rows["test_energy_uj"], rows["test_uar"], "*", ms=13, label=name[:40])
        else:
            marker, selected = markers.get(strategy, "x"), group["selected"] != ""
            line, = ax.plot(group.loc[~selected, "test_energy_uj"], group.loc[~selected, "test_uar"], marker, mfc="none",
                            ms=8, label=strategy)
            ax.plot(group.loc[selected, "test_energy_uj"], group.loc[selected, "test_uar"], marker, color=line.get_color(),
                    ms=8, label=f"{strategy}: chosen / half-energy (on validation)")
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (µJ, test clips)")
    ax.set_ylabel("test UAR")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fidelity_summary(args, fidelity: pd.DataFrame) -> list[str]:
    """Writes ``bench_search_fidelity.csv``; the report's lines on the rank correlation of low and full fidelity."""
    from scipy import stats

    fidelity.to_csv(args.out / "bench_search_fidelity.csv", index=False)
    rho = stats.spearmanr(fidelity["low_uar"], fidelity["full_uar"])
    lines = ["## Low vs full fidelity", "",
             f"{len(fidelity)} random distinct candidates, validation UAR after {args.epochs} vs "
             f"{args.final_epochs} epochs: Spearman rho = {rho.statistic:.3f} (p = {rho.pvalue:.2g}); median "
             f"time {fidelity['low_seconds'].median():.1f} s vs {fidelity['full_seconds'].median():.1f} s.", ""]
    print("\n".join(lines), flush=True)
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)

    ensure_data(args)
    fidelity = cached(args.cache / f"fidelity-{args.fidelity}.json", lambda: fidelity_run(args)) if args.fidelity else None
    strategies = [s for s in args.strategies.split(",") if s]
    runs, baselines = [], {}
    for seed in args.seed_range:
        computable = seed in args.compute_seeds
        baseline = cached(args.cache / f"baselines-seed{seed}.json", lambda: baselines_run(args, seed), computable)
        if baseline is None:
            continue
        baselines[seed] = baseline
        for name in strategies:
            run = cached(args.cache / f"{name}-seed{seed}.json", lambda: strategy_run(args, name, seed), computable)
            finalists = run and retrained_finalists(args, run, baseline["validation"][0]["val_energy_uj"], computable)
            if finalists:
                runs.append({**run, "finalists": finalists})
                print(f"seed {seed} {name}: {len(run['records'])} trials, {len(finalists)} finalists", flush=True)
    if args.compute_seeds != set(args.seed_range):
        print(f"cache filled for seeds {sorted(args.compute_seeds)}; run without --compute-seeds for the tables")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    fidelity_lines = fidelity_summary(args, pd.DataFrame(fidelity)) if fidelity else []
    if not runs:
        (args.out / "bench_search.md").write_text("\n".join(["# bench_search", "", f"Machine: {machine.describe()}", "",
                                                              f"Data: {args.data}", "", *fidelity_lines]))
        return 0
    networks, summary = tables(runs, baselines)
    networks.to_csv(args.out / "bench_search.csv", index=False)
    plot(networks, args.out / "bench_search.png")
    aggregate = []
    for strategy, group in summary.groupby("strategy"):
        row = {"strategy": strategy, "seeds": len(group)}
        for column in ("trials", "distinct", "val_hypervolume", "test_hypervolume", "spearman_val_test_uar",
                       "chosen_test_uar_minus_handcrafted", "chosen_test_energy_ratio",
                       "half_energy_test_uar_minus_handcrafted", "half_energy_test_energy_ratio"):
            mean, half = interval(group[column])
            row[column] = mean
            row[f"{column}_95"] = half
        row["seeds_with_a_half_energy_finalist"] = int(group["half_energy_test_uar_minus_handcrafted"].notna().sum())
        row["seeds_with_cheap_and_as_good"] = int(group["cheap_and_as_good"].sum())
        aggregate.append(row)
    pd.DataFrame(aggregate).to_csv(args.out / "bench_search_summary.csv", index=False)
    lines = ["# bench_search", "", verdict(summary), "", f"Machine: {machine.describe()}", "",
             f"Data: {args.data} ({args.subjects} subjects, split within subjects by take as SEE is); search budget "
             + (f"{args.search_trials} trials" if args.search_trials else f"{args.search_seconds:.0f} s of evaluator time")
             + f" per strategy and seed; {args.epochs} epochs per trial, finalists and the hand-crafted baseline "
             f"{args.final_epochs} epochs; seeds run: {sorted(baselines)}.", "",
             f"Every choice on validation, as `tnas-er search` makes it: {args.finalists} finalists promoted per strategy "
             "and seed; the chosen network has the best validation fitness within the hand-crafted network's "
             "validation energy; the half-energy network has the best validation UAR among the finalists at most half "
             "of it. Test metrics are read once, after the choices. `spearman_val_test_uar`: the rank correlation of "
             "the finalists' validation UAR and test UAR (all trained on the training split): does validation "
             "predict test?", "",
             "## Per seed and strategy", "", summary.to_markdown(index=False, floatfmt=".4g"), "",
             "## Over seeds (mean, 95 % t-interval half-width)", "", pd.DataFrame(aggregate).to_markdown(index=False, floatfmt=".4g"),
             "", f"## Paired by seed: {strategies[0]} minus each other strategy (mean, 95 % t-interval, paired t-test p)",
             "", paired(summary, strategies[0]).to_markdown(index=False, floatfmt=".4g"),
             "", "## Every retrained network on test", "", networks.to_markdown(index=False, floatfmt=".4g"), "",
             *fidelity_lines]
    (args.out / "bench_search.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
