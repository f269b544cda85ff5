"""Clean stops on SIGINT, SIGTERM and SIGHUP (docs/ARCHITECTURE.md, "Reliability").

Inside :func:`stop_on_signals` the first of these signals raises :class:`Stopped` (a
``KeyboardInterrupt``, so NNI's experiment stops its manager as it does on Ctrl-C) wherever the main
thread is: starting NNI, waiting for a trial, retraining, the Lava check. Later signals are ignored
while the job cleans up. :func:`end_child_processes` then ends whatever this process started and is
still running (NNI's manager if it was caught half-started, Lava's runtime processes), and the command
exits with the conventional status 128 + signal number.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator

import psutil

from tnas_plugin.processes import end_processes

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """The job was stopped by ``signum``; ``exit_code`` is 128 + ``signum``."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopState:
    """The signal that stopped the job, if any (``signum`` None while it runs on)."""

    def __init__(self):
        self.signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


_current: StopState | None = None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopState]:
    """Turn the first SIGINT/SIGTERM/SIGHUP into :class:`Stopped`; ignore the ones that follow."""
    global _current
    state, outer = StopState(), _current

    def handler(signum, frame):
        if state.signum is None:
            state.signum = signum
            raise Stopped(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    _current = state
    try:
        yield state
    finally:
        _current = outer
        for sig, action in previous.items():
            signal.signal(sig, action)


def stop_requested() -> Stopped | None:
    """The stop to re-raise when NNI swallowed it (its experiment catches KeyboardInterrupt and returns)."""
    return Stopped(_current.signum) if _current is not None and _current.signum is not None else None


def raise_if_stopped() -> None:
    """Raise the stop a signal asked for if it got lost on the way: NNI's experiment returns quietly on a
    KeyboardInterrupt, and Python drops an exception raised while a finalizer runs ("Exception ignored in").
    The job calls it where a step ends, so that a stopped job never goes on to publish its results."""
    stop = stop_requested()
    if stop is not None:
        raise stop


def end_child_processes(timeout: float = 10.0) -> list[int]:
    """Terminate this process's remaining descendants (SIGTERM, then SIGKILL after ``timeout``); their PIDs."""
    children = psutil.Process().children(recursive=True)
    end_processes(children, timeout)
    return [child.pid for child in children]


def say(message: str, stream=None) -> None:
    """Print one line, tolerating a closed terminal (after SIGHUP there may be nobody to read it)."""
    with contextlib.suppress(OSError, ValueError):
        print(message, file=stream or sys.stdout, flush=True)


def exit_now(code: int) -> None:
    """Leave at once with ``code``: after a stop, threads of NNI or Lava must not keep the process alive."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
