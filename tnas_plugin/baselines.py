"""Reference networks measured next to the searched ones, in the same run and on the same data.

* :data:`HANDCRAFTED_TTFS` — a hand-designed TTFS CNN (fixed architecture, same trainer as the search).
* :class:`SEENStyleLIF` — a rate-coded LIF CNN in the style of SEEN (Zhang et al., SIGGRAPH 2023: conv
  layers driving LIF neurons, threshold 0.3, decay 0.2, the clip's frames presented one after another),
  built with snntorch and trained with surrogate-gradient BPTT. Its SynOps are counted from its real
  spikes with the same counter as the TTFS networks (:func:`tnas_plugin.hardware.synapse_counts`).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import snntorch
import torch
from snntorch import spikegen
from torch import nn

from .hardware import synapse_counts
from .search_spaces import CandidateSpec, StageSpec, build_ann

HANDCRAFTED_TTFS = CandidateSpec(
    modality="both", frames=4, steps_per_window=16, resolution=32,
    stages=(StageSpec(8, 3, "max"), StageSpec(16, 3, "max")), classifier_width=64, num_classes=7,
)


class SEENStyleLIF(nn.Module):
    """LIF CNN with the layers of ``build_ann(spec)``, each ReLU replaced by an snntorch ``Leaky`` neuron.

    Input clips ``(N, T, C, H, W)`` in [0, 1]; each frame is shown for ``steps_per_frame`` steps as
    Bernoulli spikes of its intensity (rate code). The logits are the readout averaged over all steps,
    so it trains with the ANN trainer (:func:`tnas_plugin.trainer.train_ann`, surrogate-gradient BPTT
    through snntorch's default arctan surrogate).
    """

    def __init__(self, spec: CandidateSpec, steps_per_frame: int = 4, threshold: float = 0.3, decay: float = 0.2):
        super().__init__()
        self.spec, self.steps_per_frame = spec, steps_per_frame
        self.layers = nn.ModuleList(
            snntorch.Leaky(beta=1.0 - decay, threshold=threshold) if isinstance(m, nn.ReLU) else m
            for m in build_ann(replace(spec, frames=1))  # one frame per time step
        )

    @property
    def steps(self) -> int:
        return self.spec.frames * self.steps_per_frame

    def forward(self, clips: torch.Tensor, counter: dict | None = None) -> torch.Tensor:
        membranes: dict[int, torch.Tensor] = {}
        logits = 0.0
        for frame in clips.unbind(1):
            for spikes in spikegen.rate(frame, num_steps=self.steps_per_frame):
                h = spikes
                for i, layer in enumerate(self.layers):
                    if isinstance(layer, snntorch.Leaky):
                        h, membranes[i] = layer(h, membranes.get(i, torch.zeros_like(h)))
                        if counter is not None:
                            counter["spikes"] += h.sum().item()
                    else:
                        if counter is not None and isinstance(layer, (nn.Conv2d, nn.Linear)):
                            geometry = {"stride": layer.stride, "padding": layer.padding} if isinstance(layer, nn.Conv2d) else {}
                            counter["synops"] += synapse_counts(h != 0, layer.weight, **geometry).sum().item()
                        h = layer(h)
                logits = logits + h
        return logits / self.steps

    @torch.no_grad()
    def neurons(self) -> tuple[int, int]:
        """(LIF neurons, LIF neurons plus readout units) for one sample."""
        shape = (1, self.spec.in_channels // self.spec.frames, self.spec.resolution, self.spec.resolution)
        counts, h = [], torch.zeros(shape)
        for layer in self.layers:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                h = layer(h)
                counts.append(h[0].numel())
            elif not isinstance(layer, snntorch.Leaky):
                h = layer(h)
        return sum(counts[:-1]), sum(counts)


@torch.no_grad()
def evaluate_lif(model: SEENStyleLIF, loader) -> tuple[np.ndarray, np.ndarray, dict]:
    """Labels, predictions and a SynOps report (per inference) in the format of ``count_synops``."""
    counter, truths, predictions, samples = {"synops": 0.0, "spikes": 0.0}, [], [], 0
    for clips, labels in loader:
        logits = model(clips, counter)
        truths.append(labels.numpy())
        predictions.append(logits.argmax(1).numpy())
        samples += len(labels)
    hidden, neurons = model.neurons()
    report = {"total": counter["synops"] / samples, "neurons": neurons, "latency_steps": model.steps,
              "spikes_per_neuron": counter["spikes"] / samples / hidden, "ann_macs": 0, "steps_per_window": None}
    return np.concatenate(truths), np.concatenate(predictions), report
