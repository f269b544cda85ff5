"""Fixed-point TTFS networks: integer weights, potentials and time steps (docs/ARCHITECTURE.md, "Fixed point").

:func:`quantize` turns a trained :class:`~tnas_plugin.ttfs.TTFSNetwork` into a
:class:`QuantizedTTFSNetwork` that computes in integers exactly what Lava's fixed-point models
(``fixed_pt``) compute, step by step (Loihi-style arithmetic, Davies et al., IEEE Micro 38(1), 2018):

* **Weights.** Per weighted layer, the normalised weights ``W'`` get a power-of-two scale: a ``b``-bit
  mantissa ``m = clip(round(W' 2^p), m_min, m_max)`` (mixed sign: ``[-2^(b-1), 2^(b-1) - 1]``; all
  weights ``>= 0``: ``[0, 2^b - 1]``) stored in Loihi's 8-bit weight format ``w = m 2^f`` with
  ``f = 8 - b`` (+1 for mixed sign), so Lava's ``PyDenseModelBitAcc`` (clip to 8 bits, truncate
  ``f`` low bits) keeps it unchanged. ``W' ~= w / R`` with the power-of-two *ramp* ``R = 2^(p + f)``.
* **Neuron** (the TTFS neuron of Stanojevic et al., Nat. Commun. 15:6793, 2024, in potential units of
  ``1 / R`` per step): input spikes add ``w`` to a current, the current is added to the potential ``v``
  every step before the window; at the window start ``v += B`` (bias ``B = round(S b' R)``), and in
  the window ``v`` ramps by ``R`` per step and fires, once, on reaching the threshold ``T = S R``.
  The layer scale sits in ``R`` and ``T``, so no per-step shift (``weight_exp``) is needed. The
  output level (``S x``, steps before the window end) is ``k = clip(floor(sat(v + B) / R), 0, S)``.
* **Widths.** Current, potential, bias and threshold are signed ``potential_bits`` integers
  (default 24, Loihi's membrane voltage); every addition saturates at that width; a convolution's
  per-step sum saturates at 24 bits as in Lava's ``PyConvModelFixed``; a dense per-step sum is exact
  (int32 in Lava; :func:`quantize` rejects layers that could exceed it). Nothing wraps.
* **Time.** Inputs are levels ``k = floor(S clip(x, 0, 1))``; a spike of level ``k`` of window ``n``
  is at step ``(n + 1) S - k``. The readout is the integer ``sat(v + B)`` at its window start.

:func:`fake_quantize` applies the same weight and bias rounding to the float network, with
straight-through gradients, for quantisation-aware fine-tuning.
"""
from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .layers import LayerKind, SynapticLayer
from .network import TTFSNetwork, TTFSRun, _check_steps
from .neuron import ttfs_value

#: Loihi's synaptic weight field: 8 bits of magnitude (plus sign for mixed-sign synapses).
LOIHI_WEIGHT_BITS = 8
#: Width of Lava's ``PyConvModelFixed`` output (its ``signed_clamp(..., bits=24)``).
CONV_OUTPUT_BITS = 24
#: Lava's ``PyDenseModelBitAcc`` sums in numpy int32: larger per-step sums would wrap.
DENSE_SUM_BITS = 32


def saturate(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Clamp to the signed ``bits``-bit range ``[-2^(bits-1), 2^(bits-1) - 1]`` (saturation, never wrap-around)."""
    limit = 1 << (bits - 1)
    return x.clamp(-limit, limit - 1)


@dataclass(frozen=True)
class WeightFormat:
    """How one layer's weights are stored: mantissa range, format shift ``f`` and ramp exponent ``log2 R``."""

    weight_bits: int
    excitatory: bool  #: all weights >= 0: unsigned mantissa (Lava's SignMode.EXCITATORY), else mixed sign
    ramp_shift: int  #: ``log2 R``: ``W' ~= w / 2^ramp_shift``

    @property
    def format_shift(self) -> int:
        """``f``: low zero bits of the 8-bit weight field (``8 - b``, +1 for mixed sign)."""
        return LOIHI_WEIGHT_BITS - self.weight_bits + (0 if self.excitatory else 1)

    @property
    def mantissa_range(self) -> tuple[int, int]:
        if self.excitatory:
            return 0, (1 << self.weight_bits) - 1
        return -(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1

    @property
    def ramp(self) -> int:
        return 1 << self.ramp_shift

    def mantissa(self, weight: torch.Tensor) -> torch.Tensor:
        """``clip(round(W' 2^p), m_min, m_max)`` with ``p = ramp_shift - f`` (float tensor of integers)."""
        low, high = self.mantissa_range
        return torch.round(weight * 2.0 ** (self.ramp_shift - self.format_shift)).clamp(low, high)


def weight_format(weight: torch.Tensor, weight_bits: int, steps_per_window: int, potential_bits: int) -> WeightFormat:
    """The finest power-of-two scale at which ``weight`` (``W'``) fits the mantissa and ``T = S R`` the potential.

    The ramp exponent is the largest ``r`` with ``max W' 2^(r - f) <= m_max`` (and ``min W' 2^(r - f) >= m_min``)
    and ``S 2^r <= 2^(potential_bits - 1) - 1``; it is at least 0 (weights beyond ``m_max 2^f`` then saturate).
    """
    weight = weight.detach().to(torch.float64)
    probe = WeightFormat(weight_bits, bool((weight >= 0).all()), 0)
    low, high = probe.mantissa_range
    shift = math.floor(math.log2(((1 << (potential_bits - 1)) - 1) / steps_per_window))
    top, bottom = weight.max().item(), weight.min().item()
    if top > 0:
        shift = min(shift, math.floor(math.log2(high / top)) + probe.format_shift)
    if bottom < 0:
        shift = min(shift, math.floor(math.log2(low / bottom)) + probe.format_shift)
    return WeightFormat(weight_bits, probe.excitatory, max(shift, 0))


def _check_bits(weight_bits: int, potential_bits: int) -> None:
    if not isinstance(weight_bits, int) or not 2 <= weight_bits <= LOIHI_WEIGHT_BITS:
        raise ValueError(f"weight_bits must be an integer in [2, {LOIHI_WEIGHT_BITS}] (Loihi's weight field), got {weight_bits!r}")
    if not isinstance(potential_bits, int) or not 8 <= potential_bits <= CONV_OUTPUT_BITS:
        raise ValueError(f"potential_bits must be an integer in [8, {CONV_OUTPUT_BITS}], got {potential_bits!r}")


class QuantizedSynapticLayer(nn.Module):
    """A conv, linear or readout layer in integers: weights ``w`` (8-bit Loihi format), bias ``B``, ramp ``R = 2^ramp_shift``.

    Buffers (int64, so a checkpoint round-trips them): ``weight`` (torch layout), ``bias`` (per output
    channel/feature), ``ramp_shift``, ``weight_bits``, ``excitatory``. ``kind``, ``window``, ``stride``,
    ``padding``, ``trainable`` as in the float layer, so the operation counters read both alike.
    """

    def __init__(self, layer: SynapticLayer, weight_bits: int, steps_per_window: int, potential_bits: int):
        super().__init__()
        self.kind, self.window, self.trainable = layer.kind, layer.window, layer.trainable
        self.stride, self.padding = getattr(layer, "stride", None), getattr(layer, "padding", None)
        self.potential_bits = potential_bits
        weight = layer.effective_weight().detach().to(device="cpu", dtype=torch.float64)
        fmt = weight_format(weight, weight_bits, steps_per_window, potential_bits)
        bias = torch.round(layer.effective_bias().detach().to(device="cpu", dtype=torch.float64) * (steps_per_window * fmt.ramp))
        self.register_buffer("weight", (fmt.mantissa(weight) * (1 << fmt.format_shift)).to(torch.int64))
        self.register_buffer("bias", saturate(bias, potential_bits).to(torch.int64))
        self.register_buffer("ramp_shift", torch.tensor(fmt.ramp_shift))
        self.register_buffer("weight_bits", torch.tensor(weight_bits))
        self.register_buffer("excitatory", torch.tensor(fmt.excitatory))
        self.register_buffer("steps_per_window", torch.tensor(steps_per_window))

    @property
    def ramp(self) -> int:
        return 1 << int(self.ramp_shift)

    @property
    def format(self) -> WeightFormat:
        return WeightFormat(int(self.weight_bits), bool(self.excitatory), int(self.ramp_shift))

    def effective_weight(self) -> torch.Tensor:
        """The real weight the integers stand for, ``w / R`` (float64), comparable with the float layer's ``W'``."""
        return self.weight.to(torch.float64) / self.ramp

    def _apply(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The layer's linear map of ``x`` in float64 (exact for integers: every sum here is far below 2^53)."""
        if self.kind == LayerKind.CONV:
            return F.conv2d(x.to(torch.float64), weight, None, self.stride, self.padding)
        return F.linear(x.flatten(1).to(torch.float64), weight)

    def synaptic_sum(self, spikes: torch.Tensor) -> torch.Tensor:
        """One step's integer input ``sum_j w_ij s_j`` for a 0/1 spike mask (conv: saturated at 24 bits, as Lava)."""
        total = self._apply(spikes, self.weight.to(torch.float64))
        return saturate(total, CONV_OUTPUT_BITS) if self.kind == LayerKind.CONV else total

    def potential(self, levels: torch.Tensor, steps_per_window: int) -> torch.Tensor:
        """``sat(v + B)`` at the window start, integrating input ``levels`` (``0..S``) step by step.

        A spike of level ``k`` arrives ``k`` steps before the window start; each step adds the step's
        synaptic sum to the current and the current to ``v``, both saturating at ``potential_bits``.
        Without saturation that sums to ``v = sum_j w_ij k_j``: a sample whose bound ``sum_j |w_ij| k_j``
        (which bounds every partial sum, current and step sum) stays inside the width gets this closed
        form; the others are integrated step by step.
        """
        bits = self.potential_bits
        v = self._apply(levels, self.weight.to(torch.float64))
        bound = self._apply(levels, self.weight.abs().to(torch.float64)).flatten(1).amax(1)
        stepped = bound >= 1 << (bits - 1)
        if stepped.any():
            v[stepped] = self._stepwise(levels[stepped], steps_per_window)
        bias = self.bias.reshape(-1, 1, 1) if self.kind == LayerKind.CONV else self.bias
        return saturate(v + bias, bits).to(torch.int64)

    def _stepwise(self, levels: torch.Tensor, steps_per_window: int) -> torch.Tensor:
        """``v`` at the window start by the step-by-step saturating integration (the Lava model's arithmetic)."""
        bits = self.potential_bits
        current = torch.zeros_like(self._apply(levels, self.weight.to(torch.float64)))
        v = torch.zeros_like(current)
        for level in range(steps_per_window, 0, -1):
            arriving = levels == level
            if arriving.any():  # a step without input spikes adds nothing to the current
                current = saturate(current + self.synaptic_sum(arriving), bits)
            v = saturate(v + current, bits)
        return v

    def forward(self, levels: torch.Tensor, steps_per_window: int) -> torch.Tensor:
        """Output levels ``clip(floor(sat(v + B) / R), 0, S)`` (the readout: the integer ``sat(v + B)``)."""
        potential = self.potential(levels, steps_per_window)
        if self.kind == LayerKind.READOUT:
            return potential
        return torch.div(potential, self.ramp, rounding_mode="floor").clamp_(0, steps_per_window)

    def extra_repr(self) -> str:
        return (f"kind='{self.kind}', window={self.window}, weight={tuple(self.weight.shape)}, "
                f"weight_bits={int(self.weight_bits)}, ramp=2^{int(self.ramp_shift)}, excitatory={bool(self.excitatory)}")


class QuantizedTTFSNetwork(nn.Module):
    """The integer TTFS network :func:`quantize` returns; bit-exact with Lava's ``fixed_pt`` models.

    ``qnet(x)`` returns the integer readouts (``argmax`` = prediction), ``qnet.run(x)`` a
    :class:`~tnas_plugin.ttfs.TTFSRun` whose ``values`` are integer levels ``k = S x`` (int64), whose
    ``spike_times`` are integer steps and whose ``logits`` are the integer readouts.
    ``qnet.logits(x)`` gives the readouts in the float network's units (``readout / (S R)``).
    Max-pool and flatten layers are the float network's own (they only re-route spikes).
    """

    def __init__(self, snn: TTFSNetwork, weight_bits: int, steps_per_window: int, potential_bits: int):
        super().__init__()
        self.layers = nn.ModuleList(
            QuantizedSynapticLayer(layer, weight_bits, steps_per_window, potential_bits)
            if isinstance(layer, SynapticLayer) else layer
            for layer in snn.layers
        )
        self.input_shape = snn.input_shape
        self.weight_bits, self.potential_bits, self.steps_per_window = weight_bits, potential_bits, steps_per_window
        for layer in self.synaptic_layers():
            if layer.kind != LayerKind.CONV:
                worst = layer.weight.abs().sum(1).max().item()
                if worst >= 1 << (DENSE_SUM_BITS - 1):
                    raise ValueError(f"layer {layer.kind} (window {layer.window}): a per-step dense sum can reach "
                                     f"{worst}, beyond Lava's int32 accumulator; use fewer inputs or weight bits")

    @property
    def num_windows(self) -> int:
        return self.layers[-1].window

    def latency_steps(self, steps_per_window: int | None = None) -> int:
        return self.num_windows * self._steps(steps_per_window)

    def synaptic_layers(self) -> list[QuantizedSynapticLayer]:
        return [layer for layer in self.layers if isinstance(layer, QuantizedSynapticLayer)]

    def settings(self) -> dict:
        """What :func:`quantize` was called with (``weight_bits``, ``steps_per_window``, ``potential_bits``)."""
        return {"weight_bits": self.weight_bits, "steps_per_window": self.steps_per_window, "potential_bits": self.potential_bits}

    def _steps(self, steps_per_window: int | None) -> int:
        steps = _check_steps(steps_per_window)
        if steps is not None and steps != self.steps_per_window:
            raise ValueError(f"this network was quantised for {self.steps_per_window} steps per window (its biases "
                             f"and thresholds depend on it), got steps_per_window={steps}; quantise again")
        return self.steps_per_window

    def input_levels(self, x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
        """Input levels ``floor(S clip(x, 0, 1))`` (int64), exactly as the float model quantises its input."""
        steps = self._steps(steps_per_window)
        return (ttfs_value(x.detach().to(torch.float64), steps) * steps).round().to(torch.int64)

    @torch.no_grad()
    def run(self, x: torch.Tensor, steps_per_window: int | None = None) -> TTFSRun:
        """Integer readouts, levels, spike steps and masks of every entry (see the class docstring)."""
        steps = self._steps(steps_per_window)
        levels = [self.input_levels(x.cpu(), steps)]
        for layer in self.layers[:-1]:
            levels.append(layer(levels[-1], steps) if isinstance(layer, QuantizedSynapticLayer) else layer(levels[-1]))
        readouts = self.layers[-1](levels[-1], steps)
        windows = [0] + [layer.window for layer in self.layers[:-1]]
        masks = [level > 0 for level in levels]
        times = [torch.where(mask, ((window + 1) * steps - level).to(torch.float64), torch.tensor(math.inf, dtype=torch.float64))
                 for level, mask, window in zip(levels, masks, windows)]
        kinds = [LayerKind.INPUT] + [layer.kind for layer in self.layers[:-1]]
        return TTFSRun(readouts, levels, times, masks, kinds, steps)

    def forward(self, x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
        """Integer readouts ``(B, classes)`` (int64) for frames ``x`` in [0, 1]."""
        return self.run(x, steps_per_window).logits

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The readouts in the float network's logit units, ``readout / (S R_readout)`` (float64)."""
        return self(x).to(torch.float64) / (self.steps_per_window * self.layers[-1].ramp)


def quantize(snn: TTFSNetwork, weight_bits: int = 8, *, steps_per_window: int, potential_bits: int = 24) -> QuantizedTTFSNetwork:
    """The fixed-point twin of ``snn`` for ``S = steps_per_window`` steps per window (see the module docstring).

    Parameters
    ----------
    snn
        A trained (float) TTFS network.
    weight_bits
        Mantissa bits of every weight (2 to 8; Loihi's 8-bit weight field with a per-layer exponent).
    steps_per_window
        Time steps per window; biases and thresholds are integers for this ``S``.
    potential_bits
        Signed width of currents, potentials, biases and thresholds (default 24, Loihi's membrane voltage).

    Example
    -------
    >>> qnet = quantize(snn, 8, steps_per_window=32)
    >>> qnet(frames).argmax(1)   # predictions; qnet.run(frames) also gives the integer spike steps
    """
    _check_bits(weight_bits, potential_bits)
    steps = _check_steps(steps_per_window)
    if steps is None:
        raise ValueError("quantize needs an integer steps_per_window: fixed point is discrete time")
    if steps >= 1 << (potential_bits - 1):
        raise ValueError(f"the threshold S R >= steps_per_window = {steps} does not fit in potential_bits = {potential_bits}")
    return QuantizedTTFSNetwork(snn, weight_bits, steps, potential_bits).eval()


def _straight_through(rounded: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    return exact + (rounded - exact).detach()


class _FakeQuantWeight(nn.Module):
    """Parametrisation of ``layer.weight``: ``W`` whose ``W' = W c_in / c_out`` is rounded to the layer's format."""

    def __init__(self, layer: SynapticLayer, weight_bits: int, steps_per_window: int, potential_bits: int):
        super().__init__()
        self.layer = weakref.ref(layer)  # a weak reference: the layer owns this module
        self.bits = (weight_bits, steps_per_window, potential_bits)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        layer = self.layer()
        ratio = layer.scale_in / layer.scale_out
        effective = weight * ratio
        fmt = weight_format(effective, *self.bits)
        step = 2.0 ** (fmt.format_shift - fmt.ramp_shift)  # the real value of one mantissa unit
        low, high = fmt.mantissa_range
        inside = ((effective >= low * step) & (effective <= high * step)).to(weight.dtype)
        rounded = fmt.mantissa(effective.detach()) * step
        return _straight_through(rounded.to(weight.dtype), effective * inside) / ratio


class _FakeQuantBias(nn.Module):
    """Parametrisation of ``layer.bias``: ``b' = b / c_out`` rounded to ``1 / (S R)`` and saturated."""

    def __init__(self, layer: SynapticLayer, weight_bits: int, steps_per_window: int, potential_bits: int):
        super().__init__()
        self.layer = weakref.ref(layer)
        self.bits = (weight_bits, steps_per_window, potential_bits)

    def forward(self, bias: torch.Tensor) -> torch.Tensor:
        layer = self.layer()
        _, steps, potential_bits = self.bits
        original = layer.parametrizations.weight.original  # the format is the unrounded weight's, as quantize sees it
        fmt = weight_format(original * (layer.scale_in / layer.scale_out), *self.bits)
        unit = steps * fmt.ramp
        effective = bias / layer.scale_out
        rounded = saturate(torch.round(effective.detach() * unit), potential_bits) / unit
        return _straight_through(rounded.to(bias.dtype), effective) * layer.scale_out


@contextlib.contextmanager
def fake_quantize(snn: TTFSNetwork, weight_bits: int, steps_per_window: int, potential_bits: int = 24) -> Iterator[TTFSNetwork]:
    """Inside the block ``snn`` computes with the weights and biases :func:`quantize` would give (straight-through gradients).

    For quantisation-aware fine-tuning: the forward pass sees the rounded ``W'`` and ``b'`` (recomputed
    from the current weights and window scales at every call), the backward pass the gradient of the
    unrounded ones (zero for weights clipped at the mantissa range; Bengio et al., arXiv:1308.3432, 2013).
    The float weights are restored as parameters on exit (the optimizer keeps updating them).
    """
    _check_bits(weight_bits, potential_bits)
    layers = snn.synaptic_layers()
    for layer in layers:
        parametrize.register_parametrization(layer, "weight", _FakeQuantWeight(layer, weight_bits, steps_per_window, potential_bits),
                                             unsafe=True)
    for layer in layers:  # after the weights: the bias format reads the original weight
        parametrize.register_parametrization(layer, "bias", _FakeQuantBias(layer, weight_bits, steps_per_window, potential_bits),
                                             unsafe=True)
    try:
        yield snn
    finally:
        for layer in layers:
            parametrize.remove_parametrizations(layer, "bias", leave_parametrized=False)
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
