"""Lava ``fixed_pt`` vs the PyTorch integer model (``tnas_plugin.ttfs.quantize``): bit-exact, sample by sample.

On small random networks (linear; conv with max and average pooling; one with potentials saturating at a
narrow declared width), one Lava compile each, and once on a trained network of the search space: on 100 %
of the samples the predictions are equal, the readouts are equal as integers, and every neuron's spike
step is equal (Lava's Dense/Conv here are its own ``PyDenseModelBitAcc`` / ``PyConvModelFixed``).
"""
import functools

import numpy as np
import pytest
import torch
from torch import nn

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.hardware import count_ttfs
from tnas_plugin.hardware.lava_export import compare_with_torch, export_lava, run_lava
from tnas_plugin.measurement import MeasurementSettings, measure_candidate
from tnas_plugin.ttfs import ann_to_ttfs, quantize


def random_twin(ann: nn.Module, calibration: torch.Tensor, seed: int):
    torch.manual_seed(seed)
    for module in ann.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return ann_to_ttfs(ann, calibration)


@functools.cache
def mlp():
    ann = nn.Sequential(nn.Linear(20, 24), nn.ReLU(), nn.Linear(24, 12), nn.ReLU(), nn.Linear(12, 5))
    return random_twin(ann, torch.rand(64, 20), 0), torch.rand(24, 20)


@functools.cache
def convnet():
    ann = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
                        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(6 * 2 * 3, 10), nn.ReLU(), nn.Linear(10, 4))
    return random_twin(ann, torch.rand(64, 2, 16, 24), 1), torch.rand(20, 2, 16, 24)


@functools.cache
def overdriven():
    """Windows sized on dim inputs, run on bright ones: potentials run past a 12-bit width and saturate."""
    ann = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 4))
    return random_twin(ann, torch.rand(64, 16) * 0.1, 2), torch.rand(16, 16)


CASES = {
    # name: (network and inputs, weight bits, steps per window, potential bits, samples side by side)
    "linear-8bit": (mlp, 8, 16, 24, 6),
    "conv-maxpool-avgpool-6bit": (convnet, 6, 8, 24, 5),
    "saturating-12bit-potentials": (overdriven, 8, 8, 12, 4),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def fixed_run(request):
    build, bits, steps, potential_bits, samples_per_run = CASES[request.param]
    snn, frames = build()
    qnet = quantize(snn, bits, steps_per_window=steps, potential_bits=potential_bits)
    lava = run_lava(qnet, frames, steps, samples_per_run=samples_per_run, fixed_point=True)
    return request.param, qnet, frames, steps, lava


def assert_bit_exact(qnet, frames, steps, lava):
    run = qnet.run(frames)
    assert lava.readouts.dtype == np.int64
    assert np.array_equal(lava.readouts, run.logits.numpy())  # integers, every sample
    assert lava.predictions.tolist() == run.logits.argmax(1).tolist()
    comparison = compare_with_torch(qnet, frames, steps, lava)
    assert comparison.agreement == 1.0 and comparison.spike_step_agreement == 1.0
    assert comparison.max_readout_difference == 0
    for counts, mask in zip(lava.spike_counts, run.spike_mask):
        assert counts.tolist() == mask.sum(0).tolist()
    assert sum(mask.sum() for mask in run.spike_mask[1:]) > 0
    return run


def test_lava_fixed_point_equals_the_integer_model_bit_for_bit(fixed_run):
    name, qnet, frames, steps, lava = fixed_run
    run = assert_bit_exact(qnet, frames, steps, lava)
    assert len(np.unique(run.logits.numpy(), axis=0)) > 1
    counted = count_ttfs(qnet, frames, steps)  # the operation counter reads the integer network as Lava ran it
    assert lava.synops == pytest.approx(counted.synaptic_events, rel=1e-12)
    assert lava.updates_active == pytest.approx([layer.updates_active for layer in counted.layers], rel=1e-12)
    if name.startswith("saturating"):
        limit = 1 << (qnet.potential_bits - 1)
        hidden = qnet.layers[0]
        potential = hidden.potential(qnet.input_levels(frames), steps)
        assert potential.max() == limit - 1  # the case really saturates (and Lava saturated the same way)


def test_fixed_point_needs_a_quantised_network():
    snn, frames = mlp()
    with pytest.raises(TypeError, match="QuantizedTTFSNetwork"):
        export_lava(snn, 8, frames, fixed_point=True)
    with pytest.raises(TypeError, match="fixed_point=False"):
        export_lava(quantize(snn, 8, steps_per_window=8), 8, frames)


def test_a_trained_search_space_network_runs_bit_exact_on_lava(tiny_see):
    spec = CandidateSpec(modality="event", frames=2, steps_per_window=8, resolution=16,
                         stages=(StageSpec(4, 3, "max"), StageSpec(8, 3, "avg")), classifier_width=16, num_classes=7)
    settings = MeasurementSettings.from_options(tiny_see, epochs=2, weight_bits=8, synops_samples=4, device="cpu")
    result = measure_candidate(spec, build_ann(spec), settings)
    test = settings.dataset(spec, "testing")
    frames = torch.stack([test[i][0] for i in range(12)])
    qnet = quantize(result.snn, 8, steps_per_window=spec.steps_per_window)
    lava = run_lava(qnet, frames, spec.steps_per_window, samples_per_run=6, fixed_point=True)
    assert_bit_exact(qnet, frames, spec.steps_per_window, lava)


def test_export_lava_fixed_point_runs_the_saved_integer_network(tiny_see, tmp_path, capsys):
    from tnas_plugin.checkpoint import save_checkpoint
    from tnas_plugin.jobs.cli import main

    spec = CandidateSpec(modality="event", frames=2, steps_per_window=4, resolution=16,
                         stages=(StageSpec(4, 3, "max"), StageSpec(4, 5, "avg")), classifier_width=8, num_classes=7)
    torch.manual_seed(0)
    snn = ann_to_ttfs(build_ann(spec).eval(), torch.rand(32, spec.in_channels, 16, 16))
    path = save_checkpoint(tmp_path / "q.pt", spec, snn, quantized=quantize(snn, 6, steps_per_window=4))

    def tnas_er(*argv) -> int:
        return main([str(a) for a in argv])

    assert tnas_er("export-lava", path, "--data", tiny_see, "--samples", 8, "--samples-per-run", 4, "--fixed-point") == 0
    out = capsys.readouterr().out
    assert "agree with the PyTorch integer model on 8/8 samples; max |readout difference| 0.00e+00" in out
    assert "every spike step equal on 8/8 samples" in out
    assert tnas_er("export-lava", path, "--data", tiny_see, "--fixed-point", "--weight-bits", 8) == 2
    assert "6-bit weights" in capsys.readouterr().err
