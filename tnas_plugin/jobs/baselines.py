"""Reference networks measured next to the searched ones, in the same run and on the same data.

* :data:`HANDCRAFTED_TTFS` — a hand-designed TTFS CNN (fixed architecture, same trainer as the search).
* :class:`RateLIFTwin` — a rate-coded LIF CNN of the same architecture and weights, built with snntorch:
  every conv/linear layer drives ``snntorch.Leaky`` neurons (subtractive reset), inputs are Bernoulli
  spike trains of the frames over ``steps`` time steps (rate-based conversion, Rueckauer et al., Front.
  Neurosci. 11:682, 2017). It takes the TTFS network's window-normalised weights, so a firing rate
  encodes the value a TTFS spike time encodes. Its SynOps are counted from its real spikes with the
  same counter as the TTFS networks (:func:`tnas_plugin.hardware.synapse_counts`).
"""
from __future__ import annotations

import snntorch
import torch
from snntorch import spikegen
from torch import nn

from tnas_plugin.candidate import CandidateSpec, StageSpec
from tnas_plugin.hardware import synapse_counts
from tnas_plugin.ttfs import LayerKind

HANDCRAFTED_TTFS = CandidateSpec(
    modality="both", frames=4, steps_per_window=16, resolution=32,
    stages=(StageSpec(8, 3, "max"), StageSpec(16, 3, "max")), classifier_width=64, num_classes=7,
)


class RateLIFTwin(nn.Module):
    """Time-stepped snntorch LIF twin of a TTFS network (same layers, same normalised weights)."""

    def __init__(self, snn, steps: int, beta: float = 0.95):
        super().__init__()
        self.steps = steps
        self.ops = nn.ModuleList()
        for layer in snn.layers:
            if layer.kind == LayerKind.CONV:
                op = nn.Conv2d(layer.weight.shape[1], layer.weight.shape[0], layer.weight.shape[2:], layer.stride, layer.padding)
            elif layer.kind in (LayerKind.LINEAR, LayerKind.READOUT):
                op = nn.Linear(layer.weight.shape[1], layer.weight.shape[0])
            else:
                pool = layer.kind == LayerKind.MAXPOOL
                self.ops.append(nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding) if pool else nn.Flatten())
                continue
            with torch.no_grad():
                op.weight.copy_(layer.effective_weight())
                op.bias.copy_(layer.effective_bias())
            self.ops.append(op)
            if layer.kind != LayerKind.READOUT:
                self.ops.append(snntorch.Leaky(beta=beta, reset_mechanism="subtract"))

    def forward(self, x: torch.Tensor, counter: dict | None = None) -> torch.Tensor:
        """Mean readout over ``steps`` for frames ``x`` in [0, 1]; ``counter`` accumulates per-sample totals
        of ``synops`` (spikes delivered through non-zero synapses) and hidden ``spikes``."""
        membranes = {}
        readout = 0.0
        for frame in spikegen.rate(x, num_steps=self.steps):
            h = frame
            for i, op in enumerate(self.ops):
                if isinstance(op, snntorch.Leaky):
                    h, membranes[i] = op(h, membranes.get(i, torch.zeros_like(h)))
                    if counter is not None:
                        counter["spikes"] += h.flatten(1).sum(1).double()
                    continue
                if counter is not None and isinstance(op, (nn.Conv2d, nn.Linear)):
                    geometry = {"stride": op.stride, "padding": op.padding} if isinstance(op, nn.Conv2d) else {}
                    counter["synops"] += synapse_counts(h, op.weight, **geometry)
                h = op(h)
            readout = readout + h
        return readout / self.steps


@torch.no_grad()
def measure_lif(lif: RateLIFTwin, loader, neurons: int, hidden_neurons: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Labels, predictions and a SynOps report per inference (the keys :func:`estimate_energy` reads)."""
    truths, predictions, synops, spikes = [], [], [], []
    for inputs, labels in loader:
        counter = {"synops": torch.zeros(len(inputs), dtype=torch.float64), "spikes": torch.zeros(len(inputs), dtype=torch.float64)}
        predictions.append(lif(inputs, counter).argmax(1))
        truths.append(labels)
        synops.append(counter["synops"])
        spikes.append(counter["spikes"])
    synops, spikes = torch.cat(synops), torch.cat(spikes)
    report = {"total": synops.mean().item(), "neurons": neurons, "latency_steps": lif.steps, "ann_macs": 0,
              "spikes_per_neuron": spikes.mean().item() / hidden_neurons, "steps_per_window": None}
    return torch.cat(truths), torch.cat(predictions), report
