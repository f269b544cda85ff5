"""``tnas-er search`` end to end on tiny data: every result file (stops and resumes: test_search_job_signals.py)."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nni_helpers import free_port, no_orphan_managers, wait_for_no_new_managers

TINY = ["--budget", "2", "--epochs", "10", "--final-epochs", "1", "--resolution", "16", "--finalists", "1", "--quiet"]
PLOTS = ["pareto.png", "confusion.png", "lighting.png", "synops_per_layer.png", "spike_times.png"]
TABLES = ["trials.csv", "pareto.csv", "finalists.csv", "comparison.csv", "confusion.csv", "synops_per_layer.csv",
          "lava.json", "fixed_point.json", "run.json", "report.md", "chosen/model.pt", "chosen/architecture.json", "chosen/metrics.json"]


def _search(data, out, port, *extra):
    return [sys.executable, "-m", "tnas_plugin.jobs.cli", "search", "--data", str(data), "--out", str(out), "--port", str(port), *extra]


def test_tiny_search_writes_every_result(tiny_see, tmp_path):
    out = tmp_path / "results"
    with no_orphan_managers() as before:
        done = subprocess.run(_search(tiny_see, out, free_port(), *TINY), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert wait_for_no_new_managers(before)
    assert "without authentication" not in done.stderr  # the manager listens on 127.0.0.1 by default: no warning
    for name in TABLES + PLOTS:
        assert (out / name).is_file(), name
    for name in PLOTS:
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 100
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and {"val_war", "val_uar", "val_synops", "val_energy_uj"} <= set(trials.columns)
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


@pytest.mark.parametrize("args, message", [(["--data", "/nonexistent/see"], "emotion.json")])
def test_search_names_a_missing_data_tree(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "tnas_plugin.jobs.cli", "search", "--out", str(tmp_path),
                           "--port", str(free_port()), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
