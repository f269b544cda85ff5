"""``tnas-er synops`` / ``tnas-er export-lava`` on a checkpoint of a searched-style candidate and a tiny SEE tree."""
import json

import pytest
import torch

from tnas_plugin.checkpoint import save_checkpoint
from tnas_plugin.jobs.cli import main
from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.ttfs import ann_to_ttfs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    spec = CandidateSpec(modality="event", frames=2, steps_per_window=4, resolution=16,
                         stages=(StageSpec(4, 3, "max"), StageSpec(4, 5, "avg")), classifier_width=8, num_classes=7)
    torch.manual_seed(0)
    ann = build_ann(spec).eval()
    snn = ann_to_ttfs(ann, torch.rand(32, spec.in_channels, 16, 16))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "candidate.pt", spec, snn)


def tnas_er(*argv) -> int:
    return main([str(a) for a in argv])


def test_synops_prints_the_per_layer_table(checkpoint, tiny_see, capsys):
    assert tnas_er("synops", checkpoint, "--data", tiny_see, "--samples", 6) == 0
    out = capsys.readouterr().out
    # batch norm folds into the convs; the average pool is the fixed-weight conv 3
    for name in ("0:conv", "2:conv", "3:conv", "5:linear", "6:readout", "total", "energy on loihi", "latency 20 steps",
                 "core_time model", "active updates"):
        assert name in out


def test_synops_json_and_a_latency_model_the_profile_lacks(checkpoint, tiny_see, capsys):
    assert tnas_er("synops", checkpoint, "--data", tiny_see, "--samples", 4, "--profile", "cmos45nm", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    totals = data["totals"]
    assert totals["samples"] == 4 and data["energy"]["profile"] == "cmos45nm"
    assert data["energy"]["latency_model"] == "fixed_step" and data["ann_twin"]["network"] == "ann"
    assert totals["neuron_updates"] == pytest.approx(totals["neurons"] * totals["time_steps"])
    assert [row["name"] for row in data["per_layer"]] == ["0:conv", "2:conv", "3:conv", "5:linear", "6:readout"]
    assert tnas_er("synops", checkpoint, "--data", tiny_see, "--profile", "cmos45nm", "--latency-model", "core_time") == 2
    assert "['fixed_step'] only" in capsys.readouterr().err


def test_export_lava_reports_full_agreement(checkpoint, tiny_see, capsys):
    assert tnas_er("export-lava", checkpoint, "--data", tiny_see, "--samples", 12, "--samples-per-run", 4) == 0
    out = capsys.readouterr().out
    assert "TTFSMaxPool" in out and "agree with the PyTorch discrete model on 12/12 samples" in out
