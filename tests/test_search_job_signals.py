"""The whole job, ``tnas-er search`` on tiny data, run once: stopped by SIGINT, SIGTERM or SIGHUP at any
moment, resumed with ``--resume`` and finished, then every result file checked.

Every stop must give exit status 128 + signal, no traceback, no process left behind (NNI's manager and
trials, Lava's runtime), the finished trials kept in ``OUT.partial/trials.csv``. Each moment is reached by
waiting for a line the job prints. Tiny data (tests/conftest.py); one run is stopped and resumed three
times, so that each resume is checked too. The three signals share one handler (checked in-process for
each); end to end, SIGHUP stops the start-up, SIGINT a trial and SIGTERM every later moment.
"""
import json
import os
import re
import shutil
import signal
import time

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
from PIL import Image

from job_helpers import STOP, Job
from nni_helpers import free_port, manager_sockets, no_orphan_managers, wait_for_no_new_managers
from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.checkpoint import save_checkpoint
from tnas_plugin.jobs.signals import Stopped, raise_if_stopped, stop_on_signals
from tnas_plugin.strategies.trial import DELAY_ENV
from tnas_plugin.ttfs import ann_to_ttfs

TINY = ["--epochs", "10", "--final-epochs", "1", "--resolution", "16", "--finalists", "1", "--quiet"]
PLOTS = ["pareto.png", "confusion.png", "lighting.png", "synops_per_layer.png", "spike_times.png"]
TABLES = ["trials.csv", "pareto.csv", "finalists.csv", "comparison.csv", "confusion.csv", "synops_per_layer.csv",
          "lava.json", "fixed_point.json", "run.json", "report.md", "chosen/model.pt", "chosen/architecture.json", "chosen/metrics.json"]


def search(data, out, *extra, port: int | None = None) -> Job:
    return Job("search", "--data", data, "--out", out, "--port", port or free_port(), *TINY, *extra)


def uncaught(output: str) -> list[str]:
    """Tracebacks of exceptions that escaped the command (their first frame is the CLI module's top level);
    the ones NNI logs while stopping (a manager caught half-started, say) are its own business."""
    blocks = output.split("Traceback (most recent call last):")[1:]
    heads = ["\n".join(block.splitlines()[:5]) for block in blocks]
    return [head for head in heads if "tnas_plugin/jobs/cli.py" in head and "in <module>" in head]


def assert_clean_stop(job: Job, code: int, sig: int) -> None:
    assert code == 128 + sig, job.output[-3000:]
    assert not uncaught(job.output), job.output[-3000:]
    assert f"stopped by {signal.Signals(sig).name}" in job.output
    assert not job.left_behind(), job.left_behind()


@pytest.mark.parametrize("name", list(STOP))
def test_each_signal_stops_once_and_later_ones_are_ignored(name):
    before = signal.getsignal(STOP[name])
    with stop_on_signals() as state:
        with pytest.raises(Stopped) as stopped:
            os.kill(os.getpid(), STOP[name])
            time.sleep(5)  # the handler raises in the main thread at once
        os.kill(os.getpid(), signal.SIGINT)  # a second signal, of any kind, changes nothing
    assert stopped.value.exit_code == 128 + STOP[name] and state.name == name
    assert signal.getsignal(STOP[name]) == before



def test_a_stop_swallowed_on_the_way_is_raised_again_where_a_step_ends():
    with stop_on_signals():
        raise_if_stopped()  # no signal yet: nothing
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(5)
        except KeyboardInterrupt:
            pass  # dropped, as NNI's experiment or a finalizer drops it
        with pytest.raises(Stopped) as stopped:
            raise_if_stopped()
    assert stopped.value.exit_code == 128 + signal.SIGHUP

def test_stop_while_nni_starts(tiny_see, tmp_path):
    out = tmp_path / "r"
    job = search(tiny_see, out, "--budget", "2")
    job.wait_for(r"^starting NNI experiment")
    assert_clean_stop(job, job.send(signal.SIGHUP), signal.SIGHUP)
    assert not out.exists() and (tmp_path / "r.partial" / "search-run.json").is_file()  # resumable, not published


@pytest.mark.parametrize("name", ["SIGINT", pytest.param("SIGHUP", marks=pytest.mark.slow)])  # SIGTERM: below
def test_stop_during_a_trial_on_a_warm_worker(tiny_see, tmp_path, monkeypatch, name):
    # the trials run on forks of the warm trial pool (tnas_plugin/jobs/warm_trials.py), the pool a child of the job;
    # each first sleeps up to 10 s (a worker lives long enough to be seen, however fast the machine trains)
    monkeypatch.setenv(DELAY_ENV, "10")
    out, port = tmp_path / "r", free_port()
    job = search(tiny_see, out, "--budget", "4", port=port)
    job.wait_for(r"^trial \d+ \(\w+\) running")
    deadline = time.monotonic() + 120
    while not (workers := [worker for pool in _warm_pools(job) for worker in pool.children()]):
        assert time.monotonic() < deadline and job.process.poll() is None, f"no trial ran on a warm worker:\n{job.output[-3000:]}"
        time.sleep(0.2)
    # every port the job's manager opened is on 127.0.0.1 (strategies/manager_listen.py), and no warning says otherwise
    listening = manager_sockets(port)
    assert {address for address, _ in listening} == {"127.0.0.1"}, listening
    assert_clean_stop(job, job.send(STOP[name]), STOP[name])
    assert "no authentication" not in job.output
    assert (tmp_path / "r.partial" / "trials.csv").is_file() and not out.exists()
    assert f"--resume {out}" in job.output
    assert {worker.pid for worker in workers} & {process.pid for process in job.descendants}
    assert not any(worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE for worker in workers)


def _warm_pools(job: Job) -> list[psutil.Process]:
    found = []
    for process in psutil.Process(job.process.pid).children(recursive=True):
        try:
            if "tnas_plugin.jobs.warm_trials" in process.cmdline() and "--serve" in process.cmdline():
                found.append(process)
        except psutil.Error:
            pass
    return found


def test_sigterm_at_every_moment_and_resume_to_the_end(tiny_see, tmp_path):
    """One run with a corrupt frame, left out by --skip-bad: stopped in a trial, while retraining and during
    the Lava check, resumed after each stop, and finished."""
    data = shutil.copytree(tiny_see, tmp_path / "see", ignore=shutil.ignore_patterns(".cache"))
    bad = sorted((data / "frame").glob("*/*/00002.jpg"))[-1]
    bad.write_bytes(b"\xff\xd8 truncated")
    out, partial = tmp_path / "r", tmp_path / "r.partial"
    # 1. during a trial, once one has finished
    # 10 epochs: some network learns; --quick: Lava checked on 5 clips; every baseline still measured
    job = search(data, out, "--budget", "3", "--skip-bad", "--epochs", "10", "--quick", "--baselines", "full")
    experiment = job.wait_for(r"^starting NNI experiment (\w+)").group(1)
    job.wait_for(r"^trial \d+ \(\w+\) (done|failed)")
    assert_clean_stop(job, job.send(signal.SIGTERM), signal.SIGTERM)
    kept = pd.read_csv(partial / "trials.csv")
    assert len(kept) >= 1 and set(kept["status"]) <= {"done", "failed"}
    assert all(isinstance(why, str) and why for why in kept.loc[kept["status"] == "failed", "reason"])  # one line

    # a resume that cannot load the saved search state stops before NNI starts and leaves the state as it was
    state = partial / "nni" / experiment / "checkpoint" / "tnas_evolution_state.json"
    saved = state.read_bytes()
    state.write_text('{"version": 2}')
    job = Job("search", "--resume", out, "--port", free_port())
    assert job.wait() == 1 and "cannot continue the search" in job.output and "Traceback" not in job.output
    assert state.read_text() == '{"version": 2}'
    state.write_bytes(saved)

    # 2. resume: the same NNI experiment, the finished trials kept; stopped while retraining the finalist
    job = Job("search", "--resume", out, "--port", free_port())
    assert job.wait_for(r"^resuming NNI experiment (\w+)").group(1) == experiment
    job.wait_for(r"^finalist 0:")
    assert_clean_stop(job, job.send(signal.SIGTERM), signal.SIGTERM)
    trials = pd.read_csv(partial / "trials.csv")
    assert len(trials) == 3 and set(kept["nni_trial"].dropna()) <= set(trials["nni_trial"].dropna())
    dispatcher_log = (partial / "nni" / experiment / "log" / "dispatcher.log").read_text()
    assert re.search(r"Resumed the search from the checkpoint \(\d+ results\)", dispatcher_log), dispatcher_log[-3000:]
    assert json.loads((partial / "search-run.json").read_text())["search_complete"]

    # 3. resume: the search is not run again; stopped during the Lava check
    job = Job("search", "--resume", out, "--port", free_port())
    job.wait_for(r"^the search finished before the stop")
    job.wait_for(r"^checking the chosen network on Lava")
    assert_clean_stop(job, job.send(signal.SIGTERM), signal.SIGTERM)
    assert not out.exists()

    # 4. resume to the end: the results move from r.partial to r
    with no_orphan_managers() as before:
        job = Job("search", "--resume", out, "--port", free_port())
        assert job.wait(timeout=600) == 0, job.output[-3000:]  # the whole finish: finalist, Lava, every baseline
        assert wait_for_no_new_managers(before)
    assert not partial.exists() and (out / "report.md").is_file() and (out / "chosen" / "model.pt").is_file()
    assert pd.read_csv(out / "trials.csv")["nni_trial"].tolist() == trials["nni_trial"].tolist()
    assert not uncaught(job.output), job.output[-3000:]
    assert "without authentication" not in job.output  # the manager listens on 127.0.0.1 by default: no warning
    skipped = (out / "report.md").read_text().split("## Skipped data (--skip-bad)")[1]
    assert bad.parent.name in skipped and "corrupt JPEG" in skipped
    assert_every_result(out, trials=3)


def assert_every_result(out, trials: int) -> None:
    """Every table and plot of a finished search, and what they say."""
    for name in TABLES + PLOTS:
        assert (out / name).is_file(), name
    for name in PLOTS:
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 100
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == trials and {"val_war", "val_uar", "val_synops", "val_energy_uj"} <= set(table.columns)
    comparison = pd.read_csv(out / "comparison.csv")
    assert len(comparison) == 6 and comparison["test_war"].between(0, 1).all()
    finalist = comparison[comparison["network"].str.startswith("finalist 0 (trained on training)")]
    assert len(finalist) == 1 and 0 <= float(finalist["val_uar"].iloc[0]) <= 1  # validation vs test, side by side
    assert pd.read_csv(out / "finalists.csv")["chosen"].tolist() == [True]
    for baseline in ("ANN twin", "rate twin (IF", "LIF BPTT"):  # the chosen network's twins and the LIF baseline
        assert comparison["network"].str.startswith(baseline).any(), baseline
    assert json.loads((out / "lava.json").read_text())["agreement"] == 1.0
    fixed = json.loads((out / "fixed_point.json").read_text())  # the 8-bit integer twin, bit-exact on Lava fixed_pt
    assert fixed["weight_bits"] == 8 and 0 <= fixed["test_uar"] <= 1
    assert fixed["lava"]["agreement"] == fixed["lava"]["spike_step_agreement"] == 1.0
    assert fixed["lava"]["max_readout_difference"] == 0
    report = (out / "report.md").read_text()
    for name in PLOTS + ["trials.csv", "pareto.csv"]:
        assert f"({name})" in report
    assert "## Fixed point" in report and "8-bit integer" in report
    assert "retrained on training + validation" in report and "takes within subjects" in report
    chosen, handcrafted = (comparison.set_index("network").loc[name] for name in ("TNAS-ER (chosen)", "hand-crafted TTFS CNN"))
    verdict = report.splitlines()[2]  # the report opens with its verdict: chosen vs hand-crafted, on test
    assert verdict.startswith("**Verdict.**") and "chance is 0.143" in verdict.lower()
    assert f"test UAR {chosen.test_uar:.3f} at {chosen.test_energy_uj:.3g} µJ" in verdict
    assert "hand-crafted TTFS CNN itself" in verdict or f"{handcrafted.test_uar:.3f} at {handcrafted.test_energy_uj:.3g} µJ" in verdict
    spiking = set(np.load(out / "spike_times.npz").files) - {"steps_per_window"}  # one label per layer in every plot
    assert spiking and spiking <= set(pd.read_csv(out / "synops_per_layer.csv")["name"])


def test_sigterm_during_export_lava_leaves_no_lava_process(tiny_see, tmp_path):
    spec = CandidateSpec(modality="event", frames=2, steps_per_window=4, resolution=16,
                         stages=(StageSpec(4, 3, "max"),), classifier_width=8, num_classes=7)
    torch.manual_seed(0)
    snn = ann_to_ttfs(build_ann(spec).eval(), torch.rand(8, spec.in_channels, 16, 16))
    checkpoint = save_checkpoint(tmp_path / "model.pt", spec, snn)
    job = Job("export-lava", checkpoint, "--data", tiny_see, "--samples", "40", "--samples-per-run", "1")
    job.wait_for(r"^Lava process graph")
    assert_clean_stop(job, job.send(signal.SIGTERM), signal.SIGTERM)
