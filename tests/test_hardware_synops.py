"""SynOps counter and energy/latency estimate (docs/ARCHITECTURE.md, "Hardware"), on hand-checkable networks."""
import pytest
import torch
from torch import nn

from tnas_plugin.hardware import count_synops, estimate_energy, load_profile, synapse_counts
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


@pytest.mark.parametrize("steps_per_window", [None, 8])
def test_report_per_layer_on_corner_and_centre_samples(cross_net, steps_per_window):
    report = count_synops(cross_net, torch.cat([one_pixel(0, 0), one_pixel(1, 1)]), steps_per_window)
    conv, readout = report["per_layer"]
    # conv: corner sample 2 SynOps, centre sample 5; hidden spikes = those SynOps (unit taps, zero bias)
    assert conv["kind"] == "conv" and conv["spikes_in"] == 1.0 and conv["synops"] == 3.5
    assert conv["neurons"] == 9 and conv["spikes_out"] == 3.5 and conv["spikes_per_neuron"] == 3.5 / 9
    # dense ANN conv: 4 corner outputs x 4 inputs + 4 edge x 6 + centre 9 = 49 MACs
    assert conv["ann_macs"] == 49
    # readout: every hidden spike reaches 2 outputs, except hidden neuron 0 (only 1): corner sample
    # spikes at hidden 0 and 4 -> 3, centre sample at 0, 2, 4, 6, 8 -> 9
    assert readout["kind"] == "readout" and readout["spikes_in"] == 3.5 and readout["synops"] == 6.0
    assert readout["spikes_out"] is None and readout["spikes_per_neuron"] is None
    assert readout["ann_macs"] == 18 and readout["neurons"] == 2
    assert report["total"] == 9.5 and report["ann_macs"] == 67 and report["neurons"] == 11
    assert report["spikes_per_neuron"] == 3.5 / 9 and report["samples"] == 2
    assert report["num_windows"] == 2
    assert report["latency_steps"] == (None if steps_per_window is None else 16)


def test_discrete_time_drops_spikes_below_one_step():
    ann = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    snn = ann_to_ttfs(ann, torch.rand(16, 4, dtype=torch.float64))
    frames = torch.tensor([[0.05, 0.5, 0.0, 1.0]], dtype=torch.float64)  # 0.05 < 1/8: no spike at S = 8
    continuous = count_synops(snn, frames)["per_layer"][0]
    discrete = count_synops(snn, frames, steps_per_window=8)["per_layer"][0]
    assert continuous["spikes_in"] == 3.0 and discrete["spikes_in"] == 2.0
    assert continuous["synops"] == 9.0 and discrete["synops"] == 6.0


def test_batches_average_per_sample(cross_net):
    frames = torch.cat([one_pixel(0, 0), one_pixel(1, 1), one_pixel(2, 1)])
    whole = count_synops(cross_net, frames, 8)
    split = count_synops(cross_net, frames, 8, batch_size=2)
    assert whole == split


def test_energy_and_latency_from_profiles(cross_net):
    report = count_synops(cross_net, torch.cat([one_pixel(0, 0), one_pixel(1, 1)]), steps_per_window=8)
    loihi = estimate_energy(report, "loihi")
    # time-stepped core: 11 neurons x 16 steps updates
    assert loihi["neuron_updates"] == 11 * 16
    assert loihi["energy_pj"] == pytest.approx(9.5 * 23.6 + 11 * 16 * 81.0)
    assert loihi["ann_energy_pj"] == pytest.approx(67 * 4.6)
    assert loihi["latency_steps"] == 16 and loihi["latency_ms"] == pytest.approx(16.0)
    cmos = estimate_energy(report, load_profile("cmos45nm"), step_duration_ms=0.5)
    # event-driven TTFS core: one update per neuron
    assert cmos["neuron_updates"] == 11
    assert cmos["energy_pj"] == pytest.approx(9.5 * 0.9 + 11 * 0.9)
    assert cmos["latency_ms"] == pytest.approx(8.0)


def test_time_stepped_profile_needs_a_discrete_report(cross_net):
    report = count_synops(cross_net, one_pixel(1, 1))
    assert estimate_energy(report, "cmos45nm")["latency_ms"] is None
    with pytest.raises(ValueError, match="steps_per_window"):
        estimate_energy(report, "loihi")
