"""Test helper: a ``tnas-er`` command run as a real process, driven by the lines it prints.

A test waits for a line the job prints (never a fixed sleep) and then signals it; ``descendants`` are
snapshotted at that moment so that the test can check that every process the job had started (NNI's
manager and its trials, Lava's runtime) is gone once it exited.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import psutil


class Job:
    def __init__(self, *argv, timeout: float = 300.0):
        self.argv = [sys.executable, "-m", "tnas_plugin.jobs.cli", *map(str, argv)]
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.lines: list[str] = []
        self.descendants: list[psutil.Process] = []
        self.deadline = time.monotonic() + timeout
        self._ended = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, start: int = 0) -> re.Match:
        """The first line from ``start`` on matching ``pattern``; fails if the job ends or times out first."""
        regex = re.compile(pattern)
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if match := regex.search(line):
                        return match
                if self._ended or time.monotonic() > self.deadline:
                    break
                self._changed.wait(timeout=1)
        self.kill()
        raise AssertionError(f"no line matching {pattern!r}; the job printed:\n{self.output[-4000:]}")

    def send(self, sig: int) -> int:
        """Snapshot the job's descendants, send ``sig``, wait for the exit; the exit status."""
        self.descendants = psutil.Process(self.process.pid).children(recursive=True)
        os.kill(self.process.pid, sig)
        return self.wait()

    def wait(self, timeout: float = 180.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the job did not exit; it printed:\n{self.output[-4000:]}") from None

    def left_behind(self, grace: float = 10.0) -> list[str]:
        """The snapshotted descendants still alive ``grace`` seconds after the job exited (should be none)."""
        deadline = time.monotonic() + grace
        while True:
            alive = [p for p in self.descendants if _alive(p)]
            if not alive or time.monotonic() > deadline:
                return [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in alive if _alive(p)]
            time.sleep(0.5)

    def kill(self) -> None:
        for process in [*self.descendants, *_children(self.process.pid)]:
            try:
                process.kill()
            except psutil.Error:
                pass
        self.process.kill()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


STOP = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
