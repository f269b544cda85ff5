"""The description of the machine a benchmark ran on, written next to its results."""
from __future__ import annotations

import os
import platform

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else (platform.processor() or platform.machine())


def describe() -> str:
    """CPU model, logical cores, torch version and threads, and the 1-minute load average now."""
    return (f"{cpu_model()}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} thread(s), load avg {os.getloadavg()[0]:.2f}")
