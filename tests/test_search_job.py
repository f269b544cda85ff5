"""``tnas-er search`` end to end on tiny data: every result file, and a clean stop on SIGTERM."""
import json
import signal
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest
from PIL import Image

from nni_helpers import free_port, no_orphan_managers, wait_for_no_new_managers

TINY = ["--budget", "2", "--epochs", "1", "--final-epochs", "1", "--resolution", "16", "--finalists", "1", "--quiet"]
PLOTS = ["pareto.png", "confusion.png", "lighting.png", "synops_per_layer.png", "spike_times.png"]
TABLES = ["trials.csv", "pareto.csv", "finalists.csv", "comparison.csv", "confusion.csv", "synops_per_layer.csv",
          "lava.json", "run.json", "report.md", "chosen/model.pt", "chosen/architecture.json", "chosen/metrics.json"]


def _search(data, out, port, *extra):
    return [sys.executable, "-m", "tnas_plugin.jobs.cli", "search", "--data", str(data), "--out", str(out), "--port", str(port), *extra]


def test_tiny_search_writes_every_result(tiny_see, tmp_path):
    out = tmp_path / "results"
    with no_orphan_managers() as before:
        done = subprocess.run(_search(tiny_see, out, free_port(), *TINY), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert wait_for_no_new_managers(before)
    assert "without authentication" in done.stderr
    for name in TABLES + PLOTS:
        assert (out / name).is_file(), name
    for name in PLOTS:
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 100
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and {"war", "uar", "synops", "energy_uj"} <= set(trials.columns)
    comparison = pd.read_csv(out / "comparison.csv")
    assert len(comparison) == 3 and comparison["war"].between(0, 1).all()
    assert json.loads((out / "lava.json").read_text())["agreement"] == 1.0
    report = (out / "report.md").read_text()
    for name in PLOTS + ["trials.csv", "pareto.csv"]:
        assert f"({name})" in report


def _succeeded_trials(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs", timeout=5) as response:
            return sum(job["status"] == "SUCCEEDED" for job in json.load(response))
    except (OSError, ValueError):  # the manager is not up yet, or answered before its REST API was ready
        return 0


def test_sigterm_stops_the_manager_and_keeps_finished_trials(tiny_see, tmp_path):
    out, port = tmp_path / "results", free_port()
    with no_orphan_managers() as before:
        search = subprocess.Popen(_search(tiny_see, out, port, "--budget", "20", "--epochs", "1", "--resolution", "16", "--quiet"),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 300
            while _succeeded_trials(port) < 1:
                if search.poll() is not None or time.monotonic() > deadline:
                    search.kill()
                    pytest.fail("no trial finished before the search ended:\n" + search.communicate()[0][-3000:])
                time.sleep(1)
            search.send_signal(signal.SIGTERM)
            output, _ = search.communicate(timeout=120)
        finally:
            search.kill()
        assert search.returncode == 130, output[-3000:]
        assert wait_for_no_new_managers(before), "the NNI manager outlived the search:\n" + output[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    assert 1 <= (trials["status"] == "done").sum() < 20
    assert trials["war"].notna().any()


@pytest.mark.parametrize("args, message", [(["--data", "/nonexistent/see"], "emotion.json")])
def test_search_names_a_missing_data_tree(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "tnas_plugin.jobs.cli", "search", "--out", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and message in done.stdout + done.stderr
