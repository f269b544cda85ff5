"""NNI 3.0's remote training service, for real: ``examples/see_search_remote.yml`` (machines and sizes
replaced) with ``nnictl create`` against an OpenSSH server on 127.0.0.1 that stands in for a worker.

The sshd is private to the test: its own config, a free port on 127.0.0.1, a throw-away host key and
user key, ``AuthorizedKeysFile`` in the temporary folder (``~/.ssh`` is never touched), and
``SetEnv PIP_NO_INDEX=1 HOME=<tmp>`` so that NNI's worker setup (``pip install nni --upgrade``) cannot
change the environment and the worker's files (``~/nni-experiments``) land in the temporary folder.
Two tiny trials of the real trial entry (``python -m tnas_plugin.strategies.trial``) run on the tiny
synthetic set with the TNAS tuner; the manager listens on 127.0.0.1 only (``manager_listen``) and the
worker reaches it at ``nniManagerIp: 127.0.0.1``. Afterwards nothing of it runs: not the manager, the
worker's trial keeper and trials, nor sshd. Needs ``/usr/sbin/sshd`` (``make system-deps``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from nni_helpers import NNICTL, final_metrics, free_port, listening_addresses, manager_processes, rest
from tnas_plugin.strategies.manager_listen import manager_environment

ROOT = Path(__file__).resolve().parents[1]
SSHD = Path("/usr/sbin/sshd")
VENV_BIN = Path(sys.executable).parent  # the project's environment: pythonPath of the worker
# Small, but enough for the trained networks not to collapse to one class (such a trial fails on purpose).
SPACE_ARGS = {"resolution": 16, "modality_choices": ["frame", "both"], "stage_choices": [1, 2], "channel_choices": [4],
              "width_choices": [16], "steps_choices": [8], "frame_choices": [2]}
EVALUATOR_ARGS = {"epochs": 3, "finetune_epochs": 1, "eval_starts": 2, "batch_size": 16, "synops_samples": 8}
TRIALS = 2

def _processes_with_home(home: Path) -> list[psutil.Process]:
    """Processes started by the worker's SSH sessions (sshd gives them HOME=<home>): the trial keeper, trials."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("HOME") == str(home):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return alive


class Worker:
    """An sshd on 127.0.0.1 for the current user, with everything it needs under ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.home = folder / "home"
        self.host_key = folder / "host_ed25519"
        self.user_key = folder / "user_ed25519"
        self.port = free_port()
        self.user = psutil.Process().username()
        self.log = folder / "sshd.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.home.mkdir(parents=True)
        for key in (self.host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tnas-er-test", "-f", str(key)], check=True)
        shutil.copy(self.user_key.with_suffix(".pub"), self.folder / "authorized_keys")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation folder
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the temporary folder sits under the world-writable /tmp
            f"SetEnv PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HOME={self.home}",
            "Subsystem sftp internal-sftp",
            "",
        ]))
        subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True, capture_output=True)
        with self.log.open("w") as log:
            self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while "Server listening on 127.0.0.1" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def run(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ssh", "-i", str(self.user_key), "-p", str(self.port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={self.folder / 'known_hosts'}",
             f"{self.user}@127.0.0.1", command],
            capture_output=True, text=True, timeout=60)

    def stop(self) -> list[str]:
        """Stop sshd and whatever its sessions left running; the descriptions of the latter."""
        leftovers = _processes_with_home(self.home)
        described = [f"{p.pid} {' '.join(p.cmdline())[:200]}" for p in leftovers if p.is_running()]
        for proc in leftovers:
            proc.terminate()
        for proc in _wait_gone(leftovers, 10):
            proc.kill()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return described


@pytest.fixture(scope="module")
def remote_see(tmp_path_factory):
    """20 subjects of 16x16 synthetic sequences (~4 s): validation holds enough clips for a 3-epoch network."""
    from tnas_plugin.data import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("remote-see") / "synthetic-see"
    synthesize(root, SynthConfig(subjects=20, size=(16, 16), sequences_per_subject=14, frames=(12, 16)))
    return root


@pytest.fixture
def worker(tmp_path):
    if not SSHD.exists():
        pytest.skip(f"{SSHD} missing: openssh-server is not installed (`make system-deps` installs it as root)")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("the OpenSSH client (ssh, ssh-keygen) is not installed")
    machine = Worker(tmp_path / "worker")
    machine.folder.mkdir()
    try:
        machine.start()
        yield machine
    finally:
        machine.stop()
    assert machine.process.poll() is not None, "sshd still runs"


def remote_config(tmp_path: Path, worker: Worker, data: Path) -> Path:
    """examples/see_search_remote.yml with the loopback worker, the tiny space and 2 trials."""
    from tnas_plugin.strategies.trial import write_search_space

    # The trial code folder NNI uploads holds nothing the trial needs, as in the example, but must not be
    # empty (NNI 3.0's tarball step fails with "TypeError: no files or directories specified").
    code = tmp_path / "code"
    code.mkdir()
    write_search_space(code / "space.json", **SPACE_ARGS)
    config = yaml.safe_load((ROOT / "examples/see_search_remote.yml").read_text())
    assert config["trainingService"]["platform"] == "remote"
    assert "-m tnas_plugin.strategies.trial" in config["trialCommand"]
    config.update({
        "searchSpaceFile": str(code / "space.json"),
        "trialCodeDirectory": str(code),
        "trialCommand": (f"{VENV_BIN / 'python'} -m tnas_plugin.strategies.trial --data {data} "
                         f"--space-args '{json.dumps(SPACE_ARGS)}' --evaluator-args '{json.dumps(EVALUATOR_ARGS)}'"),
        "trialConcurrency": TRIALS, "maxTrialNumber": TRIALS, "maxExperimentDuration": "5m",
        "nniManagerIp": "127.0.0.1",
        "experimentWorkingDirectory": str(tmp_path / "experiments"),
    })
    config["tuner"]["codeDirectory"] = str(ROOT)
    config["tuner"]["classArgs"]["population_size"] = 2
    config["trainingService"]["machineList"] = [{
        "host": "127.0.0.1", "port": worker.port, "user": worker.user,
        "sshKeyFile": str(worker.user_key), "pythonPath": str(VENV_BIN),
    }]
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_remote_example_is_a_valid_nni_config(tmp_path):
    from nni.experiment.config import ExperimentConfig

    raw = yaml.safe_load((ROOT / "examples/see_search_remote.yml").read_text())
    key = tmp_path / "id_ed25519"
    key.write_text("not a key\n")  # NNI checks that the key file exists
    for machine in raw["trainingService"]["machineList"]:
        assert machine["pythonPath"] in raw["trialCommand"]  # the trial names the worker's python
        machine["sshKeyFile"] = str(key)
    raw["searchSpaceFile"] = str(ROOT / "examples" / raw["searchSpaceFile"])
    raw["trialCodeDirectory"] = str(ROOT / "examples")
    raw["tuner"]["codeDirectory"] = str(ROOT)
    config = ExperimentConfig(**raw).canonical_copy()
    assert config.training_service.platform == "remote" and config.nni_manager_ip == raw["nniManagerIp"]
    assert len(list((ROOT / "examples").iterdir())) < 2000 and (ROOT / ".nniignore").read_text().split()[-2:] == ["*", "!/.nniignore"]


def test_sshd_worker_is_loopback_only_and_keeps_pip_offline(worker):
    addresses = listening_addresses([psutil.Process(worker.process.pid)])
    assert addresses == {("127.0.0.1", worker.port)}
    result = worker.run(f'echo "$HOME $PIP_NO_INDEX"; {VENV_BIN / "python"} -c "import nni; print(nni.__version__)"')
    assert result.returncode == 0, result.stderr + worker.log.read_text()
    assert result.stdout.split() == [str(worker.home), "1", "3.0"]


def test_nnictl_search_runs_its_trials_on_the_remote_worker(worker, remote_see, tmp_path):
    config = remote_config(tmp_path, worker, remote_see)
    port = free_port()
    env = dict(os.environ, **manager_environment("127.0.0.1"))
    experiment_id = None
    logs = tmp_path / "experiments"

    def diagnosis() -> str:
        parts = [f"sshd.log:\n{worker.log.read_text()[-1500:]}"]
        for log in [*logs.glob("*/log/nnimanager.log"), *logs.glob("*/log/dispatcher.log"),
                    *worker.home.glob("nni-experiments/*/environments/*/trials/*/trial.stderr"),
                    *worker.home.glob("nni-experiments/*/environments/*/trial_keeper*/trial_keeper.stderr")]:
            parts.append(f"{log}:\n{log.read_text()[-2500:]}")
        return "\n".join(parts)

    try:
        created = subprocess.run([*NNICTL, "create", "--config", str(config), "--port", str(port)],
                                 capture_output=True, text=True, env=env, timeout=120)
        match = re.search(r"Experiment ID: (?:\x1b\[\d+m)?(\w+)", created.stdout)
        assert match, created.stdout + created.stderr
        experiment_id = match.group(1)
        managers = manager_processes(port)
        assert managers, created.stdout + created.stderr

        deadline, status = time.monotonic() + 150, None
        while time.monotonic() < deadline:
            try:
                status = rest(port, "check-status")["status"]
            except OSError:  # the manager has gone
                pytest.fail(f"the NNI manager stopped answering\n{diagnosis()}")
            if status in {"DONE", "ERROR"}:
                break
            time.sleep(2)
        # The manager's every listening socket (REST API, web UI and the workers' WebSocket channel) is on
        # 127.0.0.1, read from the socket table while the experiment runs its remote workers.
        listening = listening_addresses(managers)
        trials = rest(port, "trial-jobs")
        metrics = final_metrics(port)
        report = [{"trial": t["trialJobId"], "status": t["status"], "environment": t.get("envId"), "logPath": t.get("logPath"),
                   "parameters": json.loads(t["hyperParameters"][0])["parameters"] if t.get("hyperParameters") else None}
                  for t in trials]
        print(f"experiment {experiment_id}: {status}")
        for row in report:
            print(json.dumps(row))
        for metric in metrics:
            print({key: metric[key] for key in ("war", "uar", "energy_uj")})
        print("manager listens on", sorted(listening))

        assert status == "DONE", diagnosis()
        assert listening and all(address == "127.0.0.1" for address, _ in listening), listening
        assert port in {p for _, p in listening}
        assert len(trials) == TRIALS and all(t["status"] == "SUCCEEDED" for t in trials), diagnosis()
        # NNI's records: each trial ran in the remote worker's environment, on host 127.0.0.1 ...
        assert {t.get("envId") for t in trials} == {"remote-worker1"}, trials
        assert all(t.get("logPath", "").startswith(f"127.0.0.1:~/nni-experiments/{experiment_id}/environments/remote-worker1/trials/")
                   for t in trials), trials
        # ... and its files are in the SSH user's home on the worker (HOME from sshd), not in the manager's.
        for trial in trials:
            trial_dir = worker.home / "nni-experiments" / experiment_id / "environments" / "remote-worker1" / "trials" / trial["trialJobId"]
            assert trial_dir.is_dir(), diagnosis()
        manager_log = next(logs.glob(f"{experiment_id}/log/nnimanager.log")).read_text()
        assert "Worker 127.0.0.1 initialized" in manager_log
        assert "Installed nni v3.0" in manager_log  # the worker's own nni, left as it was (PIP_NO_INDEX)
        assert len(metrics) == TRIALS
        for metric in metrics:
            assert {"war", "uar", "energy_uj"} <= set(metric)
            assert 0.0 <= metric["war"] <= 1.0 and 0.0 <= metric["uar"] <= 1.0 and metric["energy_uj"] > 0
    finally:
        if experiment_id is not None:
            subprocess.run([*NNICTL, "stop", experiment_id], capture_output=True, text=True, env=env, timeout=120)
        leftover = manager_processes(port)
        for proc in leftover:
            for child in [*proc.children(recursive=True), proc]:
                child.kill()
    assert not leftover, "nnictl stop left the NNI manager running"
    # The worker's trial keeper and trials end with the experiment (the worker fixture kills any left).
    still = _wait_gone(_processes_with_home(worker.home), 20)
    assert not still, [" ".join(p.cmdline()) for p in still]


def test_nas_experiment_runs_on_the_remote_worker(worker, remote_see, tmp_path, monkeypatch):
    """The Python path: NasExperiment with a RemoteConfig, started from the repository root, which NNI
    uploads as the trial code folder (the repository's .nniignore keeps that to one file)."""
    from nni.experiment.config import RemoteConfig, RemoteMachineConfig
    from nni.nas.experiment import NasExperiment

    from tnas_plugin.search_spaces import TTFSEyeSpace
    from tnas_plugin.strategies import TNASEvaluator, TNASEvolution
    from tnas_plugin.strategies.manager_listen import manager_listening_on

    monkeypatch.chdir(ROOT)  # NNI 3.0 NAS: the trial code folder is the current directory
    space = TTFSEyeSpace(**{key: tuple(value) if isinstance(value, list) else value for key, value in SPACE_ARGS.items()})
    experiment = NasExperiment(space, TNASEvaluator(str(remote_see), **EVALUATOR_ARGS), TNASEvolution(seed=0, population_size=2))
    experiment.config.max_trial_number = 1
    experiment.config.nni_manager_ip = "127.0.0.1"
    experiment.config.experiment_working_directory = str(tmp_path / "experiments")
    experiment.config.training_service = RemoteConfig(machine_list=[RemoteMachineConfig(
        host="127.0.0.1", port=worker.port, user=worker.user, ssh_key_file=str(worker.user_key), python_path=str(VENV_BIN))])
    port = free_port()
    try:
        with manager_listening_on("127.0.0.1"):
            experiment.start(port=port)
        listening = listening_addresses(manager_processes(port))
        deadline = time.monotonic() + 150
        while experiment.get_status() not in {"DONE", "ERROR"} and time.monotonic() < deadline:
            time.sleep(2)
        status = experiment.get_status()
        trials = rest(port, "trial-jobs")
        results = experiment.export_data()
    finally:
        experiment.stop()
    print(f"NAS experiment {experiment.id}: {status}")
    for trial in trials:
        print(trial["trialJobId"], trial["status"], trial.get("envId"), trial.get("logPath"))
    manager_log = (tmp_path / "experiments" / experiment.id / "log" / "nnimanager.log").read_text()
    assert status == "DONE", manager_log[-3000:]
    assert listening and {address for address, _ in listening} == {"127.0.0.1"}, listening
    assert [t["envId"] for t in trials] == ["remote-worker1"] and trials[0]["status"] == "SUCCEEDED"
    assert f"Upload directory trial_code = {ROOT}" in manager_log
    [result] = results
    assert {"war", "uar", "energy_uj"} <= set(result.value)
    assert not manager_processes(port)
    assert not _wait_gone(_processes_with_home(worker.home), 20)
