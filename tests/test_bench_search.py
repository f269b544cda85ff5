"""The benchmark's choices (benchmarks/bench_search.py, ``tables``) are made on validation: the chosen and the
half-energy networks are the same whatever the test metrics say, on a small hand-made cache of one search."""
import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_search  # noqa: E402

from tnas_plugin.jobs.search_job import SearchOptions  # noqa: E402

HAND_VAL_ENERGY = 60.0
#: (validation default, validation UAR, validation energy) of each finalist: finalist 1 is the best within the
#: hand-crafted energy, finalist 3 the most accurate at <= half of it; 4 is the best overall but too dear
VALIDATION = [(0.50, 0.48, 58.0), (0.62, 0.60, 55.0), (0.40, 0.38, 20.0), (0.55, 0.52, 25.0), (0.70, 0.68, 90.0)]


def finalist(params: dict, default: float, uar: float, energy: float, test: tuple[float, float]) -> dict:
    return {"params": params, "test_sequences": 200,
            "validation": {"default": default, "uar": uar, "war": uar, "energy_uj": energy},
            "testing": {"war": test[0], "uar": test[0], "energy_uj": test[1]}}


def search(test_metrics: list[tuple[float, float]]) -> dict:
    base = SearchOptions(data=Path("unused")).handcrafted_sample()
    samples = [{**base, "classifier_width": width} for width in (16, 32, 64)] + \
              [{**base, "frames": 2, "classifier_width": width} for width in (16, 32)]
    finalists = [finalist(sample, *validation, test) for sample, validation, test in zip(samples, VALIDATION, test_metrics)]
    records = [{"params": f["params"], "metrics": f["validation"]} for f in finalists]
    return {"seed": 0, "strategy": "TNASEvolution", "records": records, "finalists": finalists}


BASELINES = {0: {"validation": [{"val_energy_uj": HAND_VAL_ENERGY}],
                 "testing": [{"network": "hand-crafted TTFS CNN", "test_war": 0.55, "test_uar": 0.55, "test_energy_uj": 61.0}]}}


@pytest.mark.parametrize("shuffle_seed", range(4))
def test_the_chosen_and_half_energy_networks_do_not_depend_on_the_test_metrics(shuffle_seed):
    test_metrics = [(0.30 + 0.1 * k, 10.0 + 15 * k) for k in range(len(VALIDATION))]
    random.Random(shuffle_seed).shuffle(test_metrics)
    networks, summary = bench_search.tables([search(test_metrics)], BASELINES)
    selected = networks.set_index("network")["selected"]
    assert selected["finalist 1"] == "chosen" and selected["finalist 3"] == "half-energy"
    assert (selected.drop(["finalist 1", "finalist 3"]).fillna("") == "").all()
    # the figures read on test after the choice are the chosen and half-energy networks' own
    chosen_test, cheap_test = test_metrics[1], test_metrics[3]
    row = summary.iloc[0]
    assert row["chosen_test_uar_minus_handcrafted"] == pytest.approx(chosen_test[0] - 0.55)
    assert row["half_energy_test_energy_ratio"] == pytest.approx(cheap_test[1] / 61.0)


_PROPOSED: list[dict] = []


def _cheap_trial(model, **_):
    """A trial that records what it was given and scores it by its classifier width (no training)."""
    from nni import report_final_result

    from tnas_plugin.search_spaces import EyeSpaceChoices

    sample = EyeSpaceChoices(resolution=model.spec.resolution).sample_of(model.spec)
    _PROPOSED.append(sample)
    report_final_result({"default": sample["classifier_width"] / 64, "war": 0.5, "uar": 0.5, "energy_uj": 1.0})


@pytest.mark.parametrize("name", [n for n in bench_search.CONFIRMATION if n != "TNASEvolution-unseeded"])
def test_every_strategy_of_the_confirmation_run_starts_from_the_jobs_initial_population(name):
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import SimplifiedModelSpace

    from tnas_plugin.search_spaces import TTFSEyeSpace

    options = SearchOptions(data=Path("unused"), population=4)
    initial = options.initial_population()
    _PROPOSED.clear()
    strategy = bench_search.make_strategy(name, options)
    space = SimplifiedModelSpace.from_model(TTFSEyeSpace(resolution=options.resolution), FunctionalEvaluator(_cheap_trial))
    strategy.initialize(space, SequentialExecutionEngine(max_model_count=len(initial) + 3, continue_on_failure=True))
    strategy.run()
    assert _PROPOSED[:len(initial)] == initial and len(_PROPOSED) == len(initial) + 3
    assert all(sample not in initial for sample in _PROPOSED[len(initial):])
    with pytest.raises(ValueError, match="unknown strategy 'Evolution'"):
        bench_search.make_strategy("Evolution", options)


def test_paired_differences_pair_each_seed_and_say_when_there_is_none():
    import pandas as pd

    shifts = {"A": [0.4, 0.5, 0.6], "B": [0.0] * 3, "C": [0.4, 0.5, 0.6]}
    rows = [{"seed": seed, "strategy": name, **{key: value + shifts[name][seed] for key in bench_search.PAIRED}}
            for seed, value in enumerate([1.0, 2.0, 4.0]) for name in shifts]
    table = bench_search.paired(pd.DataFrame(rows), "A").set_index("strategy")
    assert list(table.index) == ["A - B", "A - C"]
    assert table.loc["A - B", "test_hypervolume"] == pytest.approx(0.5)  # seed by seed, whatever the seeds' spread
    assert table.loc["A - B", "test_hypervolume_95"] == pytest.approx(0.248, abs=1e-3)  # t(0.975, 2) x 0.1 / sqrt(3)
    assert 0 < table.loc["A - B", "test_hypervolume_p"] < 0.05
    assert table.loc["A - C", "val_hypervolume"] == 0.0 and math.isnan(table.loc["A - C", "val_hypervolume_p"])
