"""TNASEvolution (NAS strategy) and TNASEvolutionTuner (nnictl tuner) inside NNI, without training: the
trials run ``quick_trial``, which reports a synthetic metric dict computed from the candidate at once.

In-process tests use NNI's SequentialExecutionEngine / the tuner's methods; the others start real NNI
managers on free ports and always stop them (the ``port`` fixture fails a test that leaves one running,
after ending it).
"""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import nni
import pytest
import yaml
from nni.experiment.config import ExperimentConfig
from nni.mutable import ensure_frozen
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.execution.event import FinalMetricEvent
from nni.nas.experiment import NasExperiment
from nni.nas.nn.pytorch import ModelSpace
from nni.nas.space import SimplifiedModelSpace

from nni_helpers import NNICTL, final_metrics, free_port, manager_processes, trial_channel
from tnas_plugin.strategies import nni_compat
from tnas_plugin.search_spaces import TTFSEyeSpace, export_hpo_space
from tnas_plugin.strategies import TNASEvolution, TNASEvolutionTuner
from tnas_plugin.strategies import trial as trial_entry
from tnas_plugin.pareto import non_dominated_sort
from tnas_plugin.strategies.tuner import CHECKPOINT_FILE, TNASEvolutionClassArgsValidator

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SPACE_ARGS = {"resolution": 8}


def quick_trial(model, fail_modality=None):
    """Report a WAR/UAR trade-off computed from the candidate's architecture (no data, no training)."""
    spec = model.spec
    if spec.modality == fail_modality:
        raise RuntimeError("synthetic failure")
    capacity = sum(stage.channels * stage.kernel for stage in spec.stages) / (3 * 16 * 5)
    war = 0.3 + 0.4 * capacity + 0.05 * (spec.frames == 2) + 0.02 * (spec.modality == "both")
    uar = 0.7 - 0.3 * capacity + 0.1 * spec.steps_per_window / 32 + spec.classifier_width / 640
    synops = 1000.0 * sum(stage.channels for stage in spec.stages) * spec.steps_per_window
    nni.report_final_result({
        "default": (war + uar) / 2, "war": war, "uar": uar, "synops": synops,
        "energy_uj": synops * 0.9e-6, "latency_steps": spec.steps_per_window * (len(spec.stages) + 2),
    })


def quick_evaluator(data, **arguments):
    """Evaluator factory for the trial entry (``--evaluator test_strategy_nni:quick_evaluator``)."""
    assert isinstance(data, str)
    return FunctionalEvaluator(quick_trial, **arguments)


@pytest.fixture
def port():
    """A free port; after the test no NNI manager may still run there (one left over is stopped, then
    killed with its dispatcher and trials, and the test fails)."""
    chosen = free_port()
    yield chosen
    leftover = manager_processes(chosen)
    if leftover:
        subprocess.run([*NNICTL, "stop", "--port", str(chosen)], capture_output=True, timeout=120)
        for manager in manager_processes(chosen):
            for proc in [*manager.children(recursive=True), manager]:
                proc.kill()
    assert not leftover, f"an NNI manager outlived the test on port {chosen}"


@pytest.fixture
def trial_env(monkeypatch):
    """Trials (fresh processes) import quick_trial from this module."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))


def assert_pareto_front_of(front_metrics, all_metrics, objectives=("war", "uar")):
    points = [([-m[k] for k in objectives], 0.0) for m in all_metrics]
    best = non_dominated_sort(points)[0]
    assert sorted(tuple(m[k] for k in objectives) for m in front_metrics) == \
        sorted(tuple(all_metrics[i][k] for k in objectives) for i in best)


# ----------------------------------------------------------------------------------------------------
# NAS strategy


class LateMetricEngine(SequentialExecutionEngine):
    """Delivers each final metric from another thread shortly after the trial's end, as NNI's
    training-service engine sometimes does (the last one arrives after the engine has gone idle)."""

    def dispatch_model_event(self, event):
        if isinstance(event, FinalMetricEvent):
            threading.Timer(0.3, super().dispatch_model_event, [event]).start()
        else:
            super().dispatch_model_event(event)


def run_sequential(strategy, trials, state=None, fail_modality=None, engine_class=SequentialExecutionEngine):
    """Run ``strategy`` in-process for ``trials`` models (after loading ``state``); the samples it tried."""
    engine = engine_class(max_model_count=trials, continue_on_failure=True)
    evaluator = FunctionalEvaluator(quick_trial, fail_modality=fail_modality)
    strategy.initialize(SimplifiedModelSpace.from_model(TTFSEyeSpace(**SPACE_ARGS), evaluator), engine)
    if state is not None:
        strategy.load_state_dict(json.loads(json.dumps(state)))
    strategy.run()
    return [model.sample for model in engine.list_models()]


def test_nas_strategy_state_continues_the_same_search():
    options = {"seed": 3, "population_size": 6}
    uninterrupted = run_sequential(TNASEvolution(**options), 24)
    first = TNASEvolution(**options)
    head = run_sequential(first, 12)
    tail = run_sequential(TNASEvolution(**options), 12, state=first.state_dict())
    assert head + tail == uninterrupted
    assert len({json.dumps(s, sort_keys=True) for s in uninterrupted}) == 24


def test_nas_strategy_records_failures_and_reads_full_metric_dicts():
    strategy = TNASEvolution(seed=0, population_size=6)
    samples = run_sequential(strategy, 30, fail_modality="frame")
    assert len({json.dumps(s, sort_keys=True) for s in samples}) == 30
    history = strategy.core.history()
    assert any(entry["metrics"] is None for entry in history)
    assert all((entry["metrics"] is None) == (entry["params"]["modality"] == "frame") for entry in history)
    front = strategy.pareto_front()
    assert front and all({"war", "uar", "synops"} <= set(entry["metrics"]) for entry in front)
    assert_pareto_front_of([e["metrics"] for e in front], [e["metrics"] for e in history if e["metrics"]])
    models = list(strategy.list_models(limit=None))
    assert [m.sample for m in models] == [e["params"] for e in front]
    assert [m.metric for m in models] == [e["metrics"]["default"] for e in front]


def test_nas_strategy_takes_a_final_metric_that_arrives_after_the_trial_end():
    strategy = TNASEvolution(seed=1, population_size=4)
    run_sequential(strategy, 10, engine_class=LateMetricEngine)
    assert [entry["metrics"] is not None for entry in strategy.core.history()] == [True] * 10


class MixedSpace(ModelSpace):
    """A model space mixing nni.choice with NNI's numerical mutables (no modules: nothing to train)."""

    def __init__(self):
        super().__init__()
        def mutable(m):
            return ensure_frozen(self.add_mutable(m))

        self.rate = mutable(nni.uniform("rate", 0, 1))
        self.lr = mutable(nni.qloguniform("lr", 1e-4, 1e-1, 1e-4))
        self.shift = mutable(nni.mutable.Numerical(mu=0, sigma=2, quantize=0.5, label="shift"))  # qnormal
        self.scale = mutable(nni.mutable.Numerical(mu=0, sigma=1, log_distributed=True, label="scale"))  # lognormal
        self.width = mutable(nni.choice("width", [8, 16, 32]))


def mixed_trial(model):
    nni.report_final_result({"default": 0.0, "war": model.rate - abs(model.shift) / 10,
                             "uar": 1 - model.rate + model.lr - model.width / 1000})


def test_nas_strategy_searches_numerical_mutables_with_their_types():
    strategy = TNASEvolution(seed=0, population_size=4)
    engine = SequentialExecutionEngine(max_model_count=20, continue_on_failure=True)
    strategy.initialize(SimplifiedModelSpace.from_model(MixedSpace(), FunctionalEvaluator(mixed_trial)), engine)
    strategy.run()
    samples = [entry["params"] for entry in strategy.core.history()]
    assert len(samples) == 20 and all(entry["metrics"] for entry in strategy.core.history())
    assert all(0 <= s["rate"] <= 1 and 1e-4 <= s["lr"] <= 0.1 and s["width"] in (8, 16, 32) for s in samples)
    assert all(round(s["lr"] / 1e-4) * 1e-4 == s["lr"] and s["shift"] % 0.5 == 0 and s["scale"] > 0 for s in samples)
    assert {gene.type for gene in strategy.core.genes} == {"uniform", "qloguniform", "qnormal", "lognormal", "choice"}


def test_nas_strategy_refuses_bad_arguments_and_custom_distributions():
    from scipy.stats import beta

    with pytest.raises(ValueError, match="population_size"):
        TNASEvolution(population_size=0)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['populaton_size'\]"):
        TNASEvolution(populaton_size=5)

    class CustomSpace(ModelSpace):
        def __init__(self):
            super().__init__()
            self.rate = self.add_mutable(nni.mutable.Numerical(distribution=beta(2, 3), label="rate"))

    with pytest.raises(ValueError, match="'rate'.* no finite bounds"):
        TNASEvolution().initialize(SimplifiedModelSpace.from_model(CustomSpace(), None), SequentialExecutionEngine())


def test_nas_strategy_resume_proposes_orphaned_candidates_first():
    options = {"seed": 4, "population_size": 6}
    first = TNASEvolution(**options)
    run_sequential(first, 8)
    with first._lock:
        orphans = [first.core.ask(), first.core.ask()]  # submitted, then the process stopped
    state = first.state_dict()
    resumed = TNASEvolution(**options)
    samples = run_sequential(resumed, 6, state=state)
    assert samples[:2] == orphans and len({json.dumps(s, sort_keys=True) for s in samples}) == 6
    assert all(entry["metrics"] for entry in resumed.core.history())


def test_nas_experiment_reaches_done_and_exports_the_pareto_front(port, trial_env, tmp_path):
    strategy = TNASEvolution(seed=0, population_size=2)
    evaluator = FunctionalEvaluator(quick_trial)
    experiment = NasExperiment(TTFSEyeSpace(**SPACE_ARGS), evaluator, strategy)
    experiment.config.max_trial_number = 4
    experiment.config.trial_concurrency = 2
    experiment.config.experiment_working_directory = str(tmp_path)
    try:
        experiment.run(port=port)
        assert experiment.get_status() == "DONE"
        reported = final_metrics(port)
        assert len(reported) == 4 and all({"war", "uar", "synops"} <= set(m) for m in reported)
        exported = experiment.export_top_models(top_k=None, formatter="dict")
        front = strategy.pareto_front()
        assert exported == [entry["params"] for entry in front]
        assert_pareto_front_of([entry["metrics"] for entry in front], reported)
    finally:
        experiment.stop()
    assert nni_compat.is_applied()


# ----------------------------------------------------------------------------------------------------
# nnictl tuner


@pytest.fixture(scope="module")
def hpo_space():
    return export_hpo_space(TTFSEyeSpace(**SPACE_ARGS))


def synthetic_result(params):
    return {"war": (params["stage0_channels"] + params["frames"]) / 20, "uar": 1 / params["stage0_channels"], "default": 0.5}


def test_tuner_flow_failures_imports_and_bad_arguments(hpo_space):
    with pytest.raises(ValueError, match="crossover_prob"):
        TNASEvolutionTuner(crossover_prob=2)
    with pytest.raises(ValueError, match="objective 'war'"):
        TNASEvolutionClassArgsValidator().validate_class_args(objectives={"war": "up"})
    tuner = TNASEvolutionTuner(seed=0, population_size=6)
    tuner.update_search_space(hpo_space)
    proposed = {pid: tuner.generate_parameters(pid) for pid in range(6)}  # generation 0, running side by side
    for pid, params in proposed.items():
        if pid == 2:
            tuner.trial_end(pid, success=False)  # crashed before reporting
        else:
            tuner.receive_trial_result(pid, params, synthetic_result(params))
            tuner.trial_end(pid, success=True)
    imported = dict(proposed[0], stage0_channels=16 if proposed[0]["stage0_channels"] != 16 else 4)
    tuner.import_data([{"parameter": imported, "value": synthetic_result(imported)},
                       {"parameter": proposed[1], "value": {"war": 0, "uar": 0}}])  # already known: ignored
    history = tuner.core.history()
    assert len(history) == 7 and history[2]["metrics"] is None
    assert history[1]["metrics"] == synthetic_result(proposed[1])
    later = []
    for pid in range(6, 30):
        later.append(tuner.generate_parameters(pid))
        tuner.receive_trial_result(pid, later[-1], synthetic_result(later[-1]))
    assert not any(params in later for params in [*proposed.values(), imported])
    tuner_history = tuner.core.history()
    narrower = dict(hpo_space, frames={"_type": "choice", "_value": [2]})  # the space changes at run time
    tuner.update_search_space(narrower)
    kept = tuner.core.history()
    assert kept == [entry for entry in tuner_history if entry["params"]["frames"] == 2] and kept
    assert all(tuner.generate_parameters(pid)["frames"] == 2 for pid in range(30, 35))


def test_tuner_resumes_from_its_checkpoint(hpo_space, tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))

    def drive(tuner, ids):
        asked = []
        for pid in ids:
            params = tuner.generate_parameters(pid)
            tuner.receive_trial_result(pid, params, synthetic_result(params))
            asked.append(params)
        return asked

    tuner = TNASEvolutionTuner(seed=1, population_size=4)
    tuner.update_search_space(hpo_space)
    drive(tuner, range(10))
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    resumed = TNASEvolutionTuner(seed=1, population_size=4)
    resumed.load_checkpoint()  # NNI's dispatcher: before the search space arrives
    resumed.update_search_space(hpo_space)
    resumed.import_data([{"parameter": e["params"], "value": e["metrics"]} for e in tuner.core.history()])
    assert drive(resumed, range(10, 25)) == drive(tuner, range(10, 25))


def test_trial_entry_rebuilds_the_candidate_and_runs_the_evaluator(hpo_space):
    params = {label: entry["_value"][-1] for label, entry in hpo_space.items()}
    with trial_channel(params) as channel:
        trial_entry.main(["--data", "unused", "--space-args", json.dumps(SPACE_ARGS),
                          "--evaluator", "test_strategy_nni:quick_evaluator"])
    [(kind, metrics)] = channel.metrics
    assert kind == "FINAL" and {"war", "uar", "synops"} <= set(metrics)


def test_example_config_and_space_are_valid_and_current():
    assert json.loads((ROOT / "examples/see_search_space.json").read_text()) == export_hpo_space(TTFSEyeSpace())
    raw = yaml.safe_load((ROOT / "examples/see_search.yml").read_text())
    assert "tnas_plugin.strategies.trial" in raw["trialCommand"]
    config = ExperimentConfig.load(str(ROOT / "examples/see_search.yml")).canonical_copy()  # NNI's own checks
    assert config.tuner.class_name == "tnas_plugin.strategies.TNASEvolutionTuner"
    TNASEvolutionTuner(**config.tuner.class_args)
    with pytest.raises(ValueError, match="unknown option"):
        TNASEvolutionClassArgsValidator().validate_class_args(seeds=3)


def test_tuner_import_stays_light():
    """NNI's manager waits only 10 s for the tuner process to connect: importing it must not load torch."""
    probe = "import sys; from tnas_plugin.strategies import TNASEvolutionTuner; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"
