"""Synaptic operations (SynOps) of a TTFS network, counted from the spikes of real inputs (docs/ARCHITECTURE.md, "Hardware").

One SynOp is one spike delivered through one non-zero synapse. For a weighted layer with input spike
mask ``s`` and weight ``W`` the count is ``sum over outputs of conv2d(s, W != 0)`` (``s @ (W != 0).T``
for a linear layer): exact at padded borders and with strides, and it follows the spikes through
max-pooling and flatten because the mask is the one the layer really receives. The ANN twin's MACs are
the same sum with dense masks (every input present, every weight used; padding excluded).
All figures are averages per inference (per sample).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: Layer kinds that own synapses.
WEIGHTED_KINDS = ("conv", "linear", "readout")


def synapse_counts(spikes: torch.Tensor, weight: torch.Tensor, stride=(1, 1), padding=(0, 0)) -> torch.Tensor:
    """Per-sample count of (spike, non-zero synapse) pairs for input ``spikes`` of shape ``(N, ...)``.

    ``weight`` is ``(O, I)`` (linear; spikes flattened) or ``(O, I, kH, kW)`` (conv with ``stride``,
    ``padding``; spikes ``(N, I, H, W)``). Counted in float64, exact for any realistic size.
    """
    synapses = (weight != 0).to(torch.float64)
    spikes = spikes.to(torch.float64)
    if weight.dim() == 2:
        return spikes.flatten(1) @ synapses.sum(0)
    return F.conv2d(spikes, synapses, None, tuple(stride), tuple(padding)).sum((1, 2, 3))


def ann_macs(weight: torch.Tensor, input_shape: tuple[int, ...], stride=(1, 1), padding=(0, 0)) -> int:
    """Multiply-accumulates of the dense ANN layer for one input of ``input_shape`` (padding excluded)."""
    ones = torch.ones(1, *input_shape, dtype=torch.float64)
    return int(synapse_counts(ones, torch.ones_like(weight, dtype=torch.float64), stride, padding).item())


def _geometry(layer) -> dict:
    return {"stride": layer.stride, "padding": layer.padding} if layer.kind == "conv" else {}


@torch.no_grad()
def count_synops(snn, inputs: torch.Tensor, steps_per_window: int | None = None, batch_size: int = 256) -> dict:
    """SynOps per inference of ``snn`` on ``inputs`` (frames in [0, 1]), per layer and in total.

    ``steps_per_window=None`` counts the spikes of the continuous-time model; an integer ``S`` those of
    the discrete model that a step simulator (Lava) runs. Returns a dict: ``total`` (SynOps per
    sample), ``per_layer`` (one dict per weighted layer: ``index`` in ``snn.layers``, ``name``,
    ``kind``, ``spikes_in``, ``synops``, ``neurons``, ``spikes_out``, ``spikes_per_neuron`` -- ``None``
    for the non-spiking readout -- and ``ann_macs``), ``spikes_per_neuron`` (hidden spikes per hidden
    neuron), ``neurons`` (all neurons of weighted layers, readout included), ``ann_macs``,
    ``samples``, ``steps_per_window``, ``num_windows`` and ``latency_steps`` (``None`` if continuous).
    """
    if not len(inputs):
        raise ValueError("count_synops needs at least one input sample")
    weighted = [(i, layer) for i, layer in enumerate(snn.layers) if layer.kind in WEIGHTED_KINDS]
    sums = {i: {"spikes_in": 0.0, "synops": 0.0, "spikes_out": 0.0} for i, _ in weighted}
    samples = len(inputs)
    for start in range(0, samples, batch_size):
        run = snn.run(inputs[start:start + batch_size], steps_per_window)
        for i, layer in weighted:
            mask = run.spike_mask[i]
            sums[i]["spikes_in"] += mask.sum().item()
            sums[i]["synops"] += synapse_counts(mask, layer.effective_weight(), **_geometry(layer)).sum().item()
            if layer.kind != "readout":
                sums[i]["spikes_out"] += run.spike_mask[i + 1].sum().item()
    outputs = [run.logits if layer.kind == "readout" else run.spike_mask[i + 1] for i, layer in weighted]
    per_layer = []
    for (i, layer), output in zip(weighted, outputs):
        neurons = output[0].numel()
        spiking = layer.kind != "readout"
        per_layer.append({
            "index": i,
            "name": f"{i}:{layer.kind}",
            "kind": layer.kind,
            "spikes_in": sums[i]["spikes_in"] / samples,
            "synops": sums[i]["synops"] / samples,
            "neurons": neurons,
            "spikes_out": sums[i]["spikes_out"] / samples if spiking else None,
            "spikes_per_neuron": sums[i]["spikes_out"] / samples / neurons if spiking else None,
            "ann_macs": ann_macs(layer.effective_weight(), tuple(run.spike_mask[i].shape[1:]), **_geometry(layer)),
        })
    hidden = [row for row in per_layer if row["kind"] != "readout"]
    hidden_neurons = sum(row["neurons"] for row in hidden)
    return {
        "total": sum(row["synops"] for row in per_layer),
        "per_layer": per_layer,
        "spikes_per_neuron": sum(row["spikes_out"] for row in hidden) / hidden_neurons if hidden_neurons else 0.0,
        "neurons": sum(row["neurons"] for row in per_layer),
        "ann_macs": sum(row["ann_macs"] for row in per_layer),
        "samples": samples,
        "steps_per_window": steps_per_window,
        "num_windows": snn.num_windows,
        "latency_steps": None if steps_per_window is None else snn.latency_steps(steps_per_window),
    }
