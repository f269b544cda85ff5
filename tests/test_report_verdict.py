"""report.md's verdict, computed from comparison.csv; ``--quick`` and ``--baselines`` as the CLI builds them."""
import pandas as pd
import pytest

from tnas_plugin.jobs.report import CHOSEN, HANDCRAFTED, verdict


def comparison(chosen_uar, handcrafted_uar=None, lif_uar=None):
    rows = [{"network": CHOSEN, "test_uar": chosen_uar, "test_energy_uj": 51.0}]
    if handcrafted_uar is not None:
        rows.append({"network": HANDCRAFTED, "test_uar": handcrafted_uar, "test_energy_uj": 61.9})
    if lif_uar is not None:
        rows.append({"network": "LIF BPTT (SEEN-style, T=8)", "test_uar": lif_uar, "test_energy_uj": 26.3})
    return pd.DataFrame(rows)


def test_the_verdict_sets_the_chosen_network_against_the_handcrafted_one():
    text = verdict(comparison(0.598, 0.592, 0.467), chosen_is_handcrafted=False)
    assert "test UAR 0.598 at 51 µJ" in text and "hand-crafted TTFS CNN (trained alike) 0.592 at 61.9 µJ" in text
    assert "1.01x its UAR at 0.82x its energy" in text and "Chance is 0.143" in text
    assert "twice chance" not in text


def test_the_verdict_says_when_the_chosen_network_is_the_handcrafted_one_and_flags_networks_near_chance():
    text = verdict(comparison(0.089, 0.089, 0.30), chosen_is_handcrafted=True)
    assert text.startswith("The chosen network is the hand-crafted TTFS CNN itself") and "test UAR 0.089" in text
    assert f"Below twice chance (test UAR < 0.286), barely learned:** {CHOSEN}, {HANDCRAFTED};" in text


def test_without_baselines_the_verdict_says_so():
    text = verdict(comparison(0.40), chosen_is_handcrafted=False)
    assert "test UAR 0.400" in text and "No baselines were measured (--baselines none)" in text


@pytest.mark.parametrize("argv, expected", [
    (["--quick"], {"budget": 4, "epochs": 5, "final_epochs": 10, "finalists": 2, "baselines": "fast", "lava_samples": 5}),
    (["--quick", "--epochs", "3", "--baselines", "none"], {"budget": 4, "epochs": 3, "baselines": "none"}),
    ([], {"budget": 100, "epochs": 15, "baselines": "full", "lava_samples": 20}),
])
def test_quick_presets_options_that_given_ones_override(argv, expected, monkeypatch, tmp_path):
    from tnas_plugin.jobs import cli, search_job

    seen = []
    monkeypatch.setattr(search_job, "run_search", lambda options, **_: seen.append(options) or tmp_path / "report.md")
    assert cli.main(["search", "--out", str(tmp_path / "out"), *argv]) == 0
    assert {name: getattr(seen[0], name) for name in expected} == expected
