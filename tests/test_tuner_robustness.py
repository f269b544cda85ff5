"""TNASEvolutionTuner driven as NNI's dispatcher drives it, in-process: callbacks from two threads at once,
exceptions inside callbacks, a mixed-type search space, stop and resume with orphaned candidates."""
import json
import logging
import math
import queue
import random
import runpy
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import nni
import pytest

from nni_helpers import trial_channel, write_experiment
from tnas_plugin.strategies import TNASEvolutionTuner
from tnas_plugin.strategies.tuner import CHECKPOINT_FILE, TNASEvolutionClassArgsValidator

SPACE = {
    "kernel": {"_type": "choice", "_value": ["rbf", "poly", "linear"]},
    "degree": {"_type": "randint", "_value": [2, 6]},
    "C": {"_type": "loguniform", "_value": [1e-3, 1e3]},
    "gamma": {"_type": "qloguniform", "_value": [1e-4, 1.0, 1e-4]},
    "tol": {"_type": "uniform", "_value": [0.0, 0.1]},
    "batch": {"_type": "quniform", "_value": [8, 256, 8]},
    "shift": {"_type": "normal", "_value": [0.0, 1.0]},
    "qshift": {"_type": "qnormal", "_value": [10.0, 4.0, 1.0]},
    "scale": {"_type": "lognormal", "_value": [0.0, 0.5]},
    "qscale": {"_type": "qlognormal", "_value": [2.0, 1.0, 5.0]},
}


def metrics(params):
    return {"default": 0.0, "accuracy": 1 - abs(math.log10(params["C"])) / 3 - abs(params["shift"]) / 10,
            "latency": params["batch"] / 256 + params["degree"] / 10 + params["qscale"] / 100}


def check_types_and_ranges(p):
    assert p["kernel"] in ("rbf", "poly", "linear")
    assert type(p["degree"]) is int and 2 <= p["degree"] <= 5
    assert 1e-3 <= p["C"] <= 1e3
    assert 1e-4 <= p["gamma"] <= 1.0 and abs(p["gamma"] / 1e-4 - round(p["gamma"] / 1e-4)) < 1e-6
    assert 0 <= p["tol"] <= 0.1
    assert 8 <= p["batch"] <= 256 and p["batch"] % 8 == 0
    assert math.isfinite(p["shift"]) and p["qshift"] == round(p["qshift"])
    assert p["scale"] > 0 and p["qscale"] >= 0 and p["qscale"] % 5 == 0
    assert all(isinstance(v, float) for k, v in p.items() if k not in ("kernel", "degree"))


@pytest.fixture
def checkpoint_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    return tmp_path


def drive_like_nni(tuner, trials, concurrency, jitter):
    """NNI's dispatcher in miniature: requests and results on one queue thread, trial ends on another;
    ``concurrency`` trials run, each for a random time drawn from ``jitter``, and each end frees a slot for
    a new request. A request the tuner cannot answer yet is answered through ``st_callback``. One trial in
    three fails without a result."""
    default, ends, started = queue.Queue(), queue.Queue(), queue.Queue()
    requested = list(range(concurrency))
    for pid in requested:
        default.put(("request", pid))

    def default_queue():
        while (item := default.get()) is not None:
            if item[0] == "request":
                for params in tuner.generate_multiple_parameters([item[1]], st_callback=lambda *sent: started.put(sent)):
                    started.put((item[1], params))
            else:
                tuner.receive_trial_result(*item[1:])

    def trial_end_queue():
        while (item := ends.get()) is not None:
            tuner.trial_end(*item)

    def trials_running():
        running, done = [], 0
        while done < trials:
            while not started.empty():
                running.append(started.get())
            if not running:
                time.sleep(0.001)
                continue
            pid, params = running.pop(jitter.randrange(len(running)))
            time.sleep(jitter.random() / 500)
            if pid % 3:
                default.put(("result", pid, params, metrics(params)))
            ends.put((pid, bool(pid % 3)))
            done += 1
            if len(requested) < trials:
                requested.append(len(requested))
                default.put(("request", requested[-1]))
        default.put(None)
        ends.put(None)

    threads = [threading.Thread(target=f) for f in (default_queue, trial_end_queue, trials_running)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def test_callbacks_from_two_threads_lose_no_write_never_crash_and_give_the_same_search(checkpoint_dir, caplog):
    """NNI's dispatcher: proposals and results on one queue thread, trial ends on another, trials of random
    length; plus a reader of the state file, which must always find a whole JSON state. The same seed gives
    the same search whatever the order the trials end in."""
    trials, errors, histories = 150, [], []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                json.loads((checkpoint_dir / CHECKPOINT_FILE).read_text())
            except FileNotFoundError:
                pass
            except Exception as broken:  # noqa: BLE001 - any partial read is the failure under test
                errors.append(broken)

    for jitter in (1, 2):
        tuner = TNASEvolutionTuner(objectives={"accuracy": "max", "latency": "min"}, seed=0, population_size=8)
        tuner.late_result_grace_s = 5.0
        tuner.update_search_space(SPACE)
        watcher = threading.Thread(target=reader)
        with caplog.at_level(logging.WARNING):
            watcher.start()
            drive_like_nni(tuner, trials, 3, random.Random(jitter))
            done.set()
            watcher.join()
        done.clear()
        assert not errors
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        history = tuner.core.history()
        assert len(history) == trials and tuner.core.pending == []
        assert sum(entry["metrics"] is None for entry in history) == len(range(0, trials, 3))  # ended without a result
        saved = json.loads((checkpoint_dir / CHECKPOINT_FILE).read_text())
        assert saved == json.loads(json.dumps(tuner.core.state_dict()))
        assert sorted(p.name for p in checkpoint_dir.iterdir()) == [CHECKPOINT_FILE]  # no temporary file left
        histories.append([entry["params"] for entry in history])
    assert histories[0] == histories[1]


def test_an_exception_in_tuner_code_is_logged_never_raised(checkpoint_dir, caplog, monkeypatch):
    tuner = TNASEvolutionTuner(objectives={"accuracy": "max", "latency": "min"}, seed=0)
    with caplog.at_level(logging.ERROR):
        tuner.update_search_space({"x": {"_type": "choice", "_value": [{"_name": "a"}, {"_name": "b"}]}})  # refused
        with pytest.raises(nni.NoMoreTrialError):  # nothing to propose: NNI ends the experiment (DONE)
            tuner.generate_parameters(0)
        tuner.receive_trial_result(0, {"x": 1}, {"accuracy": 1.0})
        tuner.trial_end(0, success=False)
        tuner.import_data([{"parameter": {"x": 1}, "value": 0.5}])
    assert "nested search spaces are not supported" in caplog.text
    assert caplog.text.count("Traceback") >= 2

    tuner.update_search_space(SPACE)
    params = tuner.generate_parameters(1)

    def broken(*args, **kwargs):
        raise RuntimeError("bug in the core")

    monkeypatch.setattr(tuner.core, "ask", broken)
    monkeypatch.setattr(tuner.core, "tell", broken)
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        with pytest.raises(nni.NoMoreTrialError):
            tuner.generate_parameters(2)
        assert tuner.receive_trial_result(1, params, metrics(params)) is None
        assert tuner.generate_multiple_parameters([3, 4]) == []  # what the dispatcher calls
    assert caplog.text.count("bug in the core") >= 3


def test_a_mixed_type_space_is_searched_with_the_right_types_and_ranges():
    tuner = TNASEvolutionTuner(objectives={"accuracy": "max", "latency": "min"}, seed=1, population_size=10)
    tuner.update_search_space(SPACE)
    proposed = []
    for pid in range(200):
        params = tuner.generate_parameters(pid)
        json.dumps(params)  # NNI sends it as JSON
        check_types_and_ranges(params)
        proposed.append(params)
        tuner.receive_trial_result(pid, params, metrics(params))
    assert len({json.dumps(p, sort_keys=True) for p in proposed}) == 200
    front = tuner.pareto_front()
    assert front and all({"accuracy", "latency"} <= set(entry["metrics"]) for entry in front)
    # the search moved the numeric genes the objectives depend on towards their optimum
    early, late = proposed[:10], proposed[-50:]
    assert sum(abs(math.log10(p["C"])) for p in late) / 50 < sum(abs(math.log10(p["C"])) for p in early) / 10


def test_constraints_from_class_args():
    tuner = TNASEvolutionTuner(objectives={"accuracy": "max", "latency": "min"}, seed=2, population_size=8,
                               constraints={"latency": [0.5, 0.9]})
    tuner.update_search_space(SPACE)
    for pid in range(80):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, metrics(params))
    front = tuner.pareto_front()
    assert front and all(0.5 <= entry["metrics"]["latency"] <= 0.9 for entry in front)
    with pytest.raises(ValueError, match="constraint 'latency'"):
        TNASEvolutionTuner(constraints={"latency": [0.6, 0.3]})


def test_stop_and_resume_continue_the_same_search_including_orphaned_candidates(checkpoint_dir, caplog):
    options = {"objectives": {"accuracy": "max", "latency": "min"}, "seed": 5, "population_size": 6}
    tuner = TNASEvolutionTuner(**options)
    tuner.update_search_space(SPACE)
    finished = []
    for pid in range(10):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, metrics(params))
        finished.append(params)
    orphans = [tuner.generate_parameters(10), tuner.generate_parameters(11)]  # running when the experiment stops

    resumed = TNASEvolutionTuner(**options)  # nnictl resume: a new dispatcher process
    with caplog.at_level(logging.INFO):
        resumed.load_checkpoint()
        resumed.update_search_space(SPACE)
        resumed.import_data([{"parameter": p, "value": metrics(p)} for p in finished])  # NNI replays finished trials
    assert "Resumed the search from the checkpoint (10 results)" in caplog.text
    assert "Proposing first the 2 candidate(s) pending when the search stopped" in caplog.text
    assert [resumed.generate_parameters(100), resumed.generate_parameters(101)] == orphans
    for pid, params in zip((100, 101), orphans):
        resumed.receive_trial_result(pid, params, metrics(params))

    # the same search: an uninterrupted tuner that got the orphans' results goes on identically
    for pid, params in zip((10, 11), orphans):
        tuner.receive_trial_result(pid, params, metrics(params))
    later = []
    for pid in range(12, 30):
        a, b = tuner.generate_parameters(pid), resumed.generate_parameters(pid + 100)
        later.append((a, b))
        tuner.receive_trial_result(pid, a, metrics(a))
        resumed.receive_trial_result(pid + 100, b, metrics(b))
    assert all(a == b for a, b in later)
    assert resumed.core.history()[:12] == tuner.core.history()[:12]


def test_a_resume_keeps_what_the_trials_reported_when_nni_swapped_two_trials_parameters(checkpoint_dir):
    """NNI 3.0's local training service hands queued parameters to whichever trial asks first: two trials
    started together can run each other's. The result then comes with the id of what the trial really ran,
    but NNI's trial ends, and its re-import on resume, use the ids it assigned."""
    options = {"objectives": {"accuracy": "max", "latency": "min"}, "seed": 1, "population_size": 4}
    tuner = TNASEvolutionTuner(**options)
    tuner.late_result_grace_s = 0
    tuner.update_search_space(SPACE)
    first, second = tuner.generate_parameters(0), tuner.generate_parameters(1)
    tuner.receive_trial_result(1, second, metrics(second))  # job A, assigned id 0, ran id 1 and reported it
    tuner.trial_end(0, True)  # A's end, under its assigned id: no result for id 0
    tuner.trial_end(1, False, parameters=second)  # job B, assigned id 1, ran id 0 and failed

    resumed = TNASEvolutionTuner(**options)
    resumed.load_checkpoint()
    resumed.update_search_space(SPACE)
    resumed.import_data([{"parameter": first, "value": metrics(second)}])  # A's result under A's assigned parameters
    history = {json.dumps(entry["params"], sort_keys=True): entry["metrics"] for entry in resumed.core.history()}
    assert history[json.dumps(first, sort_keys=True)] is None
    assert history[json.dumps(second, sort_keys=True)] == metrics(second)


def test_a_resume_pairs_each_imported_result_with_what_its_trial_ran(tmp_path, monkeypatch):
    """Two trials swapped their parameters and both results were lost to the stopped tuner: NNI re-imports
    each under the other's parameters; the tuner pairs them by the parameter id each trial reported."""
    checkpoint_dir = tmp_path / "checkpoint"
    checkpoint_dir.mkdir()
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(checkpoint_dir))
    options = {"objectives": {"accuracy": "max", "latency": "min"}, "seed": 2, "population_size": 4}
    tuner = TNASEvolutionTuner(**options)
    tuner.update_search_space(SPACE)
    first, second = tuner.generate_parameters(0), tuner.generate_parameters(1)
    # job A, assigned id 0 (first), ran id 1 (second); job B the other way round
    write_experiment(tmp_path, [("A", 0, 1, 0, second, metrics(second)), ("B", 1, 0, 1, first, metrics(first))])

    resumed = TNASEvolutionTuner(**options)
    resumed.load_checkpoint()
    resumed.update_search_space(SPACE)
    resumed.import_data([{"parameter": first, "value": metrics(second), "trialJobId": "A"},
                         {"parameter": second, "value": metrics(first), "trialJobId": "B"}])
    history = {json.dumps(entry["params"], sort_keys=True): entry["metrics"] for entry in resumed.core.history()}
    assert history[json.dumps(first, sort_keys=True)] == metrics(first)
    assert history[json.dumps(second, sort_keys=True)] == metrics(second)


def test_an_unusable_checkpoint_starts_a_fresh_search(checkpoint_dir, caplog):
    (checkpoint_dir / CHECKPOINT_FILE).write_text(json.dumps({"version": 3, "space": {"other": []}}))
    tuner = TNASEvolutionTuner(objectives={"accuracy": "max", "latency": "min"}, seed=0)
    with caplog.at_level(logging.WARNING):
        tuner.load_checkpoint()
        tuner.update_search_space(SPACE)
    assert "Checkpoint not used: the saved state belongs to a different search space" in caplog.text
    check_types_and_ranges(tuner.generate_parameters(0))


def test_the_sklearn_example_passes_nnis_checks_and_its_trial_reports_or_fails_as_configured(monkeypatch):
    """examples/sklearn as ``nnictl create`` reads it (the tuner on every kind of gene but quniform), and its
    trial on the tuner's first proposal: trial 1 of ``--fail-every 3`` raises, trial 2 reports accuracy (also
    the ``default``), size and fit time. nnictl itself runs the registered tuner in tests/test_tuner_nnictl.py."""
    from nni.experiment.config import ExperimentConfig

    example = Path(__file__).resolve().parents[1] / "examples" / "sklearn"
    config = ExperimentConfig.load(str(example / "config.yml")).canonical_copy()  # NNI's own checks
    assert config.tuner.name == "TNASEvolution" and "trial.py" in config.trial_command
    TNASEvolutionClassArgsValidator().validate_class_args(**config.tuner.class_args)
    tuner = TNASEvolutionTuner(**config.tuner.class_args)
    tuner.update_search_space(json.loads(Path(config.search_space_file).read_text()))
    assert {gene.type for gene in tuner.core.genes} == {"randint", "uniform", "qloguniform", "loguniform", "choice"}
    assert tuner.options.constraints == {"accuracy": [0.85, None]}
    params = tuner.generate_parameters(0)
    monkeypatch.setattr(sys, "argv", ["trial.py", "--fail-every", "3"])
    monkeypatch.setattr(nni.trial, "_sequence_id", 1)
    with trial_channel(params), pytest.raises(RuntimeError, match="injected failure of trial 1"):
        runpy.run_path(str(example / "trial.py"), run_name="__main__")
    monkeypatch.setattr(nni.trial, "_sequence_id", 2)
    with trial_channel(params) as channel:
        runpy.run_path(str(example / "trial.py"), run_name="__main__")
    [(kind, metrics)] = channel.metrics
    assert kind == "FINAL" and set(metrics) == {"default", "accuracy", "n_nodes", "fit_seconds"}
    assert metrics["default"] == metrics["accuracy"] > 1 / 10 and metrics["n_nodes"] >= params["n_estimators"]
    tuner.receive_trial_result(0, params, metrics)
    assert tuner.core.history()[0]["metrics"] == metrics


def test_a_resumed_search_gets_back_the_trials_its_stop_cancelled(tmp_path, monkeypatch):
    """NNI counts a trial its stop cancelled against max_trial_number and never runs it again: on resume,
    ``TunerExperiment`` raises the limit by those trials (docs/ARCHITECTURE.md, "What NNI 3.0 does on resume")."""
    from nni.experiment import Experiment

    from tnas_plugin.jobs.experiment import TunerExperiment
    from tnas_plugin.strategies.nni_records import cancelled_without_result, database_path

    config = {"x": 1}
    write_experiment(tmp_path / "exp1", [("A", 0, 0, 0, config, {"default": 1.0}), ("B", 1, 1, 1, config, None),
                                         ("C", 2, 2, 2, config, None)], cancelled={"C"})
    assert cancelled_without_result(database_path(tmp_path / "exp1")) == 1
    experiment = TunerExperiment(None, id="exp1")
    folder = SimpleNamespace(experiment_working_directory=str(tmp_path))
    experiment.config = SimpleNamespace(max_trial_number=3, canonical_copy=lambda: folder)
    monkeypatch.setattr(Experiment, "start", lambda self, *args, **kwargs: None)
    limits = []
    monkeypatch.setattr(TunerExperiment, "raise_trial_limit", lambda self, limit: limits.append(limit))
    experiment.start(8080)  # a fresh run: NNI's count is right
    experiment._action = "resume"
    experiment.start(8080)
    assert limits == [4]  # 3 results: A, B and the candidate C ran, proposed again


def test_a_trial_that_failed_as_the_search_stopped_is_recorded_before_the_resume(tmp_path):
    """NNI's resume tells the tuner about trials that succeeded, not about failures: one the tuner had not
    heard of when the search stopped is recorded as failed before NNI starts, so that no trial goes missing."""
    from tnas_plugin.jobs.experiment import prepare_tuner_state
    from tnas_plugin.strategies.evolution_core import EvolutionOptions, ParetoEvolution

    space = {"x": {"_type": "choice", "_value": [1, 2, 3, 4]}}
    arguments = {"objectives": {"accuracy": "max"}, "population_size": 4, "seed": 0}
    core = ParetoEvolution(space, EvolutionOptions.from_dict(arguments))
    done, failed, running = core.ask(), core.ask(), core.ask()
    core.tell(done, {"default": 0.5, "accuracy": 0.5})
    write_experiment(tmp_path / "exp", [("A", 0, 0, 0, done, {"default": 0.5, "accuracy": 0.5}), ("B", 1, 1, 1, failed, None)])
    state = tmp_path / "exp" / "checkpoint" / CHECKPOINT_FILE
    state.parent.mkdir()
    state.write_text(json.dumps(core.state_dict()))
    tuner = SimpleNamespace(class_name=None, name="TNASEvolution", class_args=arguments)
    experiment = SimpleNamespace(id="exp", config=SimpleNamespace(tuner=tuner, search_space=space))
    prepare_tuner_state(experiment, tmp_path)
    resumed = ParetoEvolution(space, EvolutionOptions.from_dict(arguments))
    resumed.load_state_dict(json.loads(state.read_text()))
    assert resumed.history() == [{"params": done, "metrics": {"default": 0.5, "accuracy": 0.5}},
                                 {"params": failed, "metrics": None}]
    assert resumed.pending == [running]  # still orphaned: proposed again first
