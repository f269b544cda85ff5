"""A checkpoint that cannot be used is refused in one line on stderr (docs/ARCHITECTURE.md, "Reliability")."""
import os
import pickle
import subprocess
import sys

import pytest
import torch

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tnas_plugin.ttfs import ann_to_ttfs

SPEC = CandidateSpec(modality="event", frames=2, steps_per_window=4, resolution=16,
                     stages=(StageSpec(4, 3, "max"),), classifier_width=8, num_classes=7)


class Payload:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        return os.system, ("touch PWNED",)


@pytest.fixture
def good(tmp_path):
    torch.manual_seed(0)
    snn = ann_to_ttfs(build_ann(SPEC).eval(), torch.rand(8, SPEC.in_channels, 16, 16))
    return save_checkpoint(tmp_path / "model.pt", SPEC, snn)


def evaluate(checkpoint, data) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tnas_plugin.jobs.cli", "evaluate", str(checkpoint), "--data", str(data)],
                          capture_output=True, text=True, timeout=300, cwd=checkpoint.parent)


def test_weights_that_do_not_fit_their_architecture_give_one_line(good, tiny_see):
    data = torch.load(good, weights_only=True)
    data["spec"]["classifier_width"] = 16  # three tensors no longer fit: the hidden layer's weight and bias, the readout's weight
    torch.save(data, good)
    with pytest.raises(CheckpointError, match=r"model\.pt: field 'state_dict' does not fit .*: tensor '\S+' has shape "
                                              r"\(8, \d+\), the architecture needs \(16, \d+\) \(and 2 more\)$"):
        load_checkpoint(good)
    done = evaluate(good, tiny_see)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"tnas-er evaluate: {good}: field 'state_dict' does not fit")


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])  # protocol 4+ made torch warn before refusing
def test_a_pickle_with_a_payload_is_refused_in_one_line(tmp_path, tiny_see, protocol):
    path = tmp_path / "model.pt"
    with path.open("wb") as stream:
        pickle.dump({"format": "tnas-er-ttfs/1", "spec": Payload()}, stream, protocol=protocol)
    done = evaluate(path, tiny_see)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"tnas-er evaluate: {path}: not a safe checkpoint")
    assert not (tmp_path / "PWNED").exists()
