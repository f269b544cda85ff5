"""The evolution core's model-based proposals and Latin hypercube start (docs/ARCHITECTURE.md, "Proposal model"):
distinct proposals of the right NNI types, constraints learnt, determinism under any result order, the start's
coverage, option errors, and the Parzen model itself."""
import math
import random

import numpy as np
import pytest

from tnas_plugin.strategies.evolution_core import AwaitingResults, EvolutionOptions, ParetoEvolution
from tnas_plugin.strategies.parzen import Dimension, density_ratio, sample

MIXED = {
    "act": {"_type": "choice", "_value": ["relu", 2, None, {"k": 1}]},
    "n": {"_type": "randint", "_value": [2, 9]},
    "u": {"_type": "uniform", "_value": [-1.0, 1.0]},
    "qu": {"_type": "quniform", "_value": [0, 10, 2.5]},
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "qlr": {"_type": "qloguniform", "_value": [10, 1000, 10]},
    "z": {"_type": "normal", "_value": [0, 2]},
    "qz": {"_type": "qnormal", "_value": [0, 2, 0.5]},
    "w": {"_type": "lognormal", "_value": [0, 1]},
    "qw": {"_type": "qlognormal", "_value": [1, 1, 1]},
}


def mixed_result(params):
    """Two conflicting objectives over every label; ``cost`` (constrained to <= 0.5 below) is ``u`` moved to [0, 1]."""
    quality = -abs(params["u"] - 0.3) - abs(math.log10(params["lr"]) + 2.5) / 3 - abs(params["z"]) / 10
    spread = params["n"] / 8 + (params["act"] == "relu") * 0.2 + params["qu"] / 50
    return {"war": quality + spread, "uar": quality - spread, "cost": (params["u"] + 1) / 2}


def ask_tell(core, trials, order=None):
    """``trials`` results; with ``order`` (a ``random.Random``) each generation's results arrive shuffled."""
    told, asked = 0, []
    while told < trials:
        batch = []
        while told + len(batch) < trials:
            try:
                batch.append(core.ask())
            except AwaitingResults:
                break
        asked += batch
        for params in random.Random(order.random()).sample(batch, len(batch)) if order else batch:
            core.tell(params, mixed_result(params))
        told += len(batch)
    return asked


def options(**extra):
    return EvolutionOptions(seed=3, population_size=10, constraints={"cost": [None, 0.5]}, **extra)


def test_model_proposals_are_distinct_of_the_right_nni_types_and_learn_the_constraint():
    core = ParetoEvolution(MIXED, options())
    asked = ask_tell(core, 80)
    assert len({core.encode(params) for params in asked}) == 80
    for params in asked:
        assert params["act"] in MIXED["act"]["_value"]
        assert isinstance(params["n"], int) and 2 <= params["n"] < 9
        assert isinstance(params["u"], float) and -1 <= params["u"] <= 1
        assert params["qu"] in (0, 2.5, 5, 7.5, 10)
        assert 1e-4 <= params["lr"] <= 1e-1
        assert params["qlr"] % 10 == 0 and 10 <= params["qlr"] <= 1000
        assert isinstance(params["z"], float) and params["qz"] % 0.5 == 0
        assert params["w"] > 0 and params["qw"] >= 0 and params["qw"] % 1 == 0
    feasible = [mixed_result(params)["cost"] <= 0.5 for params in asked]
    assert sum(feasible[:10]) <= 6 and sum(feasible[-30:]) >= 24  # the start is spread; later proposals obey
    assert all(entry["metrics"]["cost"] <= 0.5 for entry in core.pareto_front())


@pytest.mark.parametrize("settings", [{"proposals": "model"}, {"proposals": "model", "model_good": "crowding"},
                                      {"proposals": "nsga2"}])
def test_same_seed_same_proposals_whatever_the_order_of_results(settings):
    first = ask_tell(ParetoEvolution(MIXED, options(**settings)), 50)
    for shuffle in range(3):
        again = ParetoEvolution(MIXED, options(**settings))
        assert ask_tell(again, 50, random.Random(shuffle)) == first
    other = ParetoEvolution(MIXED, EvolutionOptions(seed=4, population_size=10, **settings))
    assert ask_tell(other, 50) != first


def test_the_model_changes_the_proposals_after_the_first_generation_until_it_hands_over():
    model, nsga2 = (ask_tell(ParetoEvolution(MIXED, options(proposals=p)), 30) for p in ("model", "nsga2"))
    assert model[:10] == nsga2[:10] and model[10:] != nsga2[10:]
    assert ask_tell(ParetoEvolution(MIXED, options(model_until=20)), 30)[:20] == model[:20]
    assert ask_tell(ParetoEvolution(MIXED, options(model_until=0)), 30) == nsga2
    crowding = ask_tell(ParetoEvolution(MIXED, options(model_good="crowding")), 30)
    assert crowding[:20] == model[:20] and crowding[20:] != model[20:]  # the good set differs once it is cut


def test_latin_hypercube_start_covers_every_choice_after_the_initial_population():
    space = {f"c{i}": {"_type": "choice", "_value": list(range(5))} for i in range(6)}
    space["k"] = {"_type": "randint", "_value": [0, 4]}
    first = {**{f"c{i}": 0 for i in range(6)}, "k": 0}
    core = ParetoEvolution(space, EvolutionOptions(seed=0, population_size=11, initial_population=[first]))
    generation = [core.ask() for _ in range(11)]
    assert generation[0] == first
    for label, entry in space.items():
        values = entry["_value"] if entry["_type"] == "choice" else range(*entry["_value"])
        assert {params[label] for params in generation[1:]} == set(values), label
    with pytest.raises(AwaitingResults):
        core.ask()


@pytest.mark.parametrize("options, message", [
    ({"proposals": "tpe"}, r"^TNAS-ER evolution: proposals must be one of \['model', 'nsga2'\], got 'tpe'$"),
    ({"initial_design": "sobol"}, r"^TNAS-ER evolution: initial_design must be one of \['lhs', 'random'\], got 'sobol'$"),
    ({"model_candidates": 0}, r"^TNAS-ER evolution: model_candidates must be a positive integer, got 0$"),
    ({"model_gamma": 1.0}, r"^TNAS-ER evolution: model_gamma must be in \(0, 1\), got 1.0$"),
    ({"model_sampled": -0.1}, r"^TNAS-ER evolution: model_sampled must be in \[0, 1\], got -0.1$"),
    ({"model_good": "rank"}, r"^TNAS-ER evolution: model_good must be one of \['hypervolume', 'crowding'\], got 'rank'$"),
    ({"model_until": -1}, r"^TNAS-ER evolution: model_until must be a non-negative integer or None, got -1$"),
])
def test_bad_proposal_options_get_one_line_naming_the_field(options, message):
    with pytest.raises(ValueError, match=message):
        EvolutionOptions.from_dict(options)


def test_parzen_ratio_prefers_the_good_region_and_samples_stay_in_range():
    dims = [Dimension(None, True), Dimension(3), Dimension(None, False)]
    rng = np.random.default_rng(0)
    good = np.column_stack([rng.uniform(0.0, 0.2, 10), np.zeros(10), rng.normal(2, 0.1, 10)])
    bad = np.column_stack([rng.uniform(0.3, 1.0, 40), rng.integers(1, 3, 40), rng.normal(-1, 0.5, 40)])
    near, far = np.array([[0.1, 0, 2.0]]), np.array([[0.8, 2, -1.0]])
    assert density_ratio(good, bad, dims, near)[0] > density_ratio(good, bad, dims, far)[0] + 5
    drawn = sample(good, dims, np.random.default_rng(1), 500)
    assert drawn[:, 0].min() >= 0 and drawn[:, 0].max() <= 1 and set(drawn[:, 1]) <= {0, 1, 2}
    assert np.median(drawn[:, 0]) < 0.2 and np.mean(drawn[:, 1] == 0) > 0.8 and abs(np.median(drawn[:, 2]) - 2) < 0.3
