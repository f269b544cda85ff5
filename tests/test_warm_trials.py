"""Warm trial workers (docs/ARCHITECTURE.md, "Trial overhead"): a crash fails only its trial, nothing outlives a stop."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tnas_plugin.jobs.trial_log import failure_reason
from tnas_plugin.jobs.warm_trials import warm_pool

ENTRY = "warm_entries:main"


@pytest.fixture(autouse=True)
def entry_importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the pool imports the tests' entry


@pytest.fixture
def pool():
    with warm_pool(entry=ENTRY, warm=()) as path:  # the workers' warm-up is beside the point here
        yield path


def client(path, record, action, trial_id, folder, **popen):
    command = [sys.executable, "-m", "tnas_plugin.jobs.warm_trials", "--socket", path, "--", str(record), action]
    env = {**os.environ, "NNI_TRIAL_JOB_ID": trial_id}
    stdout, stderr = open(folder / f"{trial_id}.stdout", "w"), open(folder / f"{trial_id}.stderr", "w")
    return subprocess.Popen(command, env=env, cwd=folder, stdout=stdout, stderr=stderr, **popen)


def run_trial(path, tmp_path, action, trial_id):
    record = tmp_path / f"{trial_id}.pid"
    status = client(path, record, action, trial_id, tmp_path).wait(timeout=120)
    pid, seen_id, folder = record.read_text().split()
    return status, int(pid), seen_id, folder, tmp_path / f"{trial_id}.stderr"


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def pool_processes():
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "--serve" in process.cmdline():
                found.append(process)
        except psutil.Error:  # ended (a zombie trial client) meanwhile
            pass
    return found


def test_a_crashed_worker_fails_its_trial_with_the_reason_and_the_next_trial_runs_on_a_fresh_one(pool, tmp_path):
    status, first, trial_id, folder, _ = run_trial(pool, tmp_path, "ok", "A")
    assert status == 0 and trial_id == "A" and folder == str(tmp_path)  # the trial's environment and folder
    assert (tmp_path / "A.stdout").read_text() == f"trial A runs on {first}\n"  # its output files
    status, crashed, _, _, stderr = run_trial(pool, tmp_path, "crash", "B")
    assert status == 1
    assert failure_reason(stderr) == f"WarmWorkerDied: the trial's warm worker (pid {crashed}) was killed by SIGKILL"
    status, failed, _, _, stderr = run_trial(pool, tmp_path, "fail", "C")  # the trial's own exception, as in a plain trial
    assert status == 1 and failure_reason(stderr) == "ValueError: collapsed: not a result"
    status, after, _, _, _ = run_trial(pool, tmp_path, "ok", "D")
    assert status == 0 and len({first, crashed, failed, after}) == 4  # each trial on a fresh worker
    assert not psutil.pid_exists(crashed)


def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_cancelled_trial_takes_its_worker_with_it(pool, tmp_path):
    """Also when the client inherits SIGINT ignored (a manager started by a non-interactive shell's background job)."""
    record = tmp_path / "E.pid"
    trial = client(pool, record, "sleep", "E", tmp_path, preexec_fn=ignore_sigint)
    wait_for(lambda: record.exists() and record.read_text())
    worker = psutil.Process(int(record.read_text().split()[0]))
    trial.send_signal(signal.SIGINT)  # how NNI stops a trial
    trial.wait(timeout=30)
    worker.wait(timeout=30)
    assert not worker.is_running()


@pytest.mark.parametrize("stop", ["sigterm", "stdin"])
def test_stopping_the_pool_leaves_no_worker(stop, tmp_path):
    records = [tmp_path / f"{i}.pid" for i in range(2)]
    with warm_pool(entry=ENTRY, warm=()) as path:
        server, = pool_processes()
        trials = [client(path, record, "sleep", f"T{i}", tmp_path) for i, record in enumerate(records)]
        wait_for(lambda: all(record.exists() and record.read_text() for record in records))
        workers = [psutil.Process(int(record.read_text().split()[0])) for record in records]
        if stop == "sigterm":
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    server.wait(timeout=30)  # "stdin": leaving the block closed the pool's stdin
    for worker in workers:
        worker.wait(timeout=30)
    assert not any(worker.is_running() for worker in workers) and not pool_processes()
    for trial in trials:  # the trials fail, with the reason
        assert trial.wait(timeout=30) == 1
    assert failure_reason(tmp_path / "T0.stderr").startswith("WarmWorkerDied")


@pytest.mark.slow  # the plain entry imports NNI: half a minute on a loaded machine
def test_without_a_pool_the_client_runs_the_plain_entry(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tnas_plugin.jobs.warm_trials", "--socket", str(tmp_path / "none.sock"),
                           "--", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "python -m tnas_plugin.strategies.trial" in done.stdout


def test_the_pool_warms_up_without_importing_nni_which_reads_each_trials_variables_on_import():
    warm = "import importlib, sys; from tnas_plugin.jobs.warm_trials import DEFAULT_WARM\n" \
           "[importlib.import_module(m) for m in DEFAULT_WARM]; print('nni' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", warm], capture_output=True, text=True, check=True).stdout.strip() == "False"
