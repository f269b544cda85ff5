"""Ending processes: SIGTERM, then SIGKILL for those still alive (the one way every part of TNAS-ER stops them)."""
from __future__ import annotations

import contextlib
from typing import Iterable

import psutil


def end_processes(processes: Iterable[psutil.Process], timeout: float) -> None:
    """Send each of ``processes`` SIGTERM, then SIGKILL to those still alive after ``timeout`` seconds."""
    processes = list(processes)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=timeout)
