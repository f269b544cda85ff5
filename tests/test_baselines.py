"""The SEEN-style LIF baseline: its SynOps come from its real spikes."""
from dataclasses import replace

import torch

from tnas_plugin.baselines import HANDCRAFTED_TTFS, SEENStyleLIF, evaluate_lif

SPEC = replace(HANDCRAFTED_TTFS, resolution=8, frames=2)


def _loader(clips):
    return [(clips, torch.zeros(len(clips), dtype=torch.long))]


def test_dark_clips_cost_no_synaptic_operation_without_biases():
    torch.manual_seed(0)
    model = SEENStyleLIF(SPEC).eval()
    with torch.no_grad():
        for layer in model.layers:
            if isinstance(layer, torch.nn.Linear):
                layer.bias.zero_()  # conv layers have none; batch norm starts at beta = 0, mean 0
    _, _, report = evaluate_lif(model, _loader(torch.zeros(3, 2, 3, 8, 8)))
    assert report["total"] == 0 and report["spikes_per_neuron"] == 0
    assert report["latency_steps"] == 2 * model.steps_per_frame


def test_bright_clips_spike_and_each_input_spike_reaches_its_fan_out():
    torch.manual_seed(0)
    model = SEENStyleLIF(SPEC).eval()
    with torch.no_grad():
        for layer in model.layers:
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.fill_(1.0)
                break
    clips = torch.ones(2, 2, 3, 8, 8)  # rate code of 1.0: every pixel spikes at every step
    _, _, report = evaluate_lif(model, _loader(clips))
    first = model.layers[0]
    # 3x3 kernel, padding 1, 8x8 map: interior pixels reach 9 outputs per output channel, edges fewer.
    per_channel_fan_out = sum(min(r + 1, 8) - max(r - 1, -1) - 1 for r in range(8)) ** 2  # 22 * 22
    first_layer_synops = model.steps * 3 * first.out_channels * per_channel_fan_out
    assert report["total"] >= first_layer_synops
    assert report["spikes_per_neuron"] > 0
