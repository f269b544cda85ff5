"""Reference networks measured next to the searched ones: same run, same data, same epochs, same validation protocol.

* :data:`HANDCRAFTED_TTFS` -- a hand-designed TTFS CNN (fixed architecture, same trainer as the search).
* :class:`SEENStyleLIF` -- a LIF CNN in the style of SEEN (Zhang et al., SIGGRAPH 2023): the candidate's
  conv stages with batch norm driving snntorch ``Leaky`` neurons, the clip's event frames presented one
  after another as input currents (direct input), trained directly with BPTT and surrogate gradients
  (Neftci et al., IEEE Signal Process. Mag. 36(6), 2019).
* :func:`rate_twin` -- the rate-coded twin of a TTFS network: the same normalised weights driving
  integrate-and-fire neurons (``beta = 1``, threshold 1, reset by subtraction) fed with Bernoulli spike
  trains of the frames for ``T`` steps, so a firing rate encodes the value a TTFS spike time encodes
  (Rueckauer et al., Front. Neurosci. 11:682, 2017).
* The ANN twin -- the TTFS network in continuous time is the clipped-ReLU ANN (Stanojevic et al., Nat.
  Commun. 15:6793, 2024); it costs :meth:`~tnas_plugin.hardware.CostReport.ann_twin`'s MACs.

Each time-stepped network counts its own synaptic events, spikes and active/inactive neuron updates
(:class:`tnas_plugin.hardware.SteppedCounter`) into the same :class:`~tnas_plugin.hardware.CostReport`
the TTFS networks produce, so one energy model prices all of them.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import snntorch
import torch
import torch.nn.functional as F
from snntorch import spikegen, surrogate
from torch import nn
from torch.utils.data import DataLoader, Subset

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.hardware import CostReport, SteppedCounter, ann_macs, cost_metrics, count_ttfs, estimate_energy
from tnas_plugin.metrics import recognition_report
from tnas_plugin.trainer import DivergedError, EpochRecord, TrainCallbacks, predict, seed_everything
from tnas_plugin.ttfs import LayerKind

HANDCRAFTED_TTFS = CandidateSpec(
    modality="both", frames=4, steps_per_window=16, resolution=32,
    stages=(StageSpec(8, 3, "max"), StageSpec(16, 3, "max")), classifier_width=64, num_classes=7,
)

#: Time steps of the rate twin in ``tnas-er search``: the smallest T of {8, ..., 256} at which the rate twin
#: reaches 95 % of the TTFS network's validation accuracy in every seed of ``benchmarks/bench_baselines.py``,
#: the largest where a seed reaches it at none (figures in benchmarks/README.md).
RATE_TWIN_STEPS = 256


class _Block(nn.Module):
    """One weighted layer of a time-stepped network: synapses (+ batch norm), neurons (``None``: readout), then
    re-routing ops (pooling, flatten) applied to its spikes."""

    def __init__(self, synapse: nn.Module, norm: nn.Module | None, neuron: nn.Module | None, after: Sequence[nn.Module]):
        super().__init__()
        self.synapse, self.norm, self.neuron, self.after = synapse, norm, neuron, nn.Sequential(*after)

    def current(self, spikes: torch.Tensor) -> torch.Tensor:
        current = self.synapse(spikes)
        return current if self.norm is None else self.norm(current)

    def geometry(self) -> dict:
        conv = isinstance(self.synapse, nn.Conv2d)
        return {"stride": self.synapse.stride, "padding": self.synapse.padding} if conv else {}


class SteppedNetwork(nn.Module):
    """A network of :class:`_Block` run for ``steps`` time steps; the logits are the readout's current averaged over the steps.

    ``encode(x)`` yields the input of each step (spikes or currents). :meth:`forward` optionally
    counts every step into a :class:`~tnas_plugin.hardware.SteppedCounter`.
    """

    def __init__(self, blocks: Sequence[_Block], steps: int, encode: Callable[[torch.Tensor], Iterator[torch.Tensor]]):
        super().__init__()
        self.blocks, self.steps, self.encode = nn.ModuleList(blocks), steps, encode

    def forward(self, x: torch.Tensor, counter: SteppedCounter | None = None) -> torch.Tensor:
        for module in self.modules():
            if isinstance(module, GatedMaxPool):
                module.reset()
        membranes: list[torch.Tensor | None] = [None] * len(self.blocks)
        for h in self.encode(x):
            for k, block in enumerate(self.blocks):
                current = block.current(h)
                before = membranes[k] if membranes[k] is not None else torch.zeros_like(current)
                if block.neuron is None:
                    spikes, after = None, before + current
                else:
                    spikes, after = block.neuron(current, before)
                membranes[k] = after
                if counter is not None:
                    kind = str(LayerKind.READOUT if spikes is None else _kind(block.synapse))
                    weight = block.synapse.weight
                    counter.step(f"{k}:{kind}", kind, h, weight, current, before, after, spikes, block.geometry(),
                                 ann_macs(weight, tuple(h.shape[1:]), **block.geometry()))
                if spikes is not None:
                    h = block.after(spikes)
        return membranes[-1] / self.steps  # the readout integrates its current: its mean over the steps


class GatedMaxPool(nn.Module):
    """Max pooling of rate-coded spikes: each window passes the spikes of its input neuron that has fired most so far.

    ORing the spikes of a window (plain max pooling of 0/1 maps) fires at nearly every step once several inputs
    fire; gating by the running spike counts passes the maximum rate instead (Rueckauer et al. 2017, Sec. 2.2.3).
    """

    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.counts: torch.Tensor | None = None

    def reset(self) -> None:
        self.counts = None

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        self.counts = spikes if self.counts is None else self.counts + spikes
        _, index = F.max_pool2d(self.counts, self.kernel_size, self.stride, self.padding, return_indices=True)
        return spikes.flatten(2).gather(2, index.flatten(2)).view_as(index)


def _kind(synapse: nn.Module) -> LayerKind:
    return LayerKind.CONV if isinstance(synapse, nn.Conv2d) else LayerKind.LINEAR


def _neuron(beta: float, threshold: float, slope: float = 2.0) -> snntorch.Leaky:
    """LIF (IF for ``beta = 1``) neurons, reset by subtraction; arctan surrogate gradient of width ``1 / slope``."""
    return snntorch.Leaky(beta=beta, threshold=threshold, reset_mechanism="subtract", spike_grad=surrogate.atan(slope))


def rate_twin(snn, steps: int) -> SteppedNetwork:
    """Rate-coded integrate-and-fire twin of the TTFS network ``snn`` (same layers, same normalised weights).

    A TTFS layer maps values in [0, 1] to spike times; here the same weights map firing rates in [0, 1]
    (spikes per step) through IF neurons with threshold 1, which fire at rate ``clip(W' r + b', 0, 1)``
    (Rueckauer et al. 2017). Max pooling passes the most active input's spikes (:class:`GatedMaxPool`);
    average pooling is a fixed-weight conv of IF neurons, as in the TTFS network. The input is a
    Bernoulli spike train of the frames.
    """
    blocks, pending = [], None
    for layer in snn.layers:
        if layer.kind.has_weights:
            if pending is not None:
                blocks.append(_Block(*pending))
            weight = layer.effective_weight().detach().clone()
            if layer.kind == LayerKind.CONV:
                synapse = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), layer.stride, layer.padding)
            else:
                synapse = nn.Linear(weight.shape[1], weight.shape[0])
            with torch.no_grad():
                synapse.weight.copy_(weight)
                synapse.bias.copy_(layer.effective_bias().detach())
            neuron = None if layer.kind == LayerKind.READOUT else _neuron(beta=1.0, threshold=1.0)
            pending = (synapse, None, neuron, [])
        elif layer.kind == LayerKind.MAXPOOL:
            pending[3].append(GatedMaxPool(layer.kernel_size, layer.stride, layer.padding))
        else:
            pending[3].append(nn.Flatten())
    blocks.append(_Block(*pending))
    return SteppedNetwork(blocks, steps, lambda x: iter(spikegen.rate(x.clamp(0, 1), num_steps=steps))).eval()


class SEENStyleLIF(SteppedNetwork):
    """LIF CNN with the layers of ``build_ann(spec)`` for one frame, each ReLU replaced by LIF neurons.

    Network inputs are the candidate's ``(T*C, H, W)`` clips; frame ``t`` is presented for
    ``steps_per_frame`` steps as the input current of the first layer (direct input: the event frames'
    values reach the network unchanged). LIF: ``U <- beta U + I``, spike and subtract ``threshold`` at
    ``U >= threshold``; batch norm after every conv keeps the currents on the threshold's scale.
    """

    def __init__(self, spec: CandidateSpec, steps_per_frame: int = 2, beta: float = 0.9, threshold: float = 1.0,
                 surrogate_slope: float = 2.0):
        one_frame = build_ann(CandidateSpec.from_dict({**spec.to_dict(), "frames": 1}))
        blocks, pending = [], None
        for module in one_frame:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                if pending is not None:
                    blocks.append(_Block(*pending))
                pending = [module, None, None, []]
            elif isinstance(module, nn.BatchNorm2d):
                pending[1] = module
            elif isinstance(module, nn.ReLU):
                if pending[1] is None:  # the hidden Linear: normalise its current too, or it stays far below threshold
                    pending[1] = nn.BatchNorm1d(pending[0].out_features)
                pending[2] = _neuron(beta, threshold, surrogate_slope)
            else:
                pending[3].append(module)
        blocks.append(_Block(*pending))
        self.frames = spec.frames
        super().__init__(blocks, spec.frames * steps_per_frame, self._present)
        self.steps_per_frame = steps_per_frame

    def _present(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        for frame in x.unflatten(1, (self.frames, -1)).unbind(1):
            for _ in range(self.steps_per_frame):
                yield frame


def train_stepped(model: SteppedNetwork, loader: Iterable, epochs: int, lr: float, seed: int,
                  callbacks: TrainCallbacks | None = None) -> list[EpochRecord]:
    """BPTT with surrogate gradients: Adam on the cross-entropy of the step-averaged readout; one history entry per epoch."""
    seed_everything(seed)
    callbacks = callbacks or TrainCallbacks()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(epochs, 1))
    callbacks.stage("lif-bptt", model)
    history = []
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for inputs, labels in loader:
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        scheduler.step()
        loss = total / max(count, 1)
        if not math.isfinite(loss):
            raise DivergedError(f"LIF BPTT training diverged: loss {loss} in epoch {epoch}")
        history.append(callbacks.epoch(EpochRecord("lif-bptt", epoch, loss), model))
    model.eval()
    return history


@torch.no_grad()
def evaluate_stepped(model: SteppedNetwork, loader: Iterable, count: bool = True) -> tuple[np.ndarray, np.ndarray, CostReport | None]:
    """Labels, predictions and (``count=True``) the cost report per inference of a time-stepped network."""
    model.eval()
    counter = SteppedCounter() if count else None
    truths, predictions, samples = [], [], 0
    for inputs, labels in loader:
        predictions.append(model(inputs, counter).argmax(1).numpy())
        truths.append(np.asarray(labels))
        samples += len(labels)
    report = counter.report(samples, model.steps) if count else None
    return np.concatenate(truths), np.concatenate(predictions), report


def smallest_rate_steps(snn, loader: Iterable, target: float, choices: Sequence[int] = (8, 16, 32, 64, 128, 256),
                        seed: int = 0) -> tuple[int | None, list[tuple[int, float]]]:
    """The smallest ``T`` in ``choices`` whose rate twin's accuracy on ``loader`` reaches ``target``.

    Returns ``(T or None, [(T, accuracy), ...])``: the accuracy-versus-T curve up to the first ``T``
    that reaches ``target`` (all of ``choices`` when none does).
    """
    curve = []
    for steps in choices:
        torch.manual_seed(seed)
        y_true, y_pred, _ = evaluate_stepped(rate_twin(snn, steps), loader, count=False)
        curve.append((steps, float((y_true == y_pred).mean())))
        if curve[-1][1] >= target:
            return steps, curve
    return None, curve


def cost_columns(report: CostReport, profiles: Sequence[str]) -> dict:
    """The cost columns of a comparison row: operations per inference, then energy (µJ) and latency per profile."""
    row = {"synops": report.synaptic_events, "neuron_updates": report.neuron_updates, "updates_active": report.updates_active,
           "macs": report.macs if report.network == "ann" else 0, "spikes_per_neuron": report.spikes_per_neuron,
           "latency_steps": report.time_steps}
    for profile in profiles:
        energy = estimate_energy(report, profile)
        row[f"energy_uj_{energy.profile}"] = energy.energy_uj
        row[f"latency_ms_{energy.profile}"] = energy.latency_ms
        row[f"latency_model_{energy.profile}"] = energy.latency_model
    return row


def train_lif_baseline(spec: CandidateSpec, settings, callbacks: TrainCallbacks | None = None,
                       split: str = "training") -> SEENStyleLIF:
    """A SEEN-style LIF CNN of ``spec``'s architecture, trained with BPTT on ``settings``' ``split`` for its epochs
    (``"training"``, or ``"training+validation"`` once every choice is made)."""
    data = settings.dataset(spec, split)
    # batch norm cannot train on a last batch of one clip: such a remainder is dropped
    loader = DataLoader(data, batch_size=settings.batch_size, shuffle=True, drop_last=len(data) % settings.batch_size == 1,
                        generator=torch.Generator().manual_seed(settings.train.seed))
    model = SEENStyleLIF(spec)
    train_stepped(model, loader, settings.train.epochs, settings.train.lr, settings.train.seed, callbacks)
    return model


def twin_metrics(spec: CandidateSpec, snn, lif: SEENStyleLIF | None, settings, split: str,
                 rate_steps: int | None = RATE_TWIN_STEPS) -> list[tuple[str, dict]]:
    """``(name, metrics)`` on ``split`` of the TTFS network ``snn``'s ANN twin, its rate twin (``rate_steps``
    steps; ``None``: left out) and the LIF baseline (``None``: left out).

    Metrics: ``war``, ``uar``, ``params``, the cost metrics of :data:`~tnas_plugin.hardware.COST_METRICS` (on
    ``settings.hardware_profile``) and ``macs``, operations counted on the same first ``settings.synops_samples``
    clips the TTFS networks are counted on, in the pass that predicts them.
    """
    data = settings.dataset(spec, split)
    loader = DataLoader(data, batch_size=settings.batch_size * 4)
    counted = [data[i] for i in range(min(settings.synops_samples, len(data)))]
    inputs = torch.stack([clip for clip, _ in counted])
    counted_batch = [(inputs, torch.tensor([label for _, label in counted]))]
    uncounted = DataLoader(Subset(data, range(len(counted), len(data))), batch_size=settings.batch_size * 4)
    snn = snn.cpu().eval()
    device = torch.device("cpu")
    rows = []

    def stepped(model: SteppedNetwork) -> tuple[np.ndarray, np.ndarray, CostReport]:
        """Labels and predictions on the whole split in one pass, the cost counted on its first clips."""
        y_true, y_pred, report = evaluate_stepped(model, counted_batch)
        if len(uncounted.dataset):
            rest_true, rest_pred, _ = evaluate_stepped(model, uncounted, count=False)
            y_true, y_pred = np.concatenate([y_true, rest_true]), np.concatenate([y_pred, rest_pred])
        return y_true, y_pred, report

    def row(name: str, y_true, y_pred, report: CostReport, params: int) -> None:
        energy = estimate_energy(report, settings.hardware_profile)
        rows.append((name, {**recognition_report(y_true, y_pred, data.classes), "params": params,
                            **cost_metrics(report, energy), "macs": energy.macs}))

    params = sum(p.numel() for p in snn.parameters() if p.requires_grad)
    row("ANN twin (clipped ReLU)", *predict(lambda x: snn(x), loader, device),
        count_ttfs(snn, inputs, spec.steps_per_window).ann_twin(), params)
    if rate_steps is not None:
        torch.manual_seed(settings.train.seed)
        row(f"rate twin (IF, T={rate_steps})", *stepped(rate_twin(snn, rate_steps)), params)
    if lif is not None:
        row(f"LIF BPTT (SEEN-style, T={lif.steps})", *stepped(lif), sum(p.numel() for p in lif.parameters() if p.requires_grad))
    return rows
