"""The converted TTFS network: batched closed-form forward in continuous or discrete time.

Window n is ``[n, n + 1]`` (input: window 0); spikes carry values ``x = t_max - t`` and each layer
computes ``x_n = ttfs_value(W'_n x_{n-1} + b'_n)`` (Stanojevic et al., Nat. Commun. 15:6793, 2024).
"""
from __future__ import annotations

import math

from dataclasses import dataclass

import torch
from torch import nn

from .layers import LayerKind, ReadoutLayer, SynapticLayer
from .neuron import spike_times_from_values, ttfs_value


@dataclass
class TTFSRun:
    """Everything one :meth:`TTFSNetwork.run` computed.

    Entry 0 of ``values``/``spike_times``/``spike_mask``/``kinds`` is the input; entry ``i + 1`` is the
    output of ``snn.layers[i]`` (every layer but the readout), in that op's output shape. Times are in
    window units (continuous) or integer steps (discrete), ``inf`` where the mask is False.
    """

    logits: torch.Tensor
    values: list[torch.Tensor]
    spike_times: list[torch.Tensor]
    spike_mask: list[torch.Tensor]
    kinds: list[LayerKind]
    steps_per_window: int | None

    @property
    def spike_counts(self) -> list[torch.Tensor]:
        """Spikes per sample (shape ``(B,)``) of each entry."""
        return [mask.flatten(1).sum(1) for mask in self.spike_mask]

    @property
    def neurons(self) -> list[int]:
        """Neurons (output elements per sample) of each entry."""
        return [mask.shape[1:].numel() for mask in self.spike_mask]

    @property
    def spikes_per_neuron(self) -> list[float]:
        """Mean over the batch of spikes per neuron, for each entry (at most 1)."""
        return [count.double().mean().item() / n for count, n in zip(self.spike_counts, self.neurons)]

    @property
    def total_spikes(self) -> torch.Tensor:
        """Spikes per sample of all hidden neurons (conv and linear layers; input excluded)."""
        counts = [c for c, kind in zip(self.spike_counts, self.kinds) if kind.has_neurons]
        return torch.stack(counts).sum(0) if counts else torch.zeros_like(self.spike_counts[0])

    @property
    def hidden_neurons(self) -> int:
        """Neurons of the conv and linear layers (per sample)."""
        return sum(n for n, kind in zip(self.neurons, self.kinds) if kind.has_neurons)

    @property
    def total_spikes_per_neuron(self) -> float:
        """Mean over the batch of hidden spikes per hidden neuron."""
        return self.total_spikes.double().mean().item() / max(self.hidden_neurons, 1)

    def stats(self) -> dict:
        """Plain-Python summary: per entry ``kind``, ``neurons``, ``spikes_per_sample``, ``spikes_per_neuron``; totals."""
        per_layer = [
            {"index": i, "kind": str(kind), "neurons": n, "spikes_per_sample": count.double().mean().item(), "spikes_per_neuron": rate}
            for i, (kind, n, count, rate) in enumerate(zip(self.kinds, self.neurons, self.spike_counts, self.spikes_per_neuron))
        ]
        return {
            "per_layer": per_layer,
            "total_spikes_per_sample": self.total_spikes.double().mean().item(),
            "spikes_per_neuron": self.total_spikes_per_neuron,
        }


def _check_steps(steps_per_window: int | None) -> int | None:
    if steps_per_window is not None and (int(steps_per_window) != steps_per_window or steps_per_window < 1):
        raise ValueError(f"steps_per_window must be a positive integer or None, got {steps_per_window!r}")
    return None if steps_per_window is None else int(steps_per_window)


class TTFSNetwork(nn.Module):
    """A TTFS spiking network: ordered ``layers`` ending in a :class:`ReadoutLayer`.

    ``snn(x)`` returns the logits, ``snn.run(x)`` also the spikes; ``steps_per_window=None`` is
    continuous time, an integer ``S`` the discrete model of a step simulator (``dt = 1/S``). Inputs are
    frames in [0, 1], moved to the network's device and dtype.

    Parameters
    ----------
    layers
        The TTFS layers in order (conv, linear, max-pool, flatten layers of :mod:`tnas_plugin.ttfs`);
        the last one must be a :class:`ReadoutLayer`, else ``ValueError``.
    input_shape
        Shape of one input sample (e.g. ``(C, H, W)``), kept as ``snn.input_shape``; ``None`` if unknown.

    Example
    -------
    >>> from torch import nn
    >>> from tnas_plugin.ttfs import ann_to_ttfs
    >>> ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 7)).eval()
    >>> snn = ann_to_ttfs(ann, torch.rand(16, 1, 8, 8))   # usually built by ann_to_ttfs
    >>> snn(torch.rand(4, 1, 8, 8)).shape                  # continuous time
    torch.Size([4, 7])
    >>> run = snn.run(torch.rand(4, 1, 8, 8), 16)          # discrete time: logits and spikes
    >>> snn.latency_steps(16) == snn.num_windows * 16
    True
    """

    def __init__(self, layers: list[nn.Module], input_shape: tuple[int, ...] | None = None):
        super().__init__()
        if not layers or not isinstance(layers[-1], ReadoutLayer):
            raise ValueError("a TTFSNetwork must end with a ReadoutLayer")
        self.layers = nn.ModuleList(layers)
        self.input_shape = None if input_shape is None else tuple(input_shape)

    @property
    def num_windows(self) -> int:
        """Latency in windows: input window plus one per spiking synaptic layer (readout at ``t = num_windows``)."""
        return self.layers[-1].window

    def latency_steps(self, steps_per_window: int) -> int:
        """Latency of one inference in time steps for ``steps_per_window`` steps per window."""
        return self.num_windows * _check_steps(steps_per_window)

    @property
    def scales(self) -> list[float]:
        """Window scales ``c_n`` (``c_0 = 1`` for the input, then one per spiking synaptic layer)."""
        return [1.0] + [layer.scale_out.item() for layer in self.synaptic_layers() if layer.kind != LayerKind.READOUT]

    def synaptic_layers(self) -> list[SynapticLayer]:
        """The conv, linear and readout layers, in order."""
        return [layer for layer in self.layers if isinstance(layer, SynapticLayer)]

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.layers[-1].weight
        return x.to(device=weight.device, dtype=weight.dtype)

    def _propagate(self, x: torch.Tensor, steps_per_window: int | None) -> tuple[list[torch.Tensor], torch.Tensor]:
        steps_per_window = _check_steps(steps_per_window)
        values = [ttfs_value(self._prepare(x), steps_per_window)]
        for layer in self.layers[:-1]:
            values.append(layer(values[-1], steps_per_window))
        return values, self.layers[-1](values[-1])

    def forward(self, x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
        """Readout logits for frames ``x`` (``(B, ...)``, values in [0, 1])."""
        return self._propagate(x, steps_per_window)[1]

    def run(self, x: torch.Tensor, steps_per_window: int | None = None) -> TTFSRun:
        """Logits plus values, spike times and masks of every layer (see :class:`TTFSRun`)."""
        steps_per_window = _check_steps(steps_per_window)
        values, logits = self._propagate(x, steps_per_window)
        windows = [0] + [layer.window for layer in self.layers[:-1]]
        times, masks = zip(*(spike_times_from_values(v, w, steps_per_window) for v, w in zip(values, windows)))
        kinds = [LayerKind.INPUT] + [layer.kind for layer in self.layers[:-1]]
        return TTFSRun(logits, values, list(times), list(masks), kinds, steps_per_window)

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, margin: float = 1.1, widen_only: bool = False,
                  percentile: float = 100.0) -> "TTFSNetwork":
        """Set each spiking window from data: ``c_n = margin * max`` ANN activation of layer n on ``x``.

        ``percentile < 100`` uses that percentile of the layer's positive activations instead of the
        maximum ("robust normalisation", Rueckauer et al., Front. Neurosci. 11:682, 2017): rare outliers
        are clipped at the window edge, and the discrete steps resolve the bulk of the values far better.
        Only ``percentile=100`` keeps the exact ANN equivalence on ``x``.

        Layers are visited in order with continuous-time values, so each ``c_n`` sees the already
        rescaled earlier layers. A layer that never activates keeps ``c_n = 1``. With
        ``widen_only=True`` windows only grow (``c_n = max(c_n, margin * max)``), which removes
        clipping without changing the function of unclipped neurons (ReLU scale equivariance).
        """
        if not margin > 0:
            raise ValueError(f"margin must be positive, got {margin!r}")
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
        values = ttfs_value(self._prepare(x))
        scale = values.new_ones(())
        for layer in self.layers[:-1]:
            if isinstance(layer, SynapticLayer):
                layer.scale_in.copy_(scale)
                activation = layer.potential(values) * layer.scale_out
                peak = margin * _upper_percentile(activation, percentile)
                if widen_only:
                    layer.scale_out.copy_(torch.maximum(layer.scale_out, peak))
                else:
                    layer.scale_out.copy_(torch.where(peak > 0, peak, torch.ones_like(peak)))
                scale = layer.scale_out
            values = layer(values)
        self.layers[-1].scale_in.copy_(scale)
        return self


def _upper_percentile(activation: torch.Tensor, percentile: float) -> torch.Tensor:
    """``percentile`` of the positive entries of ``activation`` (100 = max; 0 if none is positive)."""
    positive = activation[activation > 0]
    if not positive.numel():
        return activation.new_zeros(())
    if percentile >= 100:
        return positive.max()
    k = max(1, math.ceil(percentile / 100 * positive.numel()))
    return positive.kthvalue(k).values
