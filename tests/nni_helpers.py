"""Test helpers for real NNI experiments, in one place: free ports, the manager's REST API, its processes and
their listening sockets, a guarantee that no manager outlives a test, an experiment's database written
as NNI's manager writes it, and a trial run in process with the parameters a test gives it."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import psutil
from nni.runtime.trial_command_channel import get_default_trial_command_channel, set_default_trial_command_channel
from nni.runtime.trial_command_channel.base import TrialCommandChannel
from nni.typehint import ParameterRecord

from tnas_plugin.strategies.nni_records import database_path

NNICTL = [sys.executable, "-m", "nni.tools.nnictl.nnictl"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # pytest-xdist's worker name, inherited by what a test starts


def manager_pids() -> set[int]:
    """NNI managers this test may own: started under this process, or orphaned (their starter died, as
    nnictl's launcher does) in this test process's pytest worker.

    Managers of other processes (other workers, a user's experiment) are never counted or killed.
    """
    out = subprocess.run(["pgrep", "-f", "nni_node/main.js"], capture_output=True, text=True)
    mine = {child.pid for child in psutil.Process().children(recursive=True)}
    pids = set()
    for pid in map(int, out.stdout.split()):
        try:
            process = psutil.Process(pid)
            if pid in mine or (process.ppid() == 1 and process.environ().get("PYTEST_XDIST_WORKER") == WORKER):
                pids.add(pid)
        except psutil.Error:
            pass
    return pids


@contextlib.contextmanager
def no_orphan_managers():
    """Kill every NNI manager that appeared inside the block, whatever happened in it.

    Yields the set of manager PIDs that were running before the block.
    """
    before = manager_pids()
    try:
        yield before
    finally:
        for pid in manager_pids() - before:
            subprocess.run(["kill", "-9", str(pid)], capture_output=True)


def wait_for_no_new_managers(before: set[int], timeout: float = 20.0) -> bool:
    """True once no manager other than those in ``before`` runs (managers take a moment to exit)."""
    deadline = time.monotonic() + timeout
    while manager_pids() - before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def rest(port: int, path: str):
    """The JSON answer of the manager on ``127.0.0.1:port`` to ``/api/v1/nni/<path>``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/{path}", timeout=10) as response:
        return json.loads(response.read())


def final_metrics(port: int) -> list[dict]:
    """Final metric dicts from the REST API (each value is JSON text of the reported dict's JSON text)."""
    return [json.loads(json.loads(row["data"])) for row in rest(port, "metric-data") if row["type"] == "FINAL"]


def wait_for_status(port: int, wanted: set[str], timeout: float) -> str:
    """The experiment's status once it is one of ``wanted``; fails after ``timeout`` s (a manager not, or no
    longer, answering counts as a status too)."""
    deadline, status = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            status = rest(port, "check-status")["status"]
        except OSError as unreachable:
            status = f"unreachable ({unreachable})"
        if status in wanted:
            return status
        time.sleep(1)
    raise AssertionError(f"experiment still {status} after {timeout} s")


def manager_processes(port: int) -> list[psutil.Process]:
    """NNI managers started for ``port`` (whoever started them)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(part.endswith("nni_node/main.js") for part in cmdline) and str(port) in cmdline:
            found.append(proc)
    return found


def listening_addresses(procs: list[psutil.Process]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the processes listen on, from the socket table."""
    pids = {p.pid for p in procs}
    return {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp")
            if c.pid in pids and c.status == psutil.CONN_LISTEN}


def manager_sockets(port: int, timeout: float = 30) -> set[tuple[str, int]]:
    """(address, port) of every TCP listen of the NNI manager on ``port`` and of its children, from the socket
    table, once the manager listens on ``port`` (fails after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        found = listening_addresses([p for m in manager_processes(port) for p in [m, *m.children(recursive=True)]])
        if any(p == port for _, p in found):
            return found
        assert time.monotonic() < deadline, f"no NNI manager listens on port {port}"
        time.sleep(0.5)


LAUNCHER_GAVE_UP = "in _check_rest_server"  # NNI's launcher polls its new manager 3 times, 1 s apart, then kills it


def nnictl_start(command: list[str], env: dict, attempts: int = 3, timeout: float = 120) -> subprocess.CompletedProcess:
    """``nnictl create`` or ``nnictl resume`` (``command``), run again while NNI's own launcher gave up on a
    manager slow to answer (a loaded machine), which says nothing about the code under test. A retried
    ``create`` makes a new experiment: read its ID from the returned output."""
    for _ in range(attempts):
        started = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        if started.returncode == 0 or LAUNCHER_GAVE_UP not in started.stderr:
            return started
    return started


NNI_SCHEMA = """
create table if not exists TrialJobEvent (timestamp integer, trialJobId text, event text, data text, logPath text,
                                          sequenceId integer, message text);
create table if not exists MetricData (timestamp integer, trialJobId text, parameterId text, type text,
                                       sequence integer, data text);
"""  # the tables NNI's manager keeps (nni_node/core/sqlDatabase.js)


def write_experiment(folder, results, first_time: int = 0, cancelled=()) -> None:
    """Add ``results`` to the database of the experiment in ``folder``: (trial id, sequence, parameter id
    the trial ran and reported, parameter id NNI recorded for it, the parameters of the id it ran, final
    metric or None for a failure, or for a trial in ``cancelled``: ended USER_CANCELED). Trial ``i`` is
    issued its parameters at ``first_time + i``, reports at ``+ 50`` and ends at ``+ 100``."""
    database_path(folder).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(database_path(folder))
    connection.executescript(NNI_SCHEMA)
    by_id = {ran: params for _, _, ran, _, params, _ in results}
    for time_stamp, (trial, sequence, ran, recorded, _, metric) in enumerate(results, start=first_time):
        hyper = json.dumps({"parameter_id": recorded, "parameter_source": "algorithm",
                            "parameters": by_id[recorded], "parameter_index": 0})
        connection.execute("insert into TrialJobEvent values (?, ?, 'WAITING', ?, '', ?, null)",
                           (time_stamp, trial, hyper, sequence))
        connection.execute("insert into TrialJobEvent values (?, ?, ?, null, '', ?, null)",
                           (time_stamp + 100, trial, "USER_CANCELED" if trial in cancelled
                            else "FAILED" if metric is None else "SUCCEEDED", sequence))
        if metric is not None:  # NNI stores JSON text of the JSON text the trial reported
            connection.execute("insert into MetricData values (?, ?, ?, 'FINAL', 0, ?)",
                               (time_stamp + 50, trial, str(ran), json.dumps(json.dumps(metric))))
    connection.commit()
    connection.close()


class RecordingChannel(TrialCommandChannel):
    """What NNI's trial API talks to: hands out ``params``, keeps the (type, value) of each metric reported."""

    def __init__(self, params: dict):
        self.params, self.metrics = params, []

    def receive_parameter(self):
        return ParameterRecord(parameter_id=0, parameters=self.params)

    def send_metric(self, type, parameter_id, trial_job_id, sequence, value):  # noqa: A002 (NNI's signature)
        self.metrics.append((type, value))


@contextlib.contextmanager
def trial_channel(params: dict):
    """Within the block, NNI's trial API in this process receives ``params``; yields the recording channel."""
    channel, previous = RecordingChannel(params), get_default_trial_command_channel()
    set_default_trial_command_channel(channel)
    try:
        yield channel
    finally:
        set_default_trial_command_channel(previous)
