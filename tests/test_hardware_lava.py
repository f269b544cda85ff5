"""Lava export: the Lava process graph reproduces the PyTorch discrete-time TTFS model sample by sample.

Checks, on >= 50 samples per network: identical predictions, readout potentials within 1e-6, the same
spike count on every neuron, and the analytic cost report (``count_ttfs``) equal to what Lava executed:
synaptic events from Lava's own spikes (fan-outs from the Lava weights, independently of the counter's
convolution) and active/inactive neuron updates as the ProcessModels tallied them.
"""
import functools
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from tnas_plugin.hardware import count_ttfs, export_lava, run_lava
from tnas_plugin.ttfs import ann_to_ttfs

N_SAMPLES = 60


def trained_twin(ann: nn.Sequential, make_data, steps: int = 40):
    """Train ``ann`` briefly on ``make_data(n) -> (frames, labels)``; return its TTFS twin in float64 (as Lava
    computes) and ``N_SAMPLES`` fresh test frames."""
    torch.manual_seed(0)
    frames, labels = make_data(256)
    optimizer = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(ann(frames), labels).backward()
        optimizer.step()
    return ann_to_ttfs(ann.double(), frames.double()), make_data(N_SAMPLES)[0].double()


def feature_groups(n: int):
    """20 features in [0, 1]; the label is the brightest of 5 groups of 4."""
    frames = torch.rand(n, 20) * torch.rand(n, 5, 1).expand(n, 5, 4).reshape(n, 20)
    return frames, frames.reshape(n, 5, 4).sum(2).argmax(1)


def bright_quarters(n: int):
    """2-channel 16x24 frames, random brightness per channel and image half; the label is the brightest of the 4."""
    gain = torch.rand(n, 2, 1, 2, 1)
    frames = torch.rand(n, 2, 16, 2, 12) * gain
    return frames.reshape(n, 2, 16, 24), gain.reshape(n, 4).argmax(1)


@functools.cache
def mlp():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 5))
    return trained_twin(ann, feature_groups)


@functools.cache
def convnet():
    # max-pool with padding (border windows), strided padded conv, average pool (a fixed-weight conv), flatten
    torch.manual_seed(1)
    ann = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(6 * 2 * 3, 10), nn.ReLU(), nn.Linear(10, 4),
    )
    return trained_twin(ann, bright_quarters)


CASES = {
    # name: (network and inputs, steps per window, samples side by side)
    "mlp": (mlp, 16, 1),
    "convnet": (convnet, 8, 8),  # 60 = 7 full periods of 8 + one padded period
}


@pytest.fixture(scope="module", params=sorted(CASES))
def lava_run(request):
    build, steps, samples_per_run = CASES[request.param]
    snn, frames = build()
    with torch.no_grad():
        reference = snn.run(frames, steps)
    return snn, frames, steps, reference, run_lava(snn, frames, steps, samples_per_run=samples_per_run)


def test_predictions_and_readouts_match_pytorch(lava_run):
    _, frames, _, reference, lava = lava_run
    logits = reference.logits.numpy()
    assert len(set(logits.argmax(1).tolist())) > 1, "the test network should not predict one class only"
    assert lava.predictions.tolist() == logits.argmax(1).tolist()
    assert lava.readouts.shape == (len(frames), logits.shape[1])
    assert np.abs(lava.readouts - logits).max() <= 1e-6


def test_every_neuron_spikes_as_often_as_in_pytorch(lava_run):
    _, _, _, reference, lava = lava_run
    assert len(lava.spike_counts) == len(reference.spike_mask)
    for counts, mask in zip(lava.spike_counts, reference.spike_mask):
        assert counts.shape == mask.shape[1:]
        assert counts.tolist() == mask.sum(0).tolist()
    assert sum(counts.sum() for counts in lava.spike_counts[1:]) > 0


def test_analytic_counts_equal_the_counts_lava_executed(lava_run):
    # the convnet has max- and avg-pooling; Lava's side comes from its spikes and the updates its models tallied
    snn, frames, steps, _, lava = lava_run
    report = count_ttfs(snn, frames, steps_per_window=steps)
    assert report.synaptic_events > 0 and report.updates_active > 0
    assert lava.synops == pytest.approx(report.synaptic_events, rel=1e-12)
    assert lava.synops_per_layer == pytest.approx([layer.synaptic_events for layer in report.layers], rel=1e-12)
    assert lava.updates_active == pytest.approx([layer.updates_active for layer in report.layers], rel=1e-12)
    # Lava runs a longer sample period (one delay step per synaptic hop): every extra step is an inactive update
    extra = lava.period - report.time_steps
    assert lava.updates_inactive == pytest.approx(
        [layer.updates_inactive + layer.neurons * extra for layer in report.layers], rel=1e-12)


def test_sample_period_and_wiring_follow_the_one_step_delays():
    snn, frames = convnet()
    graph = export_lava(snn, 8, frames[:3], samples_per_run=2)
    # 4 windows of 8 steps, + 4 Dense/Conv hops (conv, conv, avg-pool conv, linear) + the readout Dense, + 1
    assert snn.num_windows == 5 and graph.period == 5 * 8 + 5 + 1
    assert graph.num_steps == 2 * graph.period
    assert sum(line.startswith("Conv") for line in graph.wiring) == 3
    assert sum(line.startswith("Dense") for line in graph.wiring) == 2
    assert any("TTFSMaxPool" in line for line in graph.wiring)


def test_counting_does_not_import_lava():
    code = "import sys, tnas_plugin.hardware as h; h.count_ttfs; print('lava' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
