"""Baselines: the rate twin counts what it executes and approximates the network it copies; the SEEN-style
LIF CNN trained with BPTT learns."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann, candidate_dataset
from tnas_plugin.data import SynthConfig, synthesize
from tnas_plugin.measurement import MeasurementSettings
from tnas_plugin.jobs.baselines import (SEENStyleLIF, cost_columns, evaluate_stepped, rate_twin, smallest_rate_steps,
                                        train_stepped, twin_metrics)
from tnas_plugin.ttfs import ann_to_ttfs

IN, HIDDEN, CLASSES = 12, 10, 3


def _mlp(seed=0):
    torch.manual_seed(seed)
    ann = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES)).eval()
    x = torch.rand(64, IN)
    return ann, x, ann_to_ttfs(ann, x)


def _report(model, x):
    return evaluate_stepped(model, [(x, torch.zeros(len(x), dtype=torch.long))])[2]


def test_dark_input_costs_nothing_but_inactive_updates_without_biases():
    _, _, snn = _mlp()
    with torch.no_grad():
        for layer in snn.synaptic_layers():
            layer.bias.zero_()
    report = _report(rate_twin(snn, steps=16), torch.zeros(5, IN))
    assert report.network == "lif" and report.time_steps == 16
    assert report.synaptic_events == 0 and report.spikes == 0 and report.updates_active == 0
    assert report.updates_inactive == (HIDDEN + CLASSES) * 16


def test_synaptic_events_are_every_input_spike_times_its_fan_out():
    _, _, snn = _mlp()
    report = _report(rate_twin(snn, steps=16), torch.ones(4, IN))  # rate 1: every input spikes every step
    hidden, readout = report.layers
    # all weights are non-zero: each input spike reaches HIDDEN synapses, each hidden spike CLASSES synapses
    assert hidden.synaptic_events == 16 * IN * HIDDEN and hidden.spikes_in == 16 * IN
    assert readout.synaptic_events == hidden.spikes_out * CLASSES
    assert (hidden.macs, readout.macs) == (IN * HIDDEN, HIDDEN * CLASSES)
    # every hidden neuron receives a non-zero current in every step: all its updates are active
    assert hidden.updates_active == 16 * HIDDEN and hidden.updates_inactive == 0


def test_integrate_and_fire_neuron_by_hand():
    # one input pixel at rate 1 (a spike every step) through W' = 0.4 into one IF neuron (threshold 1, reset by
    # subtraction in the step after a spike, as snntorch does): potentials 0.4 0.8 1.2* 0.6 1.0 1.4* 0.8 1.2*
    ann = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        for layer in (ann[0], ann[2]):
            layer.weight.fill_(0.5)
            layer.bias.zero_()
    snn = ann_to_ttfs(ann, torch.ones(1, 1))
    hidden = snn.layers[0]
    with torch.no_grad():
        hidden.weight.mul_(0.4 / hidden.effective_weight())
    report = _report(rate_twin(snn, steps=8), torch.ones(1, 1))
    hidden, readout = report.layers
    assert hidden.spikes_out == 3 and hidden.synaptic_events == 8 and hidden.updates_active == 8
    # the readout receives a current (and changes) only in the 3 steps a spike arrives
    assert readout.synaptic_events == 3 and readout.updates_active == 3 and readout.updates_inactive == 5


def test_long_rate_code_approximates_the_copied_network():
    ann, x, snn = _mlp(seed=1)
    torch.manual_seed(0)
    with torch.no_grad():
        agreement = (rate_twin(snn, steps=256)(x).argmax(1) == ann(x).argmax(1)).double().mean().item()
    assert agreement >= 0.85


def test_smallest_rate_steps_stops_at_the_first_t_reaching_the_target():
    ann, x, snn = _mlp(seed=1)
    data = [(x, ann(x).argmax(1))]
    steps, curve = smallest_rate_steps(snn, data, target=0.0, choices=(2, 4, 8))
    assert steps == 2 and [t for t, _ in curve] == [2]
    steps, curve = smallest_rate_steps(snn, data, target=1.1, choices=(2, 4, 8))  # unreachable: the whole curve
    assert steps is None and [t for t, _ in curve] == [2, 4, 8] and all(0 <= acc <= 1 for _, acc in curve)


def test_cost_columns_price_every_network_on_every_profile():
    _, x, snn = _mlp()
    row = cost_columns(_report(rate_twin(snn, steps=8), x), ("loihi", "cmos45nm"))
    assert row["latency_steps"] == 8 and row["latency_model_loihi"] == "core_time"
    assert row["latency_model_cmos45nm"] == "fixed_step" and row["latency_ms_cmos45nm"] == 8.0
    assert row["energy_uj_loihi"] > row["energy_uj_cmos45nm"] > 0


@pytest.fixture(scope="module")
def small_see(tmp_path_factory):
    """24 subjects of 16x16 synthetic eye sequences, two per emotion, subjects alike (variation 0.3)."""
    root = tmp_path_factory.mktemp("small-see") / "see"
    synthesize(root, SynthConfig(subjects=24, size=(16, 16), sequences_per_subject=14, frames=(12, 16), variation=0.3))
    return root


def test_seen_style_lif_learns_on_synthetic_see(small_see):
    """BPTT with surrogate gradients beats 3x chance on the validation split of a small synthetic SEE set."""
    spec = CandidateSpec(modality="both", frames=2, steps_per_window=8, resolution=16,
                         stages=(StageSpec(8, 3, "max"),), classifier_width=32, num_classes=7)
    train = candidate_dataset(spec, small_see, "training", seed=0)
    validation = candidate_dataset(spec, small_see, "validation", seed=0)
    model = SEENStyleLIF(spec, steps_per_frame=1)
    history = train_stepped(model, DataLoader(train, batch_size=16, shuffle=True, drop_last=True,
                                              generator=torch.Generator().manual_seed(0)),
                            epochs=20, lr=1e-2, seed=0)
    y_true, y_pred, report = evaluate_stepped(model, DataLoader(validation, batch_size=64))
    assert history[-1].loss < np.log(7) - 0.5  # the old baseline stayed at ln 7
    assert (y_true == y_pred).mean() >= 3 / 7
    assert report.spikes > 0 and report.time_steps == 2


def test_twin_metrics_price_each_twin_and_can_leave_the_rate_twin_out(small_see):
    """The job's table lists the ANN twin, the rate twin and the LIF baseline; the benchmark, whose test split is
    too large for a 256-step rate code, leaves the rate twin out."""

    spec = CandidateSpec(modality="event", frames=2, steps_per_window=8, resolution=16,
                         stages=(StageSpec(4, 3, "max"),), classifier_width=16, num_classes=7)
    settings = MeasurementSettings.from_options(small_see, epochs=1, synops_samples=8, device="cpu")
    inputs = torch.stack([candidate_dataset(spec, small_see, "training")[i][0] for i in range(8)])
    snn = ann_to_ttfs(build_ann(spec).eval(), inputs)
    lif = SEENStyleLIF(spec)
    with_rate = twin_metrics(spec, snn, lif, settings, "validation", rate_steps=8)
    without_rate = twin_metrics(spec, snn, lif, settings, "validation", rate_steps=None)
    assert [name for name, _ in with_rate] == ["ANN twin (clipped ReLU)", "rate twin (IF, T=8)", f"LIF BPTT (SEEN-style, T={lif.steps})"]
    assert [name for name, _ in without_rate] == ["ANN twin (clipped ReLU)", f"LIF BPTT (SEEN-style, T={lif.steps})"]
    assert all(metrics["energy_uj"] > 0 and 0 <= metrics["uar"] <= 1 for _, metrics in with_rate)
