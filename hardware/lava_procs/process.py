"""Lava Processes of a streamed TTFS network (models in ``models.py``).

Samples are streamed back to back, one *sample period* of ``period`` time steps each; within a period
``samples_per_run`` samples run side by side, stacked along the last (channel/feature) axis of every
port, so a per-sample shape ``(..., C)`` becomes the port shape ``(..., samples_per_run * C)``.
Every process resets itself at the start of each period and records only the ``n_samples`` real
samples (the last period may be padded). Shapes are in Lava's ``(W, H, C)`` order.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


def port_shape(sample_shape: tuple[int, ...], samples_per_run: int) -> tuple[int, ...]:
    """Shape of a port carrying ``samples_per_run`` samples of ``sample_shape`` side by side."""
    return (*sample_shape[:-1], samples_per_run * sample_shape[-1])


class _StreamProcess(AbstractProcess):
    """Common parameters: per-sample shape, sample period (steps), samples per period, real samples."""

    def __init__(self, *, sample_shape, period: int, samples_per_run: int, n_samples: int, **params):
        sample_shape = tuple(int(n) for n in sample_shape)
        super().__init__(sample_shape=sample_shape, period=int(period), samples_per_run=int(samples_per_run),
                         n_samples=int(n_samples), **params)
        self.sample_shape = sample_shape
        self.port_shape = port_shape(sample_shape, samples_per_run)


class _SpikingProcess(_StreamProcess):
    """A population that sends spikes on ``s_out`` and counts them per neuron in ``spike_count``."""

    def __init__(self, *, sample_shape, **params):
        super().__init__(sample_shape=sample_shape, **params)
        self.s_out = OutPort(shape=self.port_shape)
        self.spike_count = Var(shape=self.sample_shape, init=0)


class TTFSSource(_SpikingProcess):
    """Input spike source: sample slot ``k`` of period ``p`` fires at local step ``spike_steps[p, ...]``.

    ``spike_steps`` has shape ``(periods, *port_shape)``; ``-1`` means no spike. Local steps count
    from 0 at the start of each period (input window 0 = local steps ``0 .. S-1``).
    """

    def __init__(self, *, spike_steps: np.ndarray, sample_shape, **params):
        super().__init__(sample_shape=sample_shape, **params)
        self.spike_steps = Var(shape=spike_steps.shape, init=spike_steps)


class _IntegratingProcess(_StreamProcess):
    """TTFS integrator: step currents ``a_in`` accumulate in ``current``; ``v`` sums ``current`` each step.

    ``v`` is the potential in units of one step (``v = S V``): an input spike at local step ``m`` with
    weight ``w`` adds ``w (window_start - m)`` by ``window_start``, i.e. ``S w x`` for the value
    ``x = (S - m') / S`` of a spike at step ``m'`` of the previous window (Stanojevic et al. 2024).

    ``updates_active`` / ``updates_inactive`` count, per neuron over all real samples, the steps in
    which the model's update was active (it received input or changed state: accumulating a non-zero
    current, ramping towards its threshold until it fires, reading out) or inactive (docs/ARCHITECTURE.md,
    "Hardware").
    """

    def __init__(self, *, bias: np.ndarray, window_start: int, steps_per_window: int, **params):
        super().__init__(sample_shape=bias.shape, bias=bias, window_start=int(window_start),
                         steps_per_window=int(steps_per_window), **params)
        self.a_in = InPort(shape=self.port_shape)
        self.bias = Var(shape=bias.shape, init=bias)
        self.v = Var(shape=self.port_shape, init=0)
        self.current = Var(shape=self.port_shape, init=0)
        self.updates_active = Var(shape=self.sample_shape, init=0)
        self.updates_inactive = Var(shape=self.sample_shape, init=0)


class TTFSNeuron(_IntegratingProcess, _SpikingProcess):
    """Fire-once TTFS neuron (Stanojevic et al., Nat. Commun. 15:6793, 2024), floating point.

    Integrates until ``window_start`` (local step), then ramps by one step per step and fires at the
    first step ``m`` of its window with ``v + S b + m >= S`` (``V + b + m dt >= 1``), at most once.
    """

    def __init__(self, **params):
        super().__init__(**params)
        self.fired = Var(shape=self.port_shape, init=0)


class TTFSReadout(_IntegratingProcess):
    """Non-spiking readout: at ``window_start`` it stores ``V + b = v / S + b`` of each sample in ``readouts``."""

    def __init__(self, **params):
        super().__init__(**params)
        self.readouts = Var(shape=(params["n_samples"], *self.sample_shape), init=0)


class TTFSMaxPool(_SpikingProcess):
    """Max-pooling of TTFS spikes = the earliest spike of each pooling region, without delay.

    ``in_shape`` is the per-sample input ``(W, H, C)``; ``kernel_size``, ``stride``, ``padding`` are
    ``(x, y)`` pairs. A unit fires in the step its first input spike arrives, at most once per sample.
    """

    def __init__(self, *, in_shape, kernel_size, stride, padding, **params):
        out = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(in_shape[:2], kernel_size, stride, padding))
        super().__init__(sample_shape=(*out, in_shape[2]), in_shape=tuple(in_shape), kernel_size=tuple(kernel_size),
                         stride=tuple(stride), padding=tuple(padding), **params)
        self.s_in = InPort(shape=port_shape(in_shape, params["samples_per_run"]))
        self.fired = Var(shape=self.port_shape, init=0)
