"""A trial entry for tests/test_warm_trials.py, run by a warm trial pool's workers (``warm_entries:main``)."""
import os
import signal
import sys
import time
from pathlib import Path


def main(args: list[str]) -> int:
    """``args``: a file to record the worker's pid, its NNI trial ID and folder in, then ``ok``, ``fail``
    (an exception), ``crash`` (SIGKILL in the middle of the trial) or ``sleep``."""
    record, action = args
    Path(record).write_text(f"{os.getpid()} {os.environ.get('NNI_TRIAL_JOB_ID')} {os.getcwd()}")
    print(f"trial {os.environ.get('NNI_TRIAL_JOB_ID')} runs on {os.getpid()}", flush=True)
    if action == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "sleep":
        time.sleep(120)
    if action == "fail":
        raise ValueError("collapsed: not a result")
    print("done", file=sys.stderr)
    return 0
