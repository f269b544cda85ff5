"""Export a TTFS network to a lava-nc process graph and run it on Lava's CPU simulator (docs/ARCHITECTURE.md, "Hardware").

Mapping (per-sample shapes; Lava's layout is ``(W, H, C)``, torch's ``(C, H, W)``):

* input -> :class:`TTFSSource`, firing each input spike of ``snn.run(x, S)`` at its integer step;
* conv -> Lava ``Conv`` (a true convolution: torch ``(O, I, kH, kW)`` becomes ``(O, kW, kH, I)``
  flipped in both spatial axes; stride/padding as ``(x, y)``) + :class:`TTFSNeuron`;
* linear / readout -> Lava ``Dense`` (columns permuted from torch's flatten order to Lava's
  ``(W, H, C)`` order after a conv stage) + :class:`TTFSNeuron` / :class:`TTFSReadout`;
* max-pool -> :class:`TTFSMaxPool` (earliest spike, no delay); flatten -> a reshape of the port.

Every Dense/Conv delays spikes by one step, so a layer of window ``n`` reached through ``D``
Dense/Conv hops starts its window at local step ``n S + D`` and the readout is read at
``num_windows S + D``; one sample period is that step + 1. Several samples run side by side, stacked
along the channel/feature axis (block-diagonal Dense weights, grouped Conv); samples stream back to back
in one compiled graph.

Fixed point (``fixed_point=True``, a :class:`~tnas_plugin.ttfs.QuantizedTTFSNetwork` from
:func:`tnas_plugin.ttfs.quantize`): the same graph with the integer weights, biases and ramps, run with
the ``fixed_pt`` ProcessModels: Lava's ``PyDenseModelBitAcc`` (weights given in Loihi's 8-bit format
with their ``num_weight_bits`` and sign mode, so its clipping and truncation keep them; ``weight_exp``
0: the layer scale is in the neuron's ramp and threshold), Lava's ``PyConvModelFixed`` (24-bit
saturating output, computed every step) and the TTFS models of ``lava_procs/models_fixed.py``.
Readouts are then integers, equal to the PyTorch integer model's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tnas_plugin.ttfs import LayerKind, QuantizedTTFSNetwork

from .lava_procs import (Conv, Dense, Loihi2SimCfg, PyConvModelEventFloat, RunSteps, SignMode, TTFSMaxPool, TTFSNeuron,
                         TTFSReadout, TTFSSource, conv_to_sparse)
from .lava_procs.process import port_shape


def _torch_order(sample_shape: tuple[int, ...], samples_per_run: int) -> np.ndarray:
    """Port indices ``(samples_per_run, n)`` of each sample's neurons, in torch's C-order ``(C, H, W)``/``(n,)``."""
    index = np.arange(int(np.prod(port_shape(sample_shape, samples_per_run))))
    if len(sample_shape) == 3:
        width, height, channels = sample_shape
        return index.reshape(width, height, samples_per_run, channels).transpose(2, 3, 1, 0).reshape(samples_per_run, -1)
    return index.reshape(samples_per_run, -1)


def _to_torch_layout(counts: np.ndarray, torch_shape: tuple[int, ...]) -> np.ndarray:
    """Per-neuron array in Lava's per-sample layout -> torch layout ``torch_shape``."""
    return (counts.transpose(2, 1, 0) if counts.ndim == 3 else counts).reshape(torch_shape)


def run_config(fixed_point: bool = False) -> Loihi2SimCfg:
    """Lava's CPU simulator with the ``fixed_pt`` models, or the ``floating_pt`` ones with the event-driven
    :class:`PyConvModelEventFloat` for ``Conv``."""
    if fixed_point:
        return Loihi2SimCfg(select_tag="fixed_pt")
    return Loihi2SimCfg(select_tag="floating_pt", exception_proc_model_map={Conv: PyConvModelEventFloat})


def _synapse_parameters(layer, steps_per_window: int) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """``(weight, bias, connection options, neuron options)`` of a weighted layer, float or quantised.

    Float: ``W'`` and ``bias = S b'`` (potential units of one step, ramp 1). Quantised: the integer
    weights in Loihi's 8-bit format, the integer bias, ramp and width (:mod:`tnas_plugin.ttfs.quantize`).
    """
    if not hasattr(layer, "ramp_shift"):
        weight = layer.effective_weight().detach().to(torch.float64).cpu().numpy()
        return weight, steps_per_window * layer.effective_bias().detach().to(torch.float64).cpu().numpy(), {}, {}
    fmt = layer.format
    connection = {"weight_exp": 0, "num_weight_bits": fmt.weight_bits}
    if layer.kind != LayerKind.CONV:
        connection["sign_mode"] = SignMode.EXCITATORY if fmt.excitatory else SignMode.MIXED
    neuron = {"ramp": fmt.ramp, "potential_bits": layer.potential_bits}
    return layer.weight.cpu().numpy().astype(np.int32), layer.bias.cpu().numpy().astype(np.int32), connection, neuron


@dataclass
class _Population:
    """Spikes of one entry of ``snn.run``: the process that sends and counts them, in torch's shape."""

    process: object
    torch_shape: tuple[int, ...]
    window: int
    delay: int

    @property
    def port(self):
        return self.process.s_out


@dataclass(frozen=True)
class LavaRun:
    """What a Lava run produced (:meth:`LavaTTFSGraph.run`), per sample unless said otherwise."""

    predictions: np.ndarray  #: class index per sample
    readouts: np.ndarray  #: ``(N, classes)`` readout potentials (integers in fixed point)
    #: aligned with the entries of ``snn.run`` (0: input, ``i + 1``: output of ``snn.layers[i]``): each the spikes
    #: per neuron summed over all samples, in torch's shape
    spike_counts: list[np.ndarray]
    #: per entry, each sample's spike step of every neuron on ``snn.run``'s time axis (``inf``: no spike)
    spike_steps: list[np.ndarray]
    synops: float  #: SynOps from Lava's spikes and the non-zero synapses of the Lava weights
    synops_per_layer: list[float]  #: one per weighted layer, as the layers of ``count_ttfs``'s report
    updates_active: list[float]  #: per weighted layer's neurons, as the ProcessModels tallied them (whole period)
    updates_inactive: list[float]
    num_steps: int  #: Lava time steps run
    period: int  #: Lava time steps of one sample period


@dataclass(frozen=True)
class LavaComparison:
    """Lava's run against the PyTorch discrete (or integer) model on the same inputs (:func:`compare_with_torch`)."""

    samples: int
    agreement: float  #: fraction of equal predictions
    max_readout_difference: float
    spike_step_agreement: float  #: fraction of samples whose every spike step, input included, is equal


@dataclass
class LavaTTFSGraph:
    """A Lava process graph that streams ``n_samples`` samples; :meth:`run` compiles it once and runs every sample."""

    source: TTFSSource
    readout: TTFSReadout
    processes: list
    populations: list[_Population]
    synapses: list[tuple[_Population, np.ndarray]]  #: per weighted layer: input population, fan-out (Lava layout)
    steps_per_window: int
    period: int
    samples_per_run: int
    n_samples: int
    wiring: list[str]  #: one line per process: what it implements, its shape and delay
    fixed_point: bool = False  #: run with the ``fixed_pt`` ProcessModels

    @property
    def num_steps(self) -> int:
        """Lava time steps to stream every sample."""
        return -(-self.n_samples // self.samples_per_run) * self.period

    def run(self) -> LavaRun:
        """Run on ``Loihi2SimCfg`` (:func:`run_config`); returns predictions, readouts and Lava's spikes."""
        self.readout.run(condition=RunSteps(num_steps=self.num_steps), run_cfg=run_config(self.fixed_point))
        neurons = [p for p in self.processes if isinstance(p, (TTFSNeuron, TTFSReadout))]
        try:
            readouts = self.readout.readouts.get()
            readouts = readouts.astype(np.int64) if self.fixed_point else readouts
            lava_counts = {id(p.process): p.process.spike_count.get() for p in self.populations}
            lava_steps = {id(p.process): p.process.fired_at.get() for p in self.populations}
            updates = [(p.updates_active.get().sum() / self.n_samples, p.updates_inactive.get().sum() / self.n_samples)
                       for p in neurons]
        finally:
            self.readout.stop()
        synops = [float((lava_counts[id(p.process)] * fan_out).sum()) / self.n_samples for p, fan_out in self.synapses]
        return LavaRun(
            predictions=readouts.argmax(axis=1), readouts=readouts,
            spike_counts=[_to_torch_layout(lava_counts[id(p.process)], p.torch_shape) for p in self.populations],
            spike_steps=[_spike_steps(lava_steps[id(p.process)], p) for p in self.populations],
            synops=sum(synops), synops_per_layer=synops, updates_active=[active for active, _ in updates],
            updates_inactive=[inactive for _, inactive in updates], num_steps=self.num_steps, period=self.period)


def _spike_steps(recorded: np.ndarray, population: _Population) -> np.ndarray:
    """Lava's recorded local spike steps ``(n_samples, *sample_shape)`` -> ``snn.run``'s steps in torch layout."""
    steps = recorded.astype(np.float64) - population.delay
    steps[recorded < 0] = np.inf
    if steps.ndim == 4:
        steps = steps.transpose(0, 3, 2, 1)
    return steps.reshape(len(recorded), *population.torch_shape)


class _Builder:
    """Walks ``snn.layers`` and wires the Lava processes (see the module docstring)."""

    def __init__(self, steps_per_window: int, samples_per_run: int, n_samples: int, period: int):
        self.steps = steps_per_window
        self.samples_per_run = samples_per_run
        self.common = {"period": period, "samples_per_run": samples_per_run, "n_samples": n_samples}
        self.processes, self.synapses, self.wiring = [], [], []

    def add(self, process, description: str):
        self.processes.append(process)
        self.wiring.append(description)
        return process

    def source(self, input_spikes: torch.Tensor) -> _Population:
        torch_shape = tuple(input_spikes.shape[1:])
        sample_shape = (torch_shape[2], torch_shape[1], torch_shape[0]) if len(torch_shape) == 3 else torch_shape
        steps = torch.where(torch.isfinite(input_spikes), input_spikes, torch.full_like(input_spikes, -1))
        steps = steps.flatten(1).to(torch.int64).numpy()
        periods = -(-len(steps) // self.samples_per_run)
        order = _torch_order(sample_shape, self.samples_per_run)
        spike_steps = np.full((periods, order.size), -1, dtype=np.int64)
        for sample, row in enumerate(steps):
            spike_steps[sample // self.samples_per_run, order[sample % self.samples_per_run]] = row
        spike_steps = spike_steps.reshape(periods, *port_shape(sample_shape, self.samples_per_run))
        process = TTFSSource(spike_steps=spike_steps, sample_shape=sample_shape, **self.common)
        return _Population(self.add(process, f"input {torch_shape}: TTFSSource {sample_shape}"), torch_shape, 0, 0)

    def synaptic(self, index: int, layer, pre: _Population, out_shape: tuple[int, ...]) -> _Population:
        if layer.window != pre.window + 1:
            raise ValueError(f"layer {index} ({layer.kind}) has window {layer.window} "
                             f"but its input spikes are in window {pre.window}")
        weight, bias, options, neuron_options = _synapse_parameters(layer, self.steps)
        sample_in = pre.process.sample_shape
        if layer.kind == LayerKind.CONV:
            connection, sample_out, fan_out = self.conv(weight, layer, pre, sample_in, options)
            bias = np.broadcast_to(bias, sample_out).copy()
        else:
            connection, fan_out = self.dense(weight, pre, sample_in, options)
        self.synapses.append((pre, fan_out))
        delay = pre.delay + 1
        start = layer.window * self.steps + delay
        kind = TTFSReadout if layer.kind == LayerKind.READOUT else TTFSNeuron
        neuron = kind(bias=bias, window_start=start, steps_per_window=self.steps, **neuron_options, **self.common)
        connection.a_out.connect(neuron.a_in)
        self.add(neuron, f"layer {index} ({layer.kind}, window {layer.window}): {kind.__name__} {neuron.sample_shape}, "
                         f"window starts at local step {start}")
        return _Population(neuron, out_shape, layer.window, delay)

    def conv(self, weight: np.ndarray, layer, pre: _Population, sample_in, options: dict):
        lava_weight = weight.transpose(0, 3, 2, 1)[:, ::-1, ::-1, :].copy()
        stride, padding = layer.stride[::-1], layer.padding[::-1]
        conv = Conv(weight=np.concatenate([lava_weight] * self.samples_per_run, axis=0), input_shape=pre.port.shape,
                    stride=stride, padding=padding, groups=self.samples_per_run, **options)
        pre.port.connect(conv.s_in)
        sample_out = (*conv.output_shape[:2], weight.shape[0])
        _, sources, values = conv_to_sparse(sample_in, sample_out, lava_weight, stride, padding, (1, 1), 1)
        fan_out = np.bincount(sources[values != 0], minlength=int(np.prod(sample_in))).reshape(sample_in)
        self.add(conv, f"Conv {lava_weight.shape} (O, kW, kH, I), stride {stride}, padding {padding}, "
                       f"groups {self.samples_per_run}: +1 step")
        return conv, sample_out, fan_out

    def dense(self, weight: np.ndarray, pre: _Population, sample_in, options: dict):
        per_sample = np.zeros((weight.shape[0], int(np.prod(sample_in))), dtype=weight.dtype)
        per_sample[:, _torch_order(sample_in, 1)[0]] = weight
        order = _torch_order(sample_in, self.samples_per_run)
        blocks = np.zeros((self.samples_per_run * weight.shape[0], order.size), dtype=weight.dtype)
        for sample, columns in enumerate(order):
            blocks[sample * weight.shape[0]:(sample + 1) * weight.shape[0], columns] = weight
        dense = Dense(weights=blocks, **options)
        (pre.port.flatten() if len(pre.port.shape) > 1 else pre.port).connect(dense.s_in)
        self.add(dense, f"Dense {blocks.shape} (block-diagonal, columns in Lava order of {sample_in}): +1 step")
        return dense, (per_sample != 0).sum(0).reshape(sample_in)

    def maxpool(self, index: int, layer, pre: _Population, out_shape) -> _Population:
        pool = TTFSMaxPool(in_shape=pre.process.sample_shape, kernel_size=layer.kernel_size[::-1], stride=layer.stride[::-1],
                           padding=layer.padding[::-1], **self.common)
        pre.port.connect(pool.s_in)
        self.add(pool, f"layer {index} (maxpool): TTFSMaxPool {pool.sample_shape}, no delay")
        return _Population(pool, out_shape, pre.window, pre.delay)


def export_lava(snn, steps_per_window: int, inputs: torch.Tensor, samples_per_run: int = 1,
                fixed_point: bool = False) -> LavaTTFSGraph:
    """Build the Lava process graph of ``snn`` (discrete time, ``S = steps_per_window``) streaming ``inputs``.

    Parameters
    ----------
    snn
        A :class:`~tnas_plugin.ttfs.TTFSNetwork`, or with ``fixed_point=True`` a
        :class:`~tnas_plugin.ttfs.QuantizedTTFSNetwork` (quantised for ``steps_per_window``).
    steps_per_window
        Time steps per window ``S``.
    inputs
        Frames in [0, 1] (``(N, C, H, W)`` or ``(N, F)``); their input spikes come from
        ``snn.run(inputs, S)`` (entry 0).
    samples_per_run
        Samples side by side in each sample period. The graph is built and compiled once for all
        samples; see :class:`LavaTTFSGraph`.
    fixed_point
        Run with the ``fixed_pt`` ProcessModels (integer arithmetic) instead of ``floating_pt``.

    Example
    -------
    >>> graph = export_lava(quantize(snn, 8, steps_per_window=16), 16, frames, samples_per_run=10, fixed_point=True)
    >>> result = graph.run()      # result["readouts"]: integers, equal to qnet(frames)
    """
    if samples_per_run < 1:
        raise ValueError(f"samples_per_run must be >= 1, got {samples_per_run!r}")
    if fixed_point != isinstance(snn, QuantizedTTFSNetwork):
        raise TypeError("fixed_point=True runs a QuantizedTTFSNetwork (tnas_plugin.ttfs.quantize(snn, ...)); "
                        f"got a {type(snn).__name__} with fixed_point={fixed_point}")
    with torch.no_grad():
        run = snn.run(inputs, steps_per_window)
    shapes = [tuple(mask.shape[1:]) for mask in run.spike_mask] + [tuple(run.logits.shape[1:])]
    hops = sum(layer.kind.has_weights for layer in snn.layers)
    period = snn.num_windows * steps_per_window + hops + 1
    builder = _Builder(steps_per_window, samples_per_run, len(inputs), period)
    populations = [builder.source(run.spike_times[0].cpu())]
    for index, layer in enumerate(snn.layers):
        pre = populations[-1]
        if layer.kind.has_weights:
            post = builder.synaptic(index, layer, pre, shapes[index + 1])
        elif layer.kind == LayerKind.MAXPOOL:
            post = builder.maxpool(index, layer, pre, shapes[index + 1])
        elif layer.kind == LayerKind.FLATTEN:
            post = _Population(pre.process, shapes[index + 1], pre.window, pre.delay)
        else:
            raise ValueError(f"layer {index} has unknown kind {layer.kind!r}")
        if layer.kind != LayerKind.READOUT:
            populations.append(post)
    return LavaTTFSGraph(builder.processes[0], post.process, builder.processes, populations, builder.synapses,
                         steps_per_window, period, samples_per_run, len(inputs), builder.wiring, fixed_point)


def run_lava(snn, inputs: torch.Tensor, steps_per_window: int, samples_per_run: int = 1, fixed_point: bool = False) -> LavaRun:
    """Run ``snn`` on Lava's CPU simulator for ``inputs`` (one compile for all samples); see :meth:`LavaTTFSGraph.run`.

    ``fixed_point=True`` runs a quantised network on the ``fixed_pt`` models (see :func:`export_lava`).

    Parameters
    ----------
    snn
        The TTFS network to run: a :class:`~tnas_plugin.ttfs.TTFSNetwork` (use ``snn.double()``: Lava's
        floating-point models compute in float64) or, with ``fixed_point=True``, a
        :class:`~tnas_plugin.ttfs.QuantizedTTFSNetwork`.
    inputs
        Input frames ``(N, ...)`` with values in [0, 1].
    steps_per_window
        Time steps per TTFS window of the discrete model.
    samples_per_run
        Samples simulated side by side in the graph (stacked along the channel/feature axis); the
        ``inputs`` stream through it back to back in groups of this size.
    fixed_point
        Run the integer network on Lava's ``fixed_pt`` models instead of the floating-point ones.

    Example
    -------
    >>> from torch import nn
    >>> from tnas_plugin.ttfs import ann_to_ttfs
    >>> ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 7)).eval()
    >>> snn = ann_to_ttfs(ann, torch.rand(16, 1, 8, 8)).double()
    >>> inputs = torch.rand(4, 1, 8, 8)
    >>> lava = run_lava(snn, inputs, steps_per_window=16)  # doctest: +SKIP
    >>> lava.predictions.shape  # doctest: +SKIP
    (4,)
    """
    return export_lava(snn, steps_per_window, inputs, samples_per_run, fixed_point).run()


def compare_with_torch(snn, inputs: torch.Tensor, steps_per_window: int, lava: LavaRun) -> LavaComparison:
    """Lava's result (of :func:`run_lava` or :meth:`LavaTTFSGraph.run`) vs the PyTorch discrete model on ``inputs``.

    Compare like with like: Lava's floating-point models compute in float64, so pass ``snn.double()``;
    a quantised network's readouts are integers and agree exactly (difference 0).

    Parameters
    ----------
    snn
        The network Lava ran (the same object passed to :func:`run_lava`), run here by PyTorch.
    inputs
        The input frames Lava ran on, in the same order.
    steps_per_window
        Time steps per TTFS window; the one Lava ran with.
    lava
        The result of :func:`run_lava` or :meth:`LavaTTFSGraph.run` (its ``predictions``, ``readouts`` and
        ``spike_steps`` are read).

    Example
    -------
    With ``snn``, ``inputs`` and ``lava`` of :func:`run_lava`'s example:

    >>> compare_with_torch(snn, inputs, 16, lava).agreement  # doctest: +SKIP
    1.0
    """
    with torch.no_grad():
        run = snn.run(inputs, steps_per_window)
    logits = run.logits.cpu().numpy()
    same_steps = np.ones(len(inputs), dtype=bool)
    for lava_steps, torch_steps in zip(lava.spike_steps, run.spike_times):
        same_steps &= (lava_steps == torch_steps.cpu().numpy()).reshape(len(inputs), -1).all(1)
    return LavaComparison(samples=len(inputs), agreement=float((lava.predictions == logits.argmax(1)).mean()),
                          max_readout_difference=float(np.abs(lava.readouts - logits).max()),
                          spike_step_agreement=float(same_steps.mean()))
