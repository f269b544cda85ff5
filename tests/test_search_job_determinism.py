"""Same seed, same search: ``tnas-er search`` gives the same ``trials.csv`` whatever its trials' timing, and a
run stopped by SIGTERM in the middle of a trial and resumed ends with the ``trials.csv`` of a run never
stopped (docs/ARCHITECTURE.md, "Determinism"). Tiny data (tests/conftest.py), 12 trials two at a time; the
second run's trials each sleep a random time first (``TNAS_ER_TRIAL_DELAY_S``), so they end in another order.
Each run is stopped once its search is over (when the first finalist starts): the search is what is compared.
"""
import signal

import pandas as pd
import pytest

from job_helpers import Job
from nni_helpers import free_port
from tnas_plugin.strategies.trial import DELAY_ENV

SEARCH = ["--budget", "12", "--concurrency", "2", "--epochs", "2", "--final-epochs", "1", "--resolution", "16",
          "--finalists", "1", "--seed", "4", "--quiet"]


def search(data, out, *extra) -> Job:
    return Job("search", "--data", data, "--out", out, "--port", free_port(), *SEARCH, *extra, timeout=1200)


def searched_trials(job: Job, partial) -> pd.DataFrame:
    """Stop ``job`` once its search is over; its ``trials.csv`` as text, NNI's trial IDs left out."""
    job.wait_for(r"^finalist 0:")
    assert job.send(signal.SIGTERM) == 128 + signal.SIGTERM, job.output[-3000:]
    return pd.read_csv(partial / "trials.csv", dtype=str, keep_default_na=False).drop(columns=["nni_trial"])


@pytest.mark.slow  # two searches of 12 trials: minutes
def test_same_trials_whatever_the_timing_and_across_a_sigterm_and_resume(tiny_see, tmp_path, monkeypatch):
    steady = searched_trials(search(tiny_see, tmp_path / "a"), tmp_path / "a.partial")
    assert len(steady) == 12 and (steady["status"] == "done").any()

    monkeypatch.setenv(DELAY_ENV, "4")  # inherited by NNI's manager and its trials
    job = search(tiny_see, tmp_path / "b")
    job.wait_for(r"^trial \d+ \(\w+\) (done|failed)")
    running = job.wait_for(r"^trial \d+ \((\w+)\) running", start=len(job.lines)).group(1)
    assert job.send(signal.SIGTERM) == 128 + signal.SIGTERM, job.output[-3000:]
    assert running not in set(pd.read_csv(tmp_path / "b.partial" / "trials.csv")["nni_trial"])  # stopped mid-trial
    resumed = searched_trials(Job("search", "--resume", tmp_path / "b", "--port", free_port(), timeout=1200),
                              tmp_path / "b.partial")
    assert resumed.to_csv(index=False) == steady.to_csv(index=False)
