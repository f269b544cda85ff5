"""Warm trial workers: NNI trials that do not start Python (docs/ARCHITECTURE.md, "Trial overhead").

A plain trial (``python -m tnas_plugin.strategies.trial``) spends seconds importing torch, NNI and the
package before it trains. Here the search job starts one **pool** process (:func:`serve`) that imports
them and preloads the search's clip store, then waits on a Unix socket. NNI still runs one trial command per
trial, the **client**::

    python -m tnas_plugin.jobs.warm_trials --socket PATH -- <the arguments of tnas_plugin.strategies.trial>

which imports only the standard library, hands its arguments, environment (NNI's ``NNI_*`` variables),
working folder and its stdout/stderr file descriptors (``SCM_RIGHTS``) to the pool, and exits with the
trial's status. For each trial the pool forks a **worker**: a copy of the warm process with the trial's
environment and output files, which imports ``nni`` (a fraction of a second once torch is loaded),
runs the plain trial's ``main`` and exits. So every trial reports to NNI as a plain one does (same
parameters, metrics and logs; NNI's web UI shows it) and starts from the same pristine state (no state
leaks from one trial to the next; the seeded results are those of a plain trial).

* A worker that dies (a signal, ``os._exit``) fails its trial: the client writes the reason
  (``WarmWorkerDied: ...``, the last line of ``trial.stderr``) and exits with status 1; the next trial
  runs on a fresh fork.
* A client that NNI stops (a cancelled trial, the experiment's end) closes its socket and the pool kills
  the worker. SIGINT stops the client even where it was started with SIGINT ignored (a manager launched
  from a background job of a non-interactive shell passes that on). The pool itself ends, killing every
  worker, when the search job closes its stdin (the job ended, however) or on SIGTERM/SIGINT; workers also
  die with the pool (``PR_SET_PDEATHSIG``).
* Where the socket is absent (the pool ended, a remote machine), the client runs the plain trial in
  its own process instead (``os.execv``).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

PLAIN_ENTRY = "tnas_plugin.strategies.trial"
DEFAULT_ENTRY = f"{PLAIN_ENTRY}:main"
#: What the pool imports before it listens: what a trial would otherwise import first: ``torch._dynamo`` is
#: what torch imports on a trial's first optimizer (seconds); not ``nni`` itself (see above), but the libraries
#: it imports, which read no NNI variable (``import nni`` in a worker then takes a few hundredths of a second).
DEFAULT_WARM = ("torch", "torch._dynamo", "tnas_plugin.measurement", "tnas_plugin.search_spaces.eye_space",
                "requests", "json_tricks", "schema", "typeguard", "filelock", "sqlite3")
_HEADER = struct.Struct("!I")  # length of the JSON request that follows the header
_READY = "ready"  # what the pool prints on stdout once it listens


#: How the reason of a trial whose worker died begins (the last line of its ``trial.stderr``).
WORKER_DIED = "WarmWorkerDied"


@dataclass(frozen=True)
class TrialRequest:
    """What a client hands to the pool: the plain trial's arguments, its environment and working folder."""

    args: list
    env: dict
    cwd: str

    def encode(self) -> bytes:
        return json.dumps({"args": self.args, "env": self.env, "cwd": self.cwd}).encode()

    @classmethod
    def decode(cls, payload: bytes) -> "TrialRequest":
        data = json.loads(payload)
        return cls(list(data["args"]), dict(data["env"]), str(data["cwd"]))


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = conn.recv(size)
        if not chunk:
            raise ConnectionError("the client closed its socket before its request was complete")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- the client (standard library only)

def run_client(socket_path: str, trial_args: list[str]) -> int:
    """Run one trial on the pool at ``socket_path``; the plain entry in this process if there is none."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # NNI's stop, whatever this process inherited
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(socket_path)
    except OSError:
        conn.close()
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", PLAIN_ENTRY, *trial_args])
    payload = TrialRequest(trial_args, dict(os.environ), os.getcwd()).encode()
    socket.send_fds(conn, [_HEADER.pack(len(payload))], [sys.stdout.fileno(), sys.stderr.fileno()])
    conn.sendall(payload)
    reply = b""
    while chunk := conn.recv(4096):
        reply += chunk
    conn.close()
    if not reply:
        print(f"{WORKER_DIED}: the trial pool at {socket_path} ended before the trial did", file=sys.stderr)
        return 1
    result = json.loads(reply)
    if result["reason"]:
        print(result["reason"], file=sys.stderr, flush=True)
    return int(result["status"])


# ---------------------------------------------------------------- the pool

def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent ends (``prctl(PR_SET_PDEATHSIG)``); no-op elsewhere."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _run_worker(request: TrialRequest, fds: list[int], entry: str) -> None:
    """In the forked worker: take the trial's environment, folder and output files, then import and run ``entry``
    (``module:function``; imported here, as ``nni`` reads its variables from the environment on import), exit."""
    os.setpgid(0, 0)
    _die_with_parent()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in (devnull, *fds):
        os.close(fd)
    os.environ.clear()
    os.environ.update(request.env)
    os.chdir(request.cwd)
    status = 1
    try:
        module_name, _, function = entry.partition(":")
        status = getattr(importlib.import_module(module_name), function)(request.args) or 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the trial's own failure: its traceback ends trial.stderr, as in a plain trial
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def _reason(pid: int, wait_status: int) -> tuple[int, str | None]:
    """(exit status, reason) of a worker from its wait status; a reason only when it did not exit by itself."""
    if os.WIFSIGNALED(wait_status):
        name = signal.Signals(os.WTERMSIG(wait_status)).name
        return 1, f"{WORKER_DIED}: the trial's warm worker (pid {pid}) was killed by {name}"
    return os.waitstatus_to_exitcode(wait_status), None


def _kill(pid: int) -> None:
    """SIGKILL a worker and its process group (whatever it started)."""
    for kill in (os.killpg, os.kill):
        with suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def serve(socket_path: str, entry: str = DEFAULT_ENTRY, preload: list[str] = (), warm: tuple[str, ...] = DEFAULT_WARM) -> None:
    """Warm up (import the modules ``warm``, load the clip stores ``preload``), listen on ``socket_path`` and fork
    one worker per trial request, running ``entry``, until stdin closes, SIGTERM or SIGINT."""
    for module in warm:
        importlib.import_module(module)
    if preload:
        from tnas_plugin.clip_store import preload_store

        for store in preload:
            preload_store(store)
    stopping = []
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda signum, frame: stopping.append(signum))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    workers: dict[int, socket.socket] = {}  # worker pid -> its client's socket
    print(_READY, flush=True)
    try:
        while not stopping:
            for key, _ in selector.select(timeout=0.05):
                if key.data == "stdin":
                    if not os.read(sys.stdin.fileno(), 4096):
                        stopping.append("stdin")
                elif key.data == "listener":
                    conn, _ = listener.accept()
                    conn.settimeout(10)
                    fds = []
                    try:
                        header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 2)
                        if len(fds) != 2:
                            raise ValueError(f"expected the client's stdout and stderr, got {len(fds)} descriptor(s)")
                        request = TrialRequest.decode(_recv_exactly(conn, _HEADER.unpack(header)[0]))
                    except (OSError, ValueError, KeyError, struct.error) as exc:
                        print(f"refused a trial request: {exc}", file=sys.stderr, flush=True)
                        for fd in fds:
                            os.close(fd)
                        conn.close()
                        continue
                    sys.stdout.flush()
                    sys.stderr.flush()
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        for other in workers.values():
                            other.close()
                        conn.close()
                        _run_worker(request, fds, entry)
                    with suppress(OSError):
                        os.setpgid(pid, pid)  # also here, so that a kill right after the fork reaches its group
                    for fd in fds:
                        os.close(fd)
                    workers[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
                else:  # a client's socket is readable only when the client has gone: stop its worker
                    _kill(key.data)
            while workers:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                conn = workers.pop(pid, None)
                if conn is not None:
                    status, reason = _reason(pid, wait_status)
                    selector.unregister(conn)
                    try:
                        conn.sendall(json.dumps({"status": status, "reason": reason}).encode())
                    except OSError:
                        pass  # the client has gone already
                    conn.close()
    finally:
        for pid in workers:
            _kill(pid)
        for pid in list(workers):
            os.waitpid(pid, 0)
        listener.close()
        Path(socket_path).unlink(missing_ok=True)


@contextmanager
def warm_pool(preload: list[str] = (), entry: str = DEFAULT_ENTRY, warm: tuple[str, ...] = DEFAULT_WARM, threads: int = 1):
    """Start a pool (:func:`serve`) for the duration of the ``with`` block; yields its socket path.

    The pool runs in a new process of this interpreter, its socket in a private temporary folder (Unix socket
    paths are short); it ends when the block ends, and with this process (its stdin closes).
    """
    folder = tempfile.mkdtemp(prefix="tnas-warm-")
    path = os.path.join(folder, "pool.sock")
    command = [sys.executable, "-m", "tnas_plugin.jobs.warm_trials", "--serve", "--socket", path, "--entry", entry,
               "--warm", ",".join(warm), *(arg for store in preload for arg in ("--preload", str(store)))]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    pool = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        ready = pool.stdout.readline().decode().strip()
        if ready != _READY:
            raise RuntimeError(f"the warm trial pool did not start (exit status {pool.wait()}); see its messages above")
        yield path
    finally:
        pool.stdin.close()
        try:
            pool.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pool.kill()
            pool.wait()
        pool.stdout.close()
        Path(path).unlink(missing_ok=True)
        os.rmdir(folder)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tnas_plugin.jobs.warm_trials",
                                     description="Run one trial on a warm trial pool (or, with --serve, be the pool).")
    parser.add_argument("--socket", required=True, help="the pool's Unix socket")
    parser.add_argument("--serve", action="store_true", help="be the pool (started by the search job)")
    parser.add_argument("--entry", default=DEFAULT_ENTRY, help=f"with --serve: the trial's main 'module:function' (default {DEFAULT_ENTRY})")
    parser.add_argument("--preload", action="append", default=[], help="with --serve: a clip store to load before listening")
    parser.add_argument("--warm", default=",".join(DEFAULT_WARM), help="with --serve: modules to import before listening (comma-separated)")
    parser.add_argument("trial_args", nargs=argparse.REMAINDER, help="-- then the arguments of the plain trial entry")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    trial_args = args.trial_args[1:] if args.trial_args[:1] == ["--"] else args.trial_args
    if args.serve:
        serve(args.socket, args.entry, args.preload, tuple(filter(None, args.warm.split(","))))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # the workers are gone; nothing to tear down (torch's would take seconds)
    return run_client(args.socket, trial_args)


if __name__ == "__main__":
    sys.exit(main())
