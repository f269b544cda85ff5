"""NNI's manager on a busy machine: waits long enough to start, fails in one line, stops within seconds.

NNI 3.0 has three hand-shakes at start-up, each with a wait too short for a loaded machine (2 cores, other
jobs' trials running), and none of them configurable:

1. the launcher (``nni.experiment.launcher``) polls the new manager's REST server 3 times, 1 s apart, then
   kills it ("Create experiment failed");
2. the manager (``nni_node/core/tuner_command_channel.js``) gives the tuner process 10 s to connect its
   command channel ("Tuner did not connect in 10 seconds"), and the tuner imports torch and NNI first;
3. (``--engine nas``) the same wait, for this process's own strategy to connect.

Inside :func:`patient_manager_start`, the launcher waits up to ``MANAGER_START_S`` seconds for *its own*
manager to listen on the port (the process it started, read from the socket table: a manager of another
job answering on the same port is never taken for ours) and to answer, and ``tuner_connect.js`` (a Node
preload, next to this module) makes the manager wait ``TUNER_CONNECT_S`` seconds for the tuner. A manager
that exits while starting raises :class:`ManagerStartError`; ``port_taken`` says whether it lost its port.

:func:`stop_manager` stops a manager within ``MANAGER_STOP_S`` seconds: a tuner that has not connected
yet is ended first (NNI would wait for it, and it would print a ``ConnectionRefusedError`` once the
manager is gone), then NNI's own stop is given that long, then whatever remains is ended.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

import psutil

from tnas_plugin.processes import end_processes

MANAGER_START_S = 60  # the launcher's wait for its manager's REST server (NNI: 3 s)
TUNER_CONNECT_S = 300  # the manager's wait for the tuner to connect (NNI: 10 s); TNAS_TUNER_CONNECT_S overrides it
MANAGER_STOP_S = 5.0  # NNI's own stop, before the manager and its processes are ended
PRELOAD = Path(__file__).resolve().with_name("tuner_connect.js")
SECONDS_VARIABLE = "TNAS_TUNER_CONNECT_S"


class ManagerStartError(RuntimeError):
    """NNI's manager did not start on ``port``: it exited with ``status`` (``None``: it did not answer in
    time); ``port_taken``: another process listens on the port (the manager lost it)."""

    def __init__(self, port: int, status: int | None, port_taken: bool = False):
        self.port, self.status, self.port_taken = port, status, port_taken
        why = (f"did not answer within {MANAGER_START_S} s" if status is None else
               "could not listen on it: another program took it" if port_taken else f"exited with status {status}")
        super().__init__(f"NNI's manager on port {port} {why}")


def listens(port: int, process: psutil.Process | None = None) -> bool:
    """Whether ``process`` (default: any process) has a socket listening on ``port``."""
    with contextlib.suppress(psutil.Error):
        connections = process.net_connections(kind="inet") if process else psutil.net_connections(kind="inet")
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)
    return False


@contextlib.contextmanager
def patient_manager_start(seconds: int | None = None) -> Iterator[None]:
    """Within the block, NNI managers started by this process get the waits above (see the module docstring):
    the tuner ``seconds`` (default: ``$TNAS_TUNER_CONNECT_S``, else ``TUNER_CONNECT_S``). A start-up that
    fails or is interrupted leaves no manager or tuner behind."""
    from nni.experiment import launcher

    if seconds is None:
        seconds = int(os.environ.get(SECONDS_VARIABLE) or TUNER_CONNECT_S)

    original, started = {name: getattr(launcher, name) for name in _PATCHED}, []

    def ensure_port_idle(port: int, message: str | None = None) -> None:
        try:
            original["_ensure_port_idle"](port, message)
        except RuntimeError:
            raise ManagerStartError(port, None, port_taken=True) from None

    def start_rest_server(*args, **kwargs):
        started.append(original["_start_rest_server"](*args, **kwargs))
        return started[-1]

    def check_rest_server(port: int, retry: int = 3, url_prefix: str | None = None) -> None:
        deadline = time.monotonic() + MANAGER_START_S
        manager = psutil.Process(started[-1].pid)
        while not listens(port, manager):
            if started[-1].poll() is not None:
                raise ManagerStartError(port, started[-1].returncode, port_taken=listens(port))
            if time.monotonic() > deadline:
                raise ManagerStartError(port, None)
            time.sleep(0.2)
        original["_check_rest_server"](port, retry=MANAGER_START_S, url_prefix=url_prefix)

    def start_experiment(*args, **kwargs):
        try:
            return original["start_experiment"](*args, **kwargs)
        except BaseException:  # NNI kills its manager on an error only, and not the tuner it may have started
            if started and started[-1].poll() is None:
                stop_manager(started[-1].pid, None)
            raise

    saved = {name: os.environ.get(name) for name in ("NODE_OPTIONS", SECONDS_VARIABLE)}
    require = f'--require "{PRELOAD}"'
    options = os.environ.get("NODE_OPTIONS", "")
    os.environ.update({"NODE_OPTIONS": options if require in options else f"{options} {require}".strip(),
                       SECONDS_VARIABLE: str(seconds)})
    for name, replacement in zip(_PATCHED, (ensure_port_idle, start_rest_server, check_rest_server, start_experiment)):
        setattr(launcher, name, replacement)
    try:
        yield
    finally:
        for name, function in original.items():
            setattr(launcher, name, function)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_PATCHED = ("_ensure_port_idle", "_start_rest_server", "_check_rest_server", "start_experiment")


def stop_manager(pid: int, port: int | None, url_prefix: str | None = None) -> None:
    """Stop the manager ``pid`` serving ``port`` within about ``MANAGER_STOP_S`` seconds and end every
    process it started. NNI's own stop (REST ``DELETE /experiment``, as ``Experiment.stop`` sends it) is
    skipped while the tuner has not connected: the manager would wait for it."""
    import requests

    try:
        manager = psutil.Process(pid)
        tree = manager.children(recursive=True)
    except psutil.Error:
        return
    deadline = time.monotonic() + MANAGER_STOP_S
    waiting = [process for process in tree if _is_tuner(process) and not _connected(process, port)]
    if waiting:
        _end(waiting)
    elif port is not None:
        url = "/".join(part.strip("/") for part in (f"http://localhost:{port}", url_prefix, "api/v1/nni/experiment") if part)
        with contextlib.suppress(requests.RequestException):  # NNI answers once its tuner has ended
            requests.delete(url, timeout=MANAGER_STOP_S)
        with contextlib.suppress(psutil.Error):
            manager.wait(timeout=max(0.0, deadline - time.monotonic()))
    _end([process for process in tree if process.pid != pid])
    _end([manager])


def _is_tuner(process: psutil.Process) -> bool:
    """NNI's tuner process (its dispatcher: ``python -m nni --exp_params ...``)."""
    with contextlib.suppress(psutil.Error):
        return process.cmdline()[1:3] == ["-m", "nni"]
    return False


def _connected(process: psutil.Process, port: int | None) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(c.raddr and c.raddr.port == port for c in process.net_connections(kind="inet"))
    return False


def _end(processes: list[psutil.Process], timeout: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    end_processes(processes, timeout)
