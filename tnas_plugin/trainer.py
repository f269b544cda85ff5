"""ANN-assisted training of TTFS networks (Stanojevic et al., Nat. Commun. 15:6793, 2024, "ANN-assisted").

Pipeline: train the ReLU twin with ordinary back-propagation -> calibrate the windows on training inputs
-> map it exactly to a TTFS network (:func:`tnas_plugin.ttfs.ann_to_ttfs`) -> optionally fine-tune the
TTFS network in discrete time with the rounding the simulator uses -> evaluate the TTFS network.
``mode="direct"`` skips the ANN stage and trains the TTFS network from its random initialisation with
exact spike-time gradients, for comparison.
"""
from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .ttfs import TTFSNetwork, ann_to_ttfs, fake_quantize, finetune_ttfs, quantize

MODES = ("ann", "direct")


class DivergedError(RuntimeError):
    """Training produced a non-finite loss."""


@dataclass
class TrainConfig:
    """How a candidate is trained (ANN-assisted by default).

    Parameters
    ----------
    epochs, lr
        Epochs and Adam learning rate of the main stage (the ReLU twin, or the TTFS network in
        ``mode="direct"``).
    finetune_epochs, finetune_lr
        Discrete-time TTFS fine-tuning after the mapping (``mode="ann"`` only).
    margin, percentile
        Window calibration: ``margin`` x this percentile of positive activations per layer.
    calibration_batches
        Training batches the windows are calibrated on.
    mode
        ``"ann"`` (ANN-assisted) or ``"direct"`` (TTFS training from the random initialisation).
    seed
        Seeds weights, shuffling and every random draw of the run.
    device
        ``"auto"`` (CUDA when present, else CPU) or a torch device name.
    weight_bits
        ``None``: float weights. An integer ``b`` (2 to 8): the TTFS stage trains quantisation-aware
        (weights and biases rounded as :func:`tnas_plugin.ttfs.quantize` rounds them, straight-through
        gradients) and the network is evaluated as its ``b``-bit integer twin (:func:`inference_model`).

    Example
    -------
    >>> TrainConfig(epochs=25, seed=1).finetune_epochs
    1
    """

    epochs: int = 4
    lr: float = 3e-3
    finetune_epochs: int = 1
    finetune_lr: float = 5e-4
    margin: float = 1.1
    percentile: float = 99.0  # window = margin x this percentile of positive activations (see TTFSNetwork.calibrate)
    calibration_batches: int = 4
    mode: str = "ann"
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    weight_bits: int | None = None  # fixed-point weights: quantisation-aware TTFS stage, integer evaluation

    def __post_init__(self):
        if self.weight_bits is not None and (not isinstance(self.weight_bits, int) or not 2 <= self.weight_bits <= 8):
            raise ValueError(f"TrainConfig.weight_bits must be None or an integer in [2, 8], got {self.weight_bits!r}")
        if self.mode not in MODES:
            raise ValueError(f"TrainConfig.mode must be one of {MODES}, got {self.mode!r}")
        for name in ("epochs", "finetune_epochs", "calibration_batches"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be a non-negative integer, got {getattr(self, name)!r}")
        if self.calibration_batches < 1:
            raise ValueError("TrainConfig.calibration_batches must be at least 1")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"TrainConfig.percentile must be in (0, 100], got {self.percentile!r}")
        if not self.margin >= 1.0:
            raise ValueError(f"TrainConfig.margin must be >= 1 (windows cover the largest activation), got {self.margin!r}")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training: its stage (``"ann"``, ``"direct"``, ``"finetune"``, ``"lif-bptt"``), its number within
    the stage (from 0), the mean training loss, and the scores the ``on_epoch`` hook returned for it
    (e.g. ``val_war``, ``val_uar``, ``val_default``: :func:`tnas_plugin.measurement.epoch_validation`)."""

    stage: str
    epoch: int
    loss: float
    scores: Mapping[str, float] = field(default_factory=dict)


EpochHook = Callable[[EpochRecord, nn.Module], "Mapping[str, float] | None"]
StageHook = Callable[[str, nn.Module], None]


@dataclass
class TrainCallbacks:
    """Hooks the trainer calls; each receives the network being trained.

    Parameters
    ----------
    on_epoch
        ``on_epoch(record, network)`` after every epoch (:class:`EpochRecord`); the scores it returns (e.g. a
        validation score) are recorded in the history with the epoch's record.
    on_stage
        ``on_stage(stage, network)`` when a stage starts: ``"ann"`` (the ReLU twin), ``"finetune"`` or
        ``"direct"`` (the TTFS network).

    Example
    -------
    >>> seen = []
    >>> callbacks = TrainCallbacks(on_stage=lambda stage, network: seen.append(stage))
    """

    on_epoch: EpochHook | None = None
    on_stage: StageHook | None = None

    def epoch(self, record: EpochRecord, network: nn.Module) -> EpochRecord:
        if self.on_epoch is not None:
            return replace(record, scores=dict(self.on_epoch(record, network) or {}))
        return record

    def stage(self, stage: str, network: nn.Module) -> None:
        if self.on_stage is not None:
            self.on_stage(stage, network)


@dataclass
class TrainResult:
    snn: TTFSNetwork
    history: list[EpochRecord] = field(default_factory=list)  # one record per epoch


def seed_everything(seed: int) -> None:
    """Deterministic runs per seed (Python, NumPy and torch generators)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _checked(loss: torch.Tensor, stage: str, epoch: int) -> float:
    value = loss.item()
    if not math.isfinite(value):
        raise DivergedError(f"{stage} training diverged: loss {value} in epoch {epoch}")
    return value


def train_ann(ann: nn.Module, loader: Iterable, epochs: int, lr: float, device: torch.device,
              callbacks: TrainCallbacks | None = None) -> list[EpochRecord]:
    """Ordinary training of the ReLU twin (Adam, cross-entropy); returns the per-epoch history."""
    callbacks = callbacks or TrainCallbacks()
    callbacks.stage("ann", ann)
    optimizer = torch.optim.Adam(ann.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        ann.train()
        total, count = 0.0, 0
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            loss = F.cross_entropy(ann(inputs), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += _checked(loss, "ANN", epoch) * len(labels)
            count += len(labels)
        history.append(callbacks.epoch(EpochRecord("ann", epoch, total / max(count, 1)), ann))
    ann.eval()
    return history


@contextlib.contextmanager
def epoch_progress(config: TrainConfig, description: str) -> Iterator[TrainCallbacks]:
    """A tqdm bar over the epochs ``config`` trains for; yields the callbacks that advance it."""
    total = config.epochs + (config.finetune_epochs if config.mode == "ann" else 0)
    with tqdm(total=total, desc=description, unit="epoch") as bar:
        def on_epoch(record: EpochRecord, network: nn.Module) -> None:
            bar.set_postfix(stage=record.stage, loss=f"{record.loss:.3f}", refresh=False)
            bar.update(1)

        yield TrainCallbacks(on_epoch=on_epoch)


def calibration_inputs(loader: Iterable, batches: int) -> torch.Tensor:
    """The first ``batches`` input batches of ``loader``, concatenated (for window calibration)."""
    chunks = []
    for inputs, _ in loader:
        chunks.append(inputs)
        if len(chunks) == batches:
            break
    if not chunks:
        raise ValueError("the training data is empty: nothing to calibrate the TTFS windows on")
    return torch.cat(chunks)


def finetune(snn: TTFSNetwork, loader: Iterable, epochs: int, lr: float, steps_per_window: int | None,
             stage: str, config: TrainConfig, callbacks: TrainCallbacks | None = None) -> list[EpochRecord]:
    """TTFS training with exact spike-time gradients, one epoch at a time so each is reported.

    With ``config.weight_bits`` the forward pass uses the fixed-point weights and biases
    (:func:`tnas_plugin.ttfs.fake_quantize`, straight-through estimator): quantisation-aware fine-tuning.
    """
    callbacks = callbacks or TrainCallbacks()
    callbacks.stage(stage, snn)
    if config.weight_bits is not None and epochs:
        with fake_quantize(snn, config.weight_bits, steps_per_window):
            return _finetune_epochs(snn, loader, epochs, lr, steps_per_window, stage, config, callbacks)
    return _finetune_epochs(snn, loader, epochs, lr, steps_per_window, stage, config, callbacks)


def _finetune_epochs(snn: TTFSNetwork, loader: Iterable, epochs: int, lr: float, steps_per_window: int | None,
                     stage: str, config: TrainConfig, callbacks: TrainCallbacks) -> list[EpochRecord]:
    optimizer = torch.optim.Adam(snn.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        snn.train()
        (loss,) = finetune_ttfs(snn, loader, epochs=1, steps_per_window=steps_per_window, widen=True,
                                margin=config.margin, percentile=config.percentile, optimizer=optimizer)
        if not math.isfinite(loss):
            raise DivergedError(f"{stage} training diverged: loss {loss} in epoch {epoch}")
        history.append(callbacks.epoch(EpochRecord(stage, epoch, loss), snn))
    snn.eval()
    return history


@torch.no_grad()
def batchnorm_statistics(ann: nn.Module, inputs: torch.Tensor) -> None:
    """Set every batch norm's running mean and variance to those of ``inputs`` (cumulative average, weights unchanged).

    Direct TTFS training folds batch norm into the convolutions before its first step; with the statistics of
    the data (instead of the initial 0 / 1) the folded layers start normalised, as a trained ReLU twin's would
    (data-dependent initialisation, Ioffe & Szegedy 2015).
    """
    norms = [m for m in ann.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average over the passes below
    ann.train()
    ann(inputs)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


def train_ttfs(ann: nn.Module, loader: Iterable, steps_per_window: int | None, config: TrainConfig,
               callbacks: TrainCallbacks | None = None) -> TrainResult:
    """Train a TTFS network whose architecture is the ReLU network ``ann`` (``nn.Sequential``).

    ``loader`` yields ``(inputs, labels)`` with inputs in [0, 1] shaped as ``ann`` expects. ``callbacks``
    (:class:`TrainCallbacks`) see each stage's network and each epoch's history entry.

    With ``config.mode="ann"`` the ReLU twin is trained, mapped by :func:`~tnas_plugin.ttfs.ann_to_ttfs`
    (windows calibrated on training batches) and fine-tuned in discrete time; with ``"direct"`` the mapped
    network is trained as a TTFS network from the random initialisation.

    Parameters
    ----------
    ann
        The ReLU network (an ``nn.Sequential`` :func:`~tnas_plugin.ttfs.ann_to_ttfs` accepts); its
        parameters are reset from ``config.seed`` before training.
    loader
        Training batches ``(inputs, labels)``, inputs in [0, 1].
    steps_per_window
        Steps per TTFS window of the TTFS stage (discrete time), or ``None`` for continuous time.
    config
        How to train (:class:`TrainConfig`: epochs, learning rates, calibration, mode, seed, device).
    callbacks
        Optional per-epoch and per-stage hooks.

    Example
    -------
    >>> from torch import nn
    >>> ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 7))
    >>> loader = [(torch.rand(8, 1, 8, 8), torch.randint(0, 7, (8,))) for _ in range(4)]
    >>> result = train_ttfs(ann, loader, 16, TrainConfig(epochs=1, device="cpu"))
    >>> logits = result.snn(torch.rand(2, 1, 8, 8), 16)
    """
    seed_everything(config.seed)
    for module in ann.modules():  # the initial weights depend on the seed only, not on how ann was built
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    device = config.torch_device()
    ann = ann.to(device)
    history: list[EpochRecord] = []
    if config.mode == "ann":
        history += train_ann(ann, loader, config.epochs, config.lr, device, callbacks)
    calibration = calibration_inputs(loader, config.calibration_batches).to(device)
    if config.mode == "direct":
        batchnorm_statistics(ann, calibration)  # fold batch norm with the data's statistics, not the initial 0 / 1
    ann.eval()
    snn = ann_to_ttfs(ann, calibration, config.margin, config.percentile)
    if config.mode == "direct":
        history += finetune(snn, loader, config.epochs, config.lr, steps_per_window, "direct", config, callbacks)
    else:
        history += finetune(snn, loader, config.finetune_epochs, config.finetune_lr, steps_per_window, "finetune", config, callbacks)
    return TrainResult(snn, history)


def inference_model(snn: TTFSNetwork, steps_per_window: int | None,
                    weight_bits: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """What runs on the target: ``snn`` in discrete time, or with ``weight_bits`` its integer twin
    (:func:`tnas_plugin.ttfs.quantize`, whose integer readouts give the same argmax as logits)."""
    if weight_bits is None:
        return lambda x: snn(x, steps_per_window)
    return quantize(snn, weight_bits, steps_per_window=steps_per_window)


@torch.no_grad()
def predict(model: Callable[[torch.Tensor], torch.Tensor], loader: Iterable, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Labels and argmax predictions of ``model`` over ``loader``; non-finite logits raise DivergedError."""
    truths, predictions = [], []
    for inputs, labels in loader:
        logits = model(inputs.to(device))
        if not torch.isfinite(logits).all():
            raise DivergedError("the network produced non-finite logits")
        truths.append(labels.cpu().numpy())
        predictions.append(logits.argmax(dim=1).cpu().numpy())
    return np.concatenate(truths), np.concatenate(predictions)
