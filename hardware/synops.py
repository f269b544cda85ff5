"""Operation counters: the PyTorch side of the cost model (docs/ARCHITECTURE.md, "Hardware").

:func:`count_ttfs` counts, analytically from the spike times of the discrete TTFS model on real
inputs, what the step-simulated TTFS neuron executes (:mod:`tnas_plugin.hardware.lava_procs`):

* synaptic events: for a weighted layer with input spike mask ``s`` and weight ``W``,
  ``sum over outputs of conv2d(s, W != 0)`` (``s @ (W != 0).T`` for a linear layer), exact at padded
  borders, with strides, after max-pooling and flatten;
* neuron updates, one per neuron per time step. A neuron of window ``n`` is *active* (received input or
  changed state) in the steps of window ``n - 1`` in which it receives a non-zero current or holds a
  non-zero accumulated current (``v += current``), and in its own window from the first step until it
  fires (the threshold ramp, Stanojevic et al., Nat. Commun. 15:6793, 2024), all ``S`` steps if it stays
  silent; a readout is active once more, when it is read. Every other step is an inactive update.

:class:`SteppedCounter` tallies the same terms step by step for time-stepped rate/LIF networks.
All figures are averages per inference (per sample), returned as a :class:`~tnas_plugin.hardware.cost.CostReport`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tnas_plugin.ttfs import LayerKind

from .cost import CostReport, LayerCost


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


def ann_macs(weight: torch.Tensor, input_shape: tuple[int, ...], stride=(1, 1), padding=(0, 0), dense: bool = True) -> int:
    """Multiply-accumulates of the ANN layer for one input of ``input_shape`` (padding excluded).

    ``dense=True`` counts every weight (a trained layer computes its zeros too); ``dense=False`` only
    the non-zero ones, for fixed-structure layers such as average pooling, whose ``C x C`` kernel is
    zero off the channel diagonal (depthwise: ``C x H_out x W_out x kH x kW`` MACs).
    """
    ones = torch.ones(1, *input_shape, dtype=torch.float64)
    structure = torch.ones_like(weight, dtype=torch.float64) if dense else weight
    return int(synapse_counts(ones, structure, stride, padding).item())


#: Largest number of elements (time steps x samples x (inputs + neurons)) stacked into one pass of ``_active_updates``.
_STACK_ELEMENTS = 1 << 22


def _geometry(layer) -> dict:
    return {"stride": layer.stride, "padding": layer.padding} if layer.kind == LayerKind.CONV else {}


def _currents(layer, spikes: torch.Tensor) -> torch.Tensor:
    """Synaptic current (no bias) that ``spikes`` (a 0/1 mask) drive into ``layer``'s neurons."""
    weight = layer.effective_weight().to(torch.float64)
    if layer.kind == LayerKind.CONV:
        return F.conv2d(spikes.to(torch.float64), weight, None, layer.stride, layer.padding)
    return F.linear(spikes.flatten(1).to(torch.float64), weight)


def _active_updates(layer, times_in: torch.Tensor, times_out: torch.Tensor | None, steps: int) -> float:
    """Active updates (summed over the batch) of ``layer``'s neurons; see the module docstring.

    The input window's ``S`` steps are one batch of ``S x N`` spike masks (the spikes arriving at each step)
    through the layer's synapses; the held current is their running sum over the steps, as the neuron
    integrates it (``current += a_in``, :mod:`tnas_plugin.hardware.lava_procs.models`). Samples go through in
    chunks of at most :data:`_STACK_ELEMENTS` stacked input elements (memory only; the count is per sample).
    """
    base = (layer.window - 1) * steps
    step = torch.arange(base, base + steps, device=times_in.device).view(steps, *([1] * times_in.dim()))
    neurons = layer.weight.shape[0] if times_out is None else times_out[0].numel()
    chunk = max(1, _STACK_ELEMENTS // (steps * (times_in[0].numel() + neurons)))
    active = 0.0
    for start in range(0, len(times_in), chunk):
        times = times_in[start:start + chunk]
        arriving = _currents(layer, (times == step).flatten(0, 1)).unflatten(0, (steps, len(times)))
        current = arriving.cumsum(0)
        active += ((current != 0) | (arriving != 0)).sum().item()
    if times_out is None:  # readout (linear): read once, at its window start
        return active + layer.weight.shape[0] * len(times_in)
    ramp = torch.where(torch.isfinite(times_out), times_out - layer.window * steps + 1, torch.full_like(times_out, steps))
    return active + ramp.sum().item()


@torch.no_grad()
def count_ttfs(snn, inputs: torch.Tensor, steps_per_window: int, batch_size: int = 256) -> CostReport:
    """Operations per inference of the discrete TTFS network ``snn`` (``S = steps_per_window``) on ``inputs``.

    ``inputs`` are frames in [0, 1]. Each weighted layer of ``snn.layers`` gives one
    :class:`~tnas_plugin.hardware.cost.LayerCost` (name ``"<index>:<kind>"``); ``time_steps`` is the
    latency ``snn.latency_steps(S)``, so inactive updates are ``neurons x time_steps - active``.

    Parameters
    ----------
    snn
        The TTFS network (:class:`~tnas_plugin.ttfs.TTFSNetwork`) whose operations are counted.
    inputs
        Input frames ``(N, ...)`` with values in [0, 1]; at least one sample. Figures are averages over them.
    steps_per_window
        ``S``, the time steps per TTFS window of the discrete model (a positive integer).
    batch_size
        Samples run through ``snn`` at once (memory only; the counts do not depend on it).

    Example
    -------
    >>> from torch import nn
    >>> from tnas_plugin.ttfs import ann_to_ttfs
    >>> ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 7)).eval()
    >>> snn = ann_to_ttfs(ann, torch.rand(16, 1, 8, 8))
    >>> report = count_ttfs(snn, torch.rand(8, 1, 8, 8), steps_per_window=16)
    >>> report.time_steps == snn.latency_steps(16)
    True
    """
    if not len(inputs):
        raise ValueError("count_ttfs needs at least one input sample")
    if steps_per_window is None or int(steps_per_window) != steps_per_window or steps_per_window < 1:
        raise ValueError(f"count_ttfs counts the discrete model: steps_per_window must be a positive integer, "
                         f"got {steps_per_window!r}")
    weighted = [(i, layer) for i, layer in enumerate(snn.layers) if layer.kind.has_weights]
    sums = {i: dict.fromkeys(("spikes_in", "synaptic_events", "spikes_out", "active"), 0.0) for i, _ in weighted}
    neurons, input_shapes = {}, {}
    for start in range(0, len(inputs), batch_size):
        run = snn.run(inputs[start:start + batch_size], steps_per_window)
        for i, layer in weighted:
            spiking = layer.kind != LayerKind.READOUT
            mask, times = run.spike_mask[i], run.spike_times[i].detach()
            output = run.spike_mask[i + 1] if spiking else run.logits
            neurons[i], input_shapes[i] = output[0].numel(), tuple(mask.shape[1:])
            sums[i]["spikes_in"] += mask.sum().item()
            sums[i]["synaptic_events"] += synapse_counts(mask, layer.effective_weight(), **_geometry(layer)).sum().item()
            sums[i]["spikes_out"] += output.sum().item() if spiking else 0.0
            sums[i]["active"] += _active_updates(layer, times, run.spike_times[i + 1].detach() if spiking else None,
                                                 steps_per_window)
    samples, time_steps = len(inputs), snn.latency_steps(steps_per_window)
    layers = []
    for i, layer in weighted:
        active = sums[i]["active"] / samples
        layers.append(LayerCost(
            name=f"{i}:{layer.kind}", kind=str(layer.kind), neurons=neurons[i],
            synaptic_events=sums[i]["synaptic_events"] / samples, spikes_in=sums[i]["spikes_in"] / samples,
            spikes_out=sums[i]["spikes_out"] / samples if layer.kind != LayerKind.READOUT else None,
            updates_active=active, updates_inactive=neurons[i] * time_steps - active,
            macs=ann_macs(layer.effective_weight(), input_shapes[i], **_geometry(layer), dense=layer.trainable),
        ))
    return CostReport("ttfs", tuple(layers), time_steps, samples)


class SteppedCounter:
    """Tallies synaptic events, spikes and active/inactive updates of a time-stepped (rate/LIF) network.

    Call :meth:`step` once per weighted layer and time step, then :meth:`report`. A neuron update is
    active when the neuron received a non-zero current (synaptic input plus bias) or its membrane
    potential changed (leak, reset), as Davies et al. (IEEE Micro 2018) distinguish them.
    """

    def __init__(self):
        self.layers: dict[str, dict] = {}

    @torch.no_grad()
    def step(self, name: str, kind: str, spikes_in: torch.Tensor, weight: torch.Tensor, current: torch.Tensor,
             mem_before: torch.Tensor, mem_after: torch.Tensor, spikes_out: torch.Tensor | None, geometry: dict | None = None,
             macs: int = 0) -> None:
        """Count one time step of layer ``name`` for a batch: input spikes (0/1), the layer's weight and
        ``geometry`` (conv ``stride``/``padding``), its current, membrane before/after, output spikes
        (``None`` for a non-spiking readout) and the layer's dense ``macs``."""
        entry = self.layers.setdefault(name, {"kind": kind, "neurons": current[0].numel(), "macs": macs, "spikes_in": 0.0,
                                              "synaptic_events": 0.0, "spikes_out": None if spikes_out is None else 0.0,
                                              "active": 0.0, "updates": 0.0})
        entry["spikes_in"] += (spikes_in != 0).sum().item()
        entry["synaptic_events"] += synapse_counts(spikes_in != 0, weight, **(geometry or {})).sum().item()
        if spikes_out is not None:
            entry["spikes_out"] += spikes_out.sum().item()
        entry["active"] += ((current != 0) | (mem_after != mem_before)).sum().item()
        entry["updates"] += current.numel()

    def report(self, samples: int, time_steps: int) -> CostReport:
        """The :class:`~tnas_plugin.hardware.cost.CostReport` per inference of ``samples`` inputs run for ``time_steps``."""
        if not self.layers:
            raise ValueError("nothing was counted")
        layers = tuple(LayerCost(
            name=name, kind=e["kind"], neurons=e["neurons"], synaptic_events=e["synaptic_events"] / samples,
            spikes_in=e["spikes_in"] / samples, spikes_out=None if e["spikes_out"] is None else e["spikes_out"] / samples,
            updates_active=e["active"] / samples, updates_inactive=(e["updates"] - e["active"]) / samples, macs=e["macs"],
        ) for name, e in self.layers.items())
        return CostReport("lif", layers, time_steps, samples)
