"""The rate-coded LIF twin baseline: SynOps from its real spikes, and it approximates the network it copies."""
import torch
from torch import nn

from tnas_plugin.jobs.baselines import RateLIFTwin, measure_lif
from tnas_plugin.ttfs import ann_to_ttfs

IN, HIDDEN, CLASSES = 12, 10, 3


def _mlp(seed=0):
    torch.manual_seed(seed)
    ann = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES)).eval()
    x = torch.rand(64, IN)
    return ann, x, ann_to_ttfs(ann, x)


def _measure(lif, x):
    return measure_lif(lif, [(x, torch.zeros(len(x), dtype=torch.long))], HIDDEN + CLASSES, HIDDEN)


def test_dark_input_costs_no_synaptic_operation_without_biases():
    ann, _, snn = _mlp()
    with torch.no_grad():
        for layer in snn.synaptic_layers():
            layer.bias.zero_()
    _, _, report = _measure(RateLIFTwin(snn, steps=16), torch.zeros(5, IN))
    assert report["total"] == 0 and report["spikes_per_neuron"] == 0 and report["latency_steps"] == 16


def test_synops_are_every_input_spike_times_its_fan_out():
    _, _, snn = _mlp()
    lif, x, steps = RateLIFTwin(snn, steps=16), torch.ones(4, IN), 16  # rate 1: every input spikes every step
    counter = {"synops": torch.zeros(4, dtype=torch.float64), "spikes": torch.zeros(4, dtype=torch.float64)}
    with torch.no_grad():
        lif(x, counter)
    # all weights are non-zero: each input spike reaches HIDDEN synapses, each hidden spike CLASSES synapses
    assert torch.equal(counter["synops"], steps * IN * HIDDEN + counter["spikes"] * CLASSES)


def test_long_rate_code_approximates_the_copied_network():
    ann, x, snn = _mlp(seed=1)
    torch.manual_seed(0)
    with torch.no_grad():
        agreement = (RateLIFTwin(snn, steps=512, beta=1.0)(x).argmax(1) == ann(x).argmax(1)).double().mean().item()
    assert agreement >= 0.85
