"""Layers of a :class:`~tnas_plugin.ttfs.TTFSNetwork`, in the order the spikes flow.

Each layer maps the *values* of its input spikes (``x = t_max - t_spike``, 0 = no spike, window
normalised to unit length) to the values of its output spikes (Stanojevic et al., Nat. Commun.
15:6793, 2024). Synaptic layers keep the ANN's (BN-folded) ``weight``/``bias`` and the window scales
``scale_in = c_{n-1}``, ``scale_out = c_n``; the normalised parameters actually used are
``W' = W c_{n-1} / c_n`` and ``b' = b / c_n`` (:meth:`SynapticLayer.effective_weight` /
:meth:`SynapticLayer.effective_bias`), so autograd gradients w.r.t. ``weight``/``bias`` are the ANN's.
"""
from __future__ import annotations

from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from .neuron import ttfs_value


class LayerKind(str, Enum):
    """The kinds of layer a TTFS network has: the one place they are named (``layer.kind``).

    A ``str`` enum, so a kind compares equal to its name (``LayerKind.CONV == "conv"``) in JSON and CSV.
    """

    INPUT = "input"
    CONV = "conv"
    LINEAR = "linear"
    READOUT = "readout"
    MAXPOOL = "maxpool"
    FLATTEN = "flatten"

    def __str__(self) -> str:
        return self.value

    @property
    def has_neurons(self) -> bool:
        """Its outputs are neurons of its own (max-pool and flatten re-route existing spikes)."""
        return self in (LayerKind.CONV, LayerKind.LINEAR)

    @property
    def has_weights(self) -> bool:
        """It owns synapses: conv, linear and the readout."""
        return self in (LayerKind.CONV, LayerKind.LINEAR, LayerKind.READOUT)


class SynapticLayer(nn.Module):
    """Weighted layer of TTFS neurons owning window ``[window, window + 1]``.

    The potential at the window start is ``z = W' x + b'`` (``V(t_min) = sum_j W'_ij x_j``, threshold
    ``1 - b'``); the output value is ``ttfs_value(z)``. ``trainable=False`` stores the weights as
    buffers (used for average pooling).
    """

    kind: LayerKind

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, window: int, trainable: bool = True):
        super().__init__()
        weight, bias = weight.detach().clone(), bias.detach().clone()
        if trainable:
            self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias)
        self.register_buffer("scale_in", torch.ones((), dtype=weight.dtype))
        self.register_buffer("scale_out", torch.ones((), dtype=weight.dtype))
        self.window = window
        self.trainable = trainable

    def effective_weight(self) -> torch.Tensor:
        """Normalised weight ``W' = W c_{n-1} / c_n`` (conv: ``(O, I, kH, kW)``, linear: ``(O, I)``)."""
        return self.weight * (self.scale_in / self.scale_out)

    def effective_bias(self) -> torch.Tensor:
        """Normalised bias ``b' = b / c_n``."""
        return self.bias / self.scale_out

    def potential(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised potential ``z = W' x + b'`` at the window start (input values ``x``)."""
        return self._synapses(x, self.effective_weight(), self.effective_bias())

    def forward(self, x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
        return ttfs_value(self.potential(x), steps_per_window)

    def _synapses(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"kind='{self.kind}', window={self.window}, weight={tuple(self.weight.shape)}, trainable={self.trainable}"


class ConvLayer(SynapticLayer):
    """2-D convolution of TTFS neurons (``kind == "conv"``); ``stride``/``padding`` as in ``torch.nn.Conv2d``."""

    kind = LayerKind.CONV

    def __init__(self, weight, bias, window, stride: tuple[int, int], padding: tuple[int, int], trainable: bool = True):
        super().__init__(weight, bias, window, trainable)
        self.stride, self.padding = tuple(stride), tuple(padding)

    def _synapses(self, x, weight, bias):
        return F.conv2d(x, weight, bias, self.stride, self.padding)


class LinearLayer(SynapticLayer):
    """Fully connected TTFS neurons (``kind == "linear"``)."""

    kind = LayerKind.LINEAR

    def _synapses(self, x, weight, bias):
        return F.linear(x, weight, bias)


class ReadoutLayer(LinearLayer):
    """Non-spiking output layer (``kind == "readout"``): logits ``= W c_{L-1} x + b = V(t_min)``.

    ``scale_out`` stays 1, so the logits are in the ANN's units; ``window`` is the readout time
    (``t = window``, the end of the last spiking window).
    """

    kind = LayerKind.READOUT

    def forward(self, x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
        return self.potential(x)


class MaxPoolLayer(nn.Module):
    """Max pooling = earliest spike = max of the values, inside the input's ``window`` (``kind == "maxpool"``)."""

    kind = LayerKind.MAXPOOL

    def __init__(self, kernel_size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int], window: int):
        super().__init__()
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        self.window = window

    def forward(self, x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"kind='maxpool', window={self.window}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class FlattenLayer(nn.Module):
    """Reshape ``(B, C, H, W)`` to ``(B, C*H*W)`` (C-order, like ``nn.Flatten()``); spikes keep their ``window``."""

    kind = LayerKind.FLATTEN

    def __init__(self, window: int):
        super().__init__()
        self.window = window

    def forward(self, x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
        return x.flatten(1)

    def extra_repr(self) -> str:
        return f"kind='flatten', window={self.window}"
