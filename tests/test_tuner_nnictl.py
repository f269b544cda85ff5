"""The registered tuner in a real ``nnictl`` experiment: the scikit-learn example (examples/sklearn) with
failing trials, two at a time, stopped while trials run and resumed, must reach DONE with no traceback in
``dispatcher.log``, the candidates the stop killed proposed again first; ``tnas-er front`` then reads the
same front from the running manager (REST) and, after ``nnictl stop``, from the experiment folder.
``-m slow`` repeats the run (the soak that caught the dispatcher crash 1 run in 2)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nni_helpers import NNICTL, free_port, manager_processes, nnictl_start, rest, wait_for_status
from tnas_plugin.strategies.evolution_core import EvolutionOptions, ParetoEvolution

ROOT = Path(__file__).resolve().parents[1]
TNAS_ER = [sys.executable, "-m", "tnas_plugin.jobs.cli"]
OBJECTIVES = "accuracy:max,n_nodes:min"
TRIALS = 8


def run(command, env, timeout=120, check=True):
    return subprocess.run(command, capture_output=True, text=True, env=env, check=check, timeout=timeout)


def sklearn_experiment(tmp_path: Path, trials: int = TRIALS) -> tuple[Path, dict]:
    """The example copied to ``tmp_path`` with failing trials; its config file and an env with a private
    nnictl home where the tuner is registered."""
    code = tmp_path / "sklearn"
    shutil.copytree(ROOT / "examples/sklearn", code)
    config = yaml.safe_load((code / "config.yml").read_text())
    config.update(trialCommand=f"{sys.executable} trial.py --fail-every 3", maxTrialNumber=trials, trialConcurrency=2,
                  maxExperimentDuration="5m", experimentWorkingDirectory=str(tmp_path / "experiments"))
    config["tuner"]["classArgs"] = {"objectives": {"accuracy": "max", "n_nodes": "min"}, "population_size": 4, "seed": 0}
    (code / "config.yml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, NNI_CONFIG_DIR=str(tmp_path / "nni-config"))
    run([*NNICTL, "algo", "register", "--meta", str(ROOT / "strategies/meta.yml")], env)
    return code / "config.yml", env


SLOW_START = "Tuner did not connect in 10 seconds"  # NNI's hard-coded limit for the dispatcher to start


def run_and_check(tmp_path: Path, check_front: bool, attempts: int = 3) -> None:
    """One experiment; started again (fresh folder) only if NNI gave up on a dispatcher that was slow to
    start on a loaded machine (``SLOW_START`` in nnimanager.log), which says nothing about the tuner."""
    for attempt in range(attempts):
        if run_experiment(tmp_path / f"attempt{attempt}", check_front):
            return
    raise AssertionError(f"the dispatcher did not start within NNI's 10 s in {attempts} attempts")


def slow_start(port, folder) -> bool:
    """The manager gave up on a dispatcher that was slow to start (NNI's 10 s; a loaded machine)."""
    try:
        status = rest(port, "check-status")["status"]
    except OSError:
        return False
    return status == "ERROR" and SLOW_START in (folder / "log" / "nnimanager.log").read_text()


def run_experiment(tmp_path: Path, check_front: bool) -> bool:
    """Create the experiment, stop it while trials run, resume it, let it finish; check the tuner kept
    going through failures, stop and resume. False if NNI gave up on a slow dispatcher start."""
    config, env = sklearn_experiment(tmp_path)
    port = free_port()
    experiment_id = None
    try:
        created = nnictl_start([*NNICTL, "create", "--config", str(config), "--port", str(port)], env)
        match = re.search(r"Experiment ID: (?:\x1b\[\d+m)?(\w+)", created.stdout)
        assert match, created.stdout + created.stderr
        experiment_id = match.group(1)
        folder = tmp_path / "experiments" / experiment_id
        dispatcher_log, state_file = folder / "log" / "dispatcher.log", folder / "checkpoint" / "tnas_evolution_state.json"

        # stop while trials run: the tuner's state then holds candidates that never got a result
        deadline = time.monotonic() + 240
        while sum(job["status"] in ("SUCCEEDED", "FAILED") for job in rest(port, "trial-jobs")) < 3:
            if slow_start(port, folder):
                return False
            assert time.monotonic() < deadline, rest(port, "trial-jobs")
            time.sleep(0.3)
        run([*NNICTL, "stop", experiment_id], env)
        orphans = json.loads(state_file.read_text())["pending"]
        assert orphans, "no trial was running at the stop"
        resumed = nnictl_start([*NNICTL, "resume", experiment_id, "--port", str(port)], env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        status = wait_for_status(port, {"DONE", "ERROR"}, timeout=240)
        if slow_start(port, folder):
            return False
        log = dispatcher_log.read_text()
        assert status == "DONE", log[-3000:]
        assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
        assert f"Proposing first the {len(orphans)} candidate(s) pending when the search stopped" in log

        statuses = [job["status"] for job in rest(port, "trial-jobs")]
        assert len(statuses) == TRIALS and statuses.count("FAILED") >= 1, statuses
        # (state["pending"] may hold proposals NNI requested ahead and dropped at maxTrialNumber)
        state = json.loads(state_file.read_text())
        assert state["version"] == 3 and not state["requeued"]
        recorded = [genome for genome, _ in state["records"]]
        assert all(orphan in recorded for orphan in orphans)  # proposed again and run after the resume
        # (Failures are not counted here: a trial that failed just before the stop may end before the
        # tuner hears of it; it is then an orphan, proposed again after the resume like the others.)
        if check_front:
            check_front_command(tmp_path, experiment_id, folder, port, env, statuses.count("SUCCEEDED"))
    finally:
        if experiment_id is not None:
            run([*NNICTL, "stop", experiment_id], env, check=False)
        leftover = stop_managers_on(port)
    assert not leftover, f"an NNI manager outlived the test on port {port}"
    return True


def stop_managers_on(port: int, timeout: float = 20.0) -> list[int]:
    """PIDs of NNI managers still serving ``port`` after ``timeout`` (then killed, with their children).
    Only this test's port: other NNI experiments on the machine are left alone."""
    deadline = time.monotonic() + timeout
    while manager_processes(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    leftover = manager_processes(port)
    for manager in leftover:
        for proc in [*manager.children(recursive=True), manager]:
            proc.kill()
    return [proc.pid for proc in leftover]


def check_front_command(tmp_path, experiment_id, folder, port, env, succeeded):
    live = run([*TNAS_ER, "front", experiment_id, "--objectives", OBJECTIVES, "--out", str(tmp_path / "live")], env)
    assert f"REST API of the running manager on 127.0.0.1:{port}" in live.stdout
    run([*NNICTL, "stop", experiment_id], env)
    after = run([*TNAS_ER, "front", experiment_id, "--objectives", OBJECTIVES, "--out", str(tmp_path / "after"),
                 "--reference-point", "0,100000"], env)
    assert str(folder / "db" / "nni.sqlite") in after.stdout and "Pareto front of" in after.stdout
    live_front, after_front = (pd.read_csv(tmp_path / f"{name}/front.csv", float_precision="round_trip")
                               for name in ("live", "after"))
    assert live_front.to_dict("records") == after_front.to_dict("records")
    # the front is exactly the non-dominated successful trials, as the tuner itself recorded them
    state = json.loads((folder / "checkpoint" / "tnas_evolution_state.json").read_text())
    results = [metrics for _, metrics in state["records"] if metrics]
    dominated = [m for m in results if any(o["accuracy"] >= m["accuracy"] and o["n_nodes"] <= m["n_nodes"]
                                           and (o["accuracy"], o["n_nodes"]) != (m["accuracy"], m["n_nodes"]) for o in results)]
    expected = sorted({(m["accuracy"], m["n_nodes"]) for m in results if m not in dominated})
    # distinct points: after a plain nnictl resume, NNI restarts the trials still RUNNING and the tuner
    # proposes them again, so NNI's records may hold one candidate twice (see strategies/tuner.py)
    assert sorted(set(zip(after_front["accuracy"], after_front["n_nodes"]))) == expected
    assert {"param:n_estimators", "param:criterion", "metric:fit_seconds"} <= set(after_front.columns)
    # each result is paired with the parameters it was computed with, as the tuner was told (NNI's own
    # trial records pair two trials started together with each other's parameters now and then)
    core = ParetoEvolution(json.loads((ROOT / "examples/sklearn/search_space.json").read_text()),
                           EvolutionOptions(objectives={"accuracy": "max", "n_nodes": "min"}))
    core.load_state_dict(state)
    told = {entry["metrics"]["fit_seconds"]: entry["params"] for entry in core.history() if entry["metrics"]}
    for row in after_front.to_dict("records"):
        params = {key.removeprefix("param:"): value for key, value in row.items() if key.startswith("param:")}
        if row["metric:fit_seconds"] in told:
            assert params == told[row["metric:fit_seconds"]]
        else:  # the second run of a candidate NNI restarted at the resume: the tuner kept the first result
            assert params in told.values()
    for name in ("front.png", "hypervolume.png", "hypervolume.csv"):
        assert (tmp_path / "after" / name).stat().st_size > 0
    curve = pd.read_csv(tmp_path / "after/hypervolume.csv")
    assert list(curve["results"]) == list(range(1, succeeded + 1)) and curve["hypervolume"].is_monotonic_increasing
    # a missing experiment is one line on stderr and exit status 1
    missing = run([*TNAS_ER, "front", "nosuchid", "--objectives", OBJECTIVES], env, check=False)
    assert missing.returncode == 1 and "tnas-er front: experiment 'nosuchid'" in missing.stderr


def test_registered_tuner_on_the_sklearn_example_with_failing_trials_reaches_done(tmp_path):
    run_and_check(tmp_path, check_front=True)


@pytest.mark.slow
@pytest.mark.parametrize("repeat", range(6))
def test_soak_failing_trials_never_crash_the_dispatcher(tmp_path, repeat):
    run_and_check(tmp_path, check_front=False)


# ----------------------------------------------------------------------------------------------------
# Same seed, same search: a fast two-objective function (no training) through nnictl

FUNCTION_TRIAL = '''"""A trial of a two-objective test function (ZDT1 on x, y; k shifts it), after a random sleep."""
import math, random, sys, time
import nni
params = nni.get_next_parameter()
time.sleep(random.SystemRandom().uniform(0, float(sys.argv[1])))
if params["k"] == 2 and params["y"] > 0.3:
    raise RuntimeError("outside the test function's domain")  # a failed trial is a result too
x, y = params["x"], params["y"] / (1 + params["k"])
g = 1 + 9 * y
nni.report_final_result({"default": -x, "f1": x, "f2": g * (1 - math.sqrt(x / g)), "y": y})
'''
FUNCTION_SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "quniform", "_value": [0, 1, 0.05]},
                  "k": {"_type": "choice", "_value": [0, 1, 2]}}
FUNCTION_TRIALS = 12


def function_experiment(folder: Path, delay_s: float) -> tuple[Path, dict]:
    folder.mkdir(parents=True)
    (folder / "trial.py").write_text(FUNCTION_TRIAL)
    (folder / "search_space.json").write_text(json.dumps(FUNCTION_SPACE))
    config = {"experimentName": "tnas-er-function", "searchSpaceFile": "search_space.json", "trialCodeDirectory": ".",
              "trialCommand": f"{sys.executable} trial.py {delay_s}", "trialConcurrency": 2,
              "maxTrialNumber": FUNCTION_TRIALS, "maxExperimentDuration": "5m",
              "experimentWorkingDirectory": str(folder / "experiments"),
              "tuner": {"name": "TNASEvolution", "classArgs": {"objectives": {"f1": "min", "f2": "min"},
                                                               "population_size": 4, "seed": 3}},
              "trainingService": {"platform": "local"}}
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, NNI_CONFIG_DIR=str(folder / "nni-config"))
    run([*NNICTL, "algo", "register", "--meta", str(ROOT / "strategies/meta.yml")], env)
    return folder / "config.yml", env


def function_search(folder: Path, delay_s: float, stop_after: int | None = None) -> list[dict]:
    """Run the function experiment to DONE (``stop_after`` results: ``nnictl stop`` while trials run, then
    ``nnictl resume``); every result as the tuner recorded it, in proposal order."""
    for attempt in range(3):  # a new experiment only if NNI gave up on a dispatcher slow to start
        config, env = function_experiment(folder / f"attempt{attempt}", delay_s)
        port, experiment_id = free_port(), None
        try:
            created = nnictl_start([*NNICTL, "create", "--config", str(config), "--port", str(port)], env)
            match = re.search(r"Experiment ID: (?:\x1b\[\d+m)?(\w+)", created.stdout)
            assert match, created.stdout + created.stderr
            experiment_id = match.group(1)
            nni_folder = config.parent / "experiments" / experiment_id
            if stop_after is not None:
                deadline = time.monotonic() + 120
                while sum(job["status"] in ("SUCCEEDED", "FAILED") for job in rest(port, "trial-jobs")) < stop_after:
                    if slow_start(port, nni_folder):
                        break
                    assert time.monotonic() < deadline, rest(port, "trial-jobs")
                    time.sleep(0.2)
                else:
                    run([*NNICTL, "stop", experiment_id], env)
                    resumed = nnictl_start([*NNICTL, "resume", experiment_id, "--port", str(port)], env)
                    assert resumed.returncode == 0, resumed.stderr[-3000:]
            status = wait_for_status(port, {"DONE", "ERROR"}, timeout=180)
            if slow_start(port, nni_folder):
                continue
            log = (nni_folder / "log" / "dispatcher.log").read_text()
            assert status == "DONE" and "Traceback" not in log, log[-3000:]
            core = ParetoEvolution(FUNCTION_SPACE, EvolutionOptions(objectives={"f1": "min", "f2": "min"}))
            core.load_state_dict(json.loads((nni_folder / "checkpoint" / "tnas_evolution_state.json").read_text()))
            front = run([*TNAS_ER, "front", experiment_id, "--objectives", "f1:min,f2:min", "--out", str(folder / "front")], env)
            assert "Pareto front of" in front.stdout
            return core.history()
        finally:
            if experiment_id is not None:
                run([*NNICTL, "stop", experiment_id], env, check=False)
            assert not stop_managers_on(port), f"an NNI manager outlived the test on port {port}"
    raise AssertionError("the dispatcher did not start within NNI's 10 s in 3 attempts")


def test_same_seed_same_search_through_nnictl_whatever_the_timing_and_across_stop_and_resume(tmp_path):
    """A run whose trials take random times (0 to 1.5 s), so that they end in another order, stopped while
    trials run and resumed, records the same candidates as an undisturbed run, in the same order, with the
    same results, and ``tnas-er front`` writes the same front."""
    steady = function_search(tmp_path / "a", 0.0)
    assert len(steady) == FUNCTION_TRIALS and any(entry["metrics"] is None for entry in steady)
    assert function_search(tmp_path / "b", 1.5, stop_after=6) == steady
    fronts = [pd.read_csv(tmp_path / name / "front" / "front.csv").drop(columns=["trial", "trial_id"])
              .sort_values(["f1", "f2"]).reset_index(drop=True) for name in "ab"]
    assert fronts[0].equals(fronts[1])
