"""Operation counter and energy/latency estimate (docs/ARCHITECTURE.md, "Hardware"), on hand-checkable networks."""
from dataclasses import replace

import pytest
import torch
from torch import nn

from tnas_plugin.hardware import synops
from tnas_plugin.hardware import COST_METRICS, CostReport, cost_metrics, count_ttfs, estimate_energy, load_profile, synapse_counts
from tnas_plugin.ttfs import ann_to_ttfs

# A 3x3 kernel with 5 non-zero taps (corners and centre), zero-padded by 1 on a 3x3 input.
CROSS = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]], dtype=torch.float64)


def one_pixel(row: int, col: int) -> torch.Tensor:
    frame = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    frame[0, 0, row, col] = 1.0
    return frame


@pytest.fixture(scope="module")
def cross_net():
    ann = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(9, 2)).double()
    with torch.no_grad():
        ann[0].weight.copy_(CROSS.reshape(1, 1, 3, 3))
        ann[0].bias.zero_()
        ann[3].weight.fill_(0.5)
        ann[3].weight[1, 0] = 0.0  # output 1 ignores hidden neuron 0 (the top-left corner)
    return ann_to_ttfs(ann, torch.cat([one_pixel(0, 0), one_pixel(1, 1)]), margin=1.1)


@pytest.fixture(scope="module")
def cross_report(cross_net):
    return count_ttfs(cross_net, torch.cat([one_pixel(0, 0), one_pixel(1, 1)]), steps_per_window=8)


def test_corner_spike_reaches_only_the_non_zero_taps_inside_the_border():
    # Pixel (0,0) lies in the receptive fields of outputs (0,0), (0,1), (1,0), (1,1); it meets tap
    # (1,1)=1, (1,0)=0, (0,1)=0 and (0,0)=1 of them: 2 SynOps (a dense count would give 4, no border 9).
    spikes = one_pixel(0, 0)
    assert synapse_counts(spikes, CROSS.reshape(1, 1, 3, 3), padding=(1, 1)).tolist() == [2.0]
    assert synapse_counts(one_pixel(1, 1), CROSS.reshape(1, 1, 3, 3), padding=(1, 1)).tolist() == [5.0]
    # edge pixel (0,1): 6 outputs see it, through taps (1,2)=0 (1,1)=1 (1,0)=0 (0,2)=1 (0,1)=0 (0,0)=1
    assert synapse_counts(one_pixel(0, 1), CROSS.reshape(1, 1, 3, 3), padding=(1, 1)).tolist() == [3.0]
    # stride 2: 2x2 outputs; the centre pixel meets each of them through a corner tap
    assert synapse_counts(one_pixel(1, 1), CROSS.reshape(1, 1, 3, 3), stride=(2, 2), padding=(1, 1)).tolist() == [4.0]


def test_report_per_layer_on_corner_and_centre_samples(cross_report):
    conv, readout = cross_report.layers
    assert isinstance(cross_report, CostReport) and cross_report.network == "ttfs"
    # conv: corner sample 2 synaptic events, centre sample 5; hidden spikes = those events (unit taps, zero bias)
    assert conv.kind == "conv" and conv.spikes_in == 1.0 and conv.synaptic_events == 3.5
    assert conv.neurons == 9 and conv.spikes_out == 3.5 and conv.spikes_per_neuron == 3.5 / 9
    # The input spike (x = 1) fires at step 0. A neuron it reaches holds a non-zero current for all 8 steps
    # of window 0; its potential W' x = 1/1.1 fires at step 8 - floor(8/1.1) = 1 of its window: 2 ramp steps.
    # Silent neurons ramp through all 8. Corner: 2 x 8 + 2 x 2 + 7 x 8 = 76; centre: 5 x 8 + 5 x 2 + 4 x 8 = 82.
    assert conv.updates_active == (76 + 82) / 2 and conv.updates_inactive == 9 * 16 - 79
    # dense ANN conv: 4 corner outputs x 4 inputs + 4 edge x 6 + centre 9 = 49 MACs
    assert conv.macs == 49
    # readout: every hidden spike reaches 2 outputs, except hidden neuron 0 (only 1): corner sample
    # spikes at hidden 0 and 4 -> 3, centre sample at 0, 2, 4, 6, 8 -> 9
    assert readout.kind == "readout" and readout.spikes_in == 3.5 and readout.synaptic_events == 6.0
    assert readout.spikes_out is None and readout.spikes_per_neuron is None
    # hidden spikes arrive at step 1 of window 1: both outputs hold a current for 7 steps, then are read once
    assert readout.updates_active == 2 * (7 + 1) and readout.updates_inactive == 2 * 16 - 16
    assert readout.macs == 18 and readout.neurons == 2
    assert cross_report.synaptic_events == 9.5 and cross_report.macs == 67 and cross_report.neurons == 11
    assert cross_report.spikes_per_neuron == 3.5 / 9 and cross_report.samples == 2 and cross_report.time_steps == 16
    assert cross_report.neuron_updates == 11 * 16


def test_average_pool_costs_depthwise_macs():
    # C = 16 channels, 16x16 -> 8x8 with 2x2 windows: 16 x 64 x 4 = 4,096 MACs (a dense C x C kernel: 65,536)
    ann = nn.Sequential(nn.Conv2d(1, 16, 1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 64, 2))
    frames = torch.rand(2, 1, 16, 16)
    report = count_ttfs(ann_to_ttfs(ann, frames), frames, steps_per_window=4)
    conv, pool, readout = report.layers
    assert pool.name == "1:conv" and pool.macs == 16 * 8 * 8 * 2 * 2 == 4096
    assert conv.macs == 16 * 16 * 16 and readout.macs == 2 * 16 * 64


def test_discrete_time_drops_spikes_below_one_step():
    ann = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    snn = ann_to_ttfs(ann, torch.rand(16, 4, dtype=torch.float64))
    frames = torch.tensor([[0.05, 0.5, 0.0, 1.0]], dtype=torch.float64)  # 0.05 < 1/8: no spike at S = 8
    assert count_ttfs(snn, frames, 64).layers[0].spikes_in == 3.0
    assert count_ttfs(snn, frames, 8).layers[0].spikes_in == 2.0
    assert count_ttfs(snn, frames, 8).layers[0].synaptic_events == 6.0
    with pytest.raises(ValueError, match="steps_per_window"):
        count_ttfs(snn, frames, None)


def test_batches_average_per_sample(cross_net):
    frames = torch.cat([one_pixel(0, 0), one_pixel(1, 1), one_pixel(2, 1)])
    assert count_ttfs(cross_net, frames, 8) == count_ttfs(cross_net, frames, 8, batch_size=2)


def test_counts_do_not_depend_on_batch_size_or_stacking(monkeypatch):
    # conv, max-pool, stride-2 conv, linear, readout; the time steps of each window go through as one stacked batch
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    frames = torch.rand(10, 2, 8, 8, dtype=torch.float64) * (torch.rand(10, 2, 8, 8) < 0.5)
    snn = ann_to_ttfs(ann, frames)
    whole = count_ttfs(snn, frames, 8)
    assert whole.updates_active > 0 and whole == count_ttfs(snn, frames, 8, batch_size=3)
    singles = [count_ttfs(snn, frames[i:i + 1], 8) for i in range(len(frames))]
    for k, layer in enumerate(whole.layers):  # the average of the per-sample counts (integers: exact)
        assert layer.updates_active == sum(single.layers[k].updates_active for single in singles) / len(frames)
        assert layer.synaptic_events == sum(single.layers[k].synaptic_events for single in singles) / len(frames)
    monkeypatch.setattr(synops, "_STACK_ELEMENTS", 1)  # one sample per stacked pass
    assert count_ttfs(snn, frames, 8, batch_size=4) == whole


def test_loihi_energy_and_time_by_hand(cross_report):
    # 9.5 synaptic events; active updates 79 (conv) + 16 (readout) = 95; inactive 65 + 16 = 81 (Davies et al. 2018, Table 2)
    loihi = estimate_energy(cross_report, "loihi")
    assert (loihi.synaptic_events, loihi.updates_active, loihi.updates_inactive) == (9.5, 95, 81)
    assert loihi.energy_pj == pytest.approx(9.5 * 23.6 + 95 * 81.0 + 81 * 52.0)
    # all 11 neurons fit one core of 1,024: a mean step takes the core's work / 16 steps; 16 steps of it
    assert loihi.latency_model == "core_time" and loihi.latency_steps == 16
    assert loihi.latency_ms == pytest.approx((9.5 * 3.5 + 95 * 8.4 + 81 * 5.3) * 1e-6)
    # 5 neurons per core: core 0 holds 5/9 of the conv; core 1 4/9 of it and readout neuron 0; core 2 readout neuron 1
    small = replace(load_profile("loihi"), neurons_per_core=5)
    conv = (3.5 * 3.5 + 79 * 8.4 + 65 * 5.3)
    readout = (6.0 * 3.5 + 16 * 8.4 + 16 * 5.3)
    slowest = max(conv * 5 / 9, conv * 4 / 9 + readout / 2, readout / 2)
    assert estimate_energy(cross_report, small).latency_ms == pytest.approx(slowest * 1e-6)
    fixed = estimate_energy(cross_report, "loihi", latency_model="fixed_step")
    assert fixed.latency_model == "fixed_step" and fixed.latency_ms == pytest.approx(16.0)
    assert fixed.energy_pj == loihi.energy_pj


def test_cmos_and_ann_twin_energy(cross_report):
    cmos = estimate_energy(cross_report, load_profile("cmos45nm"), step_duration_ms=0.5)
    assert cmos.energy_pj == pytest.approx(9.5 * 0.9 + 95 * 1.8 + 81 * 0.9)
    assert cmos.latency_model == "fixed_step" and cmos.latency_ms == pytest.approx(8.0)
    with pytest.raises(ValueError, match="core_time"):
        estimate_energy(cross_report, "cmos45nm", latency_model="core_time")
    ann = estimate_energy(cross_report.ann_twin(), "cmos45nm")
    assert ann.network == "ann" and ann.energy_pj == pytest.approx(67 * 4.6)
    assert ann.latency_ms is None and ann.latency_model is None
    with pytest.raises(TypeError, match="CostReport"):
        estimate_energy({"total": 1.0}, "loihi")


def test_cost_metrics_are_the_reported_keys_in_microjoules(cross_report):
    energy = estimate_energy(cross_report, "loihi")
    metrics = cost_metrics(cross_report, energy)
    assert tuple(metrics) == tuple(COST_METRICS)
    assert metrics["energy_uj"] == pytest.approx(energy.energy_pj * 1e-6) and metrics["synops"] == 9.5
    assert (metrics["latency_steps"], metrics["latency_ms"]) == (16, energy.latency_ms)
