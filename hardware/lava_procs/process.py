"""Lava Processes of a streamed TTFS network (models: ``models.py`` floating point, ``models_fixed.py`` fixed point).

Samples are streamed back to back, one *sample period* of ``period`` time steps each; within a period
``samples_per_run`` samples run side by side, stacked along the last (channel/feature) axis of every
port, so a per-sample shape ``(..., C)`` becomes the port shape ``(..., samples_per_run * C)``.
Every process resets itself at the start of each period and records only the ``n_samples`` real
samples (the last period may be padded). Shapes are in Lava's ``(W, H, C)`` order.

As in Lava's own Processes (e.g. ``lava.proc.lif.process.LIF``), a Process holds only its ports, its
Vars and keyword-only, typed arguments, which it validates; the arithmetic lives in the ProcessModels,
one per precision, chosen by tag: ``floating_pt`` (float64) and ``fixed_pt`` (integers of
``potential_bits``, saturating).
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var


def port_shape(sample_shape: tuple[int, ...], samples_per_run: int) -> tuple[int, ...]:
    """Shape of a port carrying ``samples_per_run`` samples of ``sample_shape`` side by side."""
    return (*sample_shape[:-1], samples_per_run * sample_shape[-1])


def _integer(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _shape(name: str, value, dims: tuple[int, ...] = (1, 2, 3)) -> tuple[int, ...]:
    shape = tuple(_integer(f"{name}[{i}]", n, 1) for i, n in enumerate(value))
    if len(shape) not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got {value!r}")
    return shape


class _StreamProcess(AbstractProcess):
    """Validates and stores the stream parameters every TTFS Process shares (see the module docstring)."""

    def __init__(self, *, sample_shape: ty.Tuple[int, ...], period: int, samples_per_run: int, n_samples: int,
                 name: ty.Optional[str], log_config: ty.Optional[LogConfig], **kwargs) -> None:
        sample_shape = _shape("sample_shape", sample_shape)
        super().__init__(sample_shape=sample_shape, period=_integer("period", period, 1),
                         samples_per_run=_integer("samples_per_run", samples_per_run, 1),
                         n_samples=_integer("n_samples", n_samples, 1), name=name, log_config=log_config, **kwargs)
        self.sample_shape = sample_shape
        self.port_shape = port_shape(sample_shape, samples_per_run)
        self.periods = -(-n_samples // samples_per_run)


def _spiking(process: _StreamProcess) -> None:
    """Ports and Vars of a spiking population: ``s_out``, the per-neuron ``spike_count`` (summed over the real
    samples) and ``fired_at``, each real sample's local spike step per neuron (``-1``: no spike)."""
    process.s_out = OutPort(shape=process.port_shape)
    process.spike_count = Var(shape=process.sample_shape, init=0)
    process.fired_at = Var(shape=(process.proc_params["n_samples"], *process.sample_shape), init=-1)


def _integrating(process: _StreamProcess, bias: np.ndarray, ramp: int) -> None:
    """Ports and Vars of a TTFS integrator: ``a_in``, ``bias``, ``ramp``, ``v``, ``current`` and the update counters."""
    process.a_in = InPort(shape=process.port_shape)
    process.bias = Var(shape=bias.shape, init=bias)
    process.ramp = Var(shape=(1,), init=ramp)
    process.v = Var(shape=process.port_shape, init=0)
    process.current = Var(shape=process.port_shape, init=0)
    process.updates_active = Var(shape=process.sample_shape, init=0)
    process.updates_inactive = Var(shape=process.sample_shape, init=0)


def _check_window(window_start: int, steps_per_window: int, ramp: int, potential_bits: int, period: int,
                  spiking: bool) -> tuple[int, int, int, int]:
    window_start = _integer("window_start", window_start, 0)
    steps_per_window = _integer("steps_per_window", steps_per_window, 1)
    ramp = _integer("ramp", ramp, 1)
    potential_bits = _integer("potential_bits", potential_bits, 2)
    last = window_start + (steps_per_window if spiking else 1)
    if last > period:
        raise ValueError(f"the window [{window_start}, {last}) does not fit in a sample period of {period} steps")
    if steps_per_window * ramp >= 1 << (potential_bits - 1):
        raise ValueError(f"threshold steps_per_window * ramp = {steps_per_window * ramp} does not fit in "
                         f"potential_bits = {potential_bits} (signed)")
    return window_start, steps_per_window, ramp, potential_bits


def _check_bias(bias: np.ndarray) -> np.ndarray:
    bias = np.asarray(bias)
    if bias.ndim not in (1, 3) or not bias.size or not np.isfinite(bias).all():
        raise ValueError(f"bias must be a finite (W, H, C) or (n,) array, got shape {bias.shape}")
    return bias


class TTFSSource(_StreamProcess):
    """Input spike source: sample slot ``k`` of period ``p`` fires once, at local step ``spike_steps[p, ...]``.

    Local steps count from 0 at the start of each period (input window 0 = local steps ``0 .. S-1``).

    Parameters
    ----------
    spike_steps : numpy.ndarray
        Integer array ``(periods, *port_shape)``, ``periods = ceil(n_samples / samples_per_run)``;
        ``-1`` means no spike.
    sample_shape : tuple(int)
        Per-sample shape of the population, ``(W, H, C)`` or ``(n,)``.
    period : int
        Time steps per sample period.
    samples_per_run : int
        Samples side by side in one period.
    n_samples : int
        Real samples streamed (the last period may be padded).

    Example
    -------
    >>> source = TTFSSource(spike_steps=np.array([[3, -1]]), sample_shape=(2,), period=10, samples_per_run=1, n_samples=1)
    Neuron 0 fires at local step 3, neuron 1 never.
    """

    def __init__(self, *, spike_steps: np.ndarray, sample_shape: ty.Tuple[int, ...], period: int,
                 samples_per_run: int, n_samples: int, name: ty.Optional[str] = None,
                 log_config: ty.Optional[LogConfig] = None) -> None:
        super().__init__(sample_shape=sample_shape, period=period, samples_per_run=samples_per_run,
                         n_samples=n_samples, name=name, log_config=log_config)
        spike_steps = np.asarray(spike_steps)
        if spike_steps.shape != (self.periods, *self.port_shape):
            raise ValueError(f"spike_steps must have shape {(self.periods, *self.port_shape)} "
                             f"(periods, *port_shape), got {spike_steps.shape}")
        if spike_steps.dtype.kind not in "iu" or spike_steps.min(initial=-1) < -1 or spike_steps.max(initial=-1) >= period:
            raise ValueError(f"spike_steps must be integers in [-1, {period - 1}] (-1: no spike)")
        _spiking(self)
        self.spike_steps = Var(shape=spike_steps.shape, init=spike_steps)


class TTFSNeuron(_StreamProcess):
    """Fire-once TTFS neuron (Stanojevic et al., Nat. Commun. 15:6793, 2024).

    Dynamics, in potential units (``R = ramp`` units per time step, threshold ``T = S R``): input
    currents accumulate in ``current`` (``current += a_in``) and ``v += current`` every step before
    ``window_start``; at ``window_start`` the bias is added (``v += bias``); in the window
    (``window_start .. window_start + S - 1``) the potential ramps by ``R`` per step and the neuron
    fires at the first step ``m`` with ``v + m R >= S R``, at most once per sample. With ``v`` in units
    of ``1 / R`` step this is ``V + b + m dt >= 1``. ``floating_pt``: float64, ``R = 1``, ``bias = S b'``.
    ``fixed_pt``: integers; every addition saturates at ``potential_bits`` (signed).

    Parameters
    ----------
    bias : numpy.ndarray
        Per-neuron bias in potential units, shape ``(W, H, C)`` or ``(n,)`` (the per-sample shape).
    window_start : int
        Local step at which the neuron's window starts.
    steps_per_window : int
        Time steps ``S`` per window.
    period, samples_per_run, n_samples : int
        Stream parameters (see :class:`TTFSSource`).
    ramp : int, optional
        Potential units per time step ``R`` (default 1).
    potential_bits : int, optional
        Signed width of ``current`` and ``v`` in ``fixed_pt`` (default 24, Loihi's membrane voltage);
        ``S R`` must fit in it.

    Example
    -------
    >>> neuron = TTFSNeuron(bias=np.zeros(4), window_start=9, steps_per_window=8, period=20, samples_per_run=1,
    ...                     n_samples=1)
    """

    def __init__(self, *, bias: np.ndarray, window_start: int, steps_per_window: int, period: int,
                 samples_per_run: int, n_samples: int, ramp: int = 1, potential_bits: int = 24,
                 name: ty.Optional[str] = None, log_config: ty.Optional[LogConfig] = None) -> None:
        bias = _check_bias(bias)
        window_start, steps_per_window, ramp, potential_bits = _check_window(
            window_start, steps_per_window, ramp, potential_bits, period, spiking=True)
        super().__init__(sample_shape=bias.shape, period=period, samples_per_run=samples_per_run, n_samples=n_samples,
                         name=name, log_config=log_config, window_start=window_start,
                         steps_per_window=steps_per_window, potential_bits=potential_bits)
        _spiking(self)
        _integrating(self, bias, ramp)
        self.fired = Var(shape=self.port_shape, init=0)


class TTFSReadout(_StreamProcess):
    """Non-spiking readout: integrates like :class:`TTFSNeuron`, and at ``window_start`` records ``v + bias``.

    ``readouts`` holds one row per real sample: ``floating_pt`` stores the logits ``(v + bias) / (S R)``
    (the float network's ``V(t_min) = W x + b``), ``fixed_pt`` the integer ``sat(v + bias)``.

    Parameters
    ----------
    bias : numpy.ndarray
        Per-output bias in potential units, shape ``(n,)``.
    window_start, steps_per_window, period, samples_per_run, n_samples, ramp, potential_bits
        As in :class:`TTFSNeuron` (the readout only needs ``window_start`` inside the period).

    Example
    -------
    >>> readout = TTFSReadout(bias=np.zeros(7), window_start=40, steps_per_window=8, period=41, samples_per_run=1,
    ...                       n_samples=1)
    """

    def __init__(self, *, bias: np.ndarray, window_start: int, steps_per_window: int, period: int,
                 samples_per_run: int, n_samples: int, ramp: int = 1, potential_bits: int = 24,
                 name: ty.Optional[str] = None, log_config: ty.Optional[LogConfig] = None) -> None:
        bias = _check_bias(bias)
        window_start, steps_per_window, ramp, potential_bits = _check_window(
            window_start, steps_per_window, ramp, potential_bits, period, spiking=False)
        super().__init__(sample_shape=bias.shape, period=period, samples_per_run=samples_per_run, n_samples=n_samples,
                         name=name, log_config=log_config, window_start=window_start,
                         steps_per_window=steps_per_window, potential_bits=potential_bits)
        _integrating(self, bias, ramp)
        self.readouts = Var(shape=(n_samples, *self.sample_shape), init=0)


class TTFSMaxPool(_StreamProcess):
    """Max-pooling of TTFS spikes = the earliest spike of each pooling region, without delay.

    A unit fires in the step its first input spike arrives, at most once per sample.

    Parameters
    ----------
    in_shape : tuple(int, int, int)
        Per-sample input shape ``(W, H, C)``.
    kernel_size, stride, padding : tuple(int, int)
        ``(x, y)`` pairs, as ``torch.nn.MaxPool2d`` (padding at most half the kernel).
    period, samples_per_run, n_samples : int
        Stream parameters (see :class:`TTFSSource`).

    Example
    -------
    >>> pool = TTFSMaxPool(in_shape=(8, 8, 4), kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), period=20,
    ...                    samples_per_run=1, n_samples=1)
    """

    def __init__(self, *, in_shape: ty.Tuple[int, int, int], kernel_size: ty.Tuple[int, int],
                 stride: ty.Tuple[int, int], padding: ty.Tuple[int, int], period: int, samples_per_run: int,
                 n_samples: int, name: ty.Optional[str] = None, log_config: ty.Optional[LogConfig] = None) -> None:
        in_shape = _shape("in_shape", in_shape, (3,))
        kernel_size, stride = _shape("kernel_size", kernel_size, (2,)), _shape("stride", stride, (2,))
        padding = tuple(_integer(f"padding[{i}]", p, 0) for i, p in enumerate(padding))
        if len(padding) != 2 or any(2 * p > k for p, k in zip(padding, kernel_size)):
            raise ValueError(f"padding must be an (x, y) pair of at most half the kernel {kernel_size}, got {padding!r}")
        out = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(in_shape[:2], kernel_size, stride, padding))
        if min(out) < 1:
            raise ValueError(f"kernel {kernel_size} with padding {padding} does not fit the input {in_shape}")
        super().__init__(sample_shape=(*out, in_shape[2]), period=period, samples_per_run=samples_per_run,
                         n_samples=n_samples, name=name, log_config=log_config, in_shape=in_shape,
                         kernel_size=kernel_size, stride=stride, padding=padding)
        _spiking(self)
        self.s_in = InPort(shape=port_shape(in_shape, samples_per_run))
        self.fired = Var(shape=self.port_shape, init=0)
