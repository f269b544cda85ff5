"""The measurement of one candidate: train, convert, count, evaluate — without NNI.

Every trial of every search (through ``tnas_plugin.strategies.TNASEvaluator``), ``tnas-er train``, the
finalists, the baselines and the benchmarks run :func:`measure_candidate`. It trains the candidate's
ReLU twin, maps it to a TTFS network, fine-tunes that in discrete time (:mod:`tnas_plugin.trainer`),
evaluates the TTFS network and counts its operations and energy on a hardware profile
(:mod:`tnas_plugin.hardware`). The metrics it returns are the dict every trial reports
(docs/ARCHITECTURE.md, "Metrics"): ``default`` (the fitness), ``war``, ``uar``, ``recall_<class>``,
``acc_<lighting>``, ``params``, ``spikes_per_neuron``, ``synops``, ``energy_uj``, ``latency_steps``,
``latency_ms``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch.utils.data import DataLoader

from tnas_plugin.candidate import CandidateSpec, candidate_datasets
from tnas_plugin.hardware import count_synops, estimate_energy, load_profile
from tnas_plugin.metrics import recognition_report
from tnas_plugin.trainer import TrainCallbacks, TrainConfig, predict, train_ttfs
from tnas_plugin.ttfs import TTFSNetwork

FITNESS = {
    "mean": lambda m: (m["war"] + m["uar"]) / 2,
    "war": lambda m: m["war"],
    "uar": lambda m: m["uar"],
}

_TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))


@dataclass
class MeasurementSettings:
    """Everything a measurement needs besides the candidate.

    Parameters
    ----------
    data_root
        SEE tree to read.
    train
        How to train (:class:`tnas_plugin.trainer.TrainConfig`).
    skip
        Ex-Sy protocol: frames skipped between a clip's event frames.
    eval_starts
        Fixed clip start points per evaluated sequence (the SEE protocol uses 20).
    batch_size
        Training batch size (evaluation uses four times it).
    fitness
        The scalar ``default`` metric: ``"mean"`` of WAR and UAR, ``"war"`` or ``"uar"``.
    hardware_profile
        Profile name or YAML path the energy and latency are estimated on.
    synops_samples
        Evaluated clips the operations are counted on.
    cache_dir
        Decoded-frame cache (None: the data set's default).

    Example
    -------
    >>> MeasurementSettings.from_options("data/synthetic-see", epochs=10, fitness="uar").train.epochs
    10
    """

    data_root: str
    train: TrainConfig = field(default_factory=TrainConfig)
    skip: int = 3
    eval_starts: int = 4
    batch_size: int = 32
    fitness: str = "mean"
    hardware_profile: str = "loihi"
    synops_samples: int = 64
    cache_dir: str | None = None

    def __post_init__(self):
        if self.fitness not in FITNESS:
            raise ValueError(f"fitness must be one of {sorted(FITNESS)}, got {self.fitness!r}")
        load_profile(self.hardware_profile)  # fail at construction on an unknown or malformed profile
        for name in ("synops_samples", "batch_size", "eval_starts", "skip"):
            minimum = 0 if name == "skip" else 1
            if not isinstance(getattr(self, name), int) or getattr(self, name) < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {getattr(self, name)!r}")

    @classmethod
    def from_options(cls, data_root, **options) -> "MeasurementSettings":
        """Settings from one flat set of keyword options: ``TrainConfig`` fields go to ``train``."""
        own = {f.name for f in fields(cls)} - {"data_root", "train"}
        unknown = set(options) - own - _TRAIN_FIELDS
        if unknown:
            raise TypeError(f"unknown measurement settings {sorted(unknown)}; "
                            f"expected some of {sorted(own | _TRAIN_FIELDS)}")
        train = TrainConfig(**{k: v for k, v in options.items() if k in _TRAIN_FIELDS})
        return cls(str(data_root), train, **{k: v for k, v in options.items() if k in own})

    def to_options(self) -> dict:
        """Inverse of :meth:`from_options` (``data_root`` aside): one flat dict of JSON values."""
        flat = asdict(self)
        del flat["data_root"]
        return {**flat.pop("train"), **flat}


@dataclass
class CandidateResult:
    metrics: dict
    snn: TTFSNetwork
    y_true: np.ndarray
    y_pred: np.ndarray
    synops: dict
    history: list[dict]


def measure_candidate(spec: CandidateSpec, ann: torch.nn.Sequential, settings: MeasurementSettings,
                      callbacks: TrainCallbacks | None = None) -> CandidateResult:
    """Train, convert, fine-tune and evaluate one candidate; the TTFS network is what is measured.

    Parameters
    ----------
    spec
        The candidate's architecture.
    ann
        Its ReLU twin (``build_ann(spec)``; reinitialised from the seed before training).
    settings
        Data, training and cost settings.
    callbacks
        Per-epoch and per-stage hooks of the trainer (progress bars, intermediate results).
    """
    train, test = candidate_datasets(spec, settings.data_root, skip=settings.skip, eval_starts=settings.eval_starts,
                                     seed=settings.train.seed, cache_dir=settings.cache_dir)
    generator = torch.Generator().manual_seed(settings.train.seed)
    train_loader = DataLoader(train, batch_size=settings.batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test, batch_size=settings.batch_size * 4)
    trained = train_ttfs(ann, train_loader, spec.steps_per_window, settings.train, callbacks)
    snn = trained.snn
    device = settings.train.torch_device()
    y_true, y_pred = predict(lambda x: snn(x, spec.steps_per_window), test_loader, device)
    lighting = [test.metadata(i)["lighting"] for i in range(len(test))]
    metrics = recognition_report(y_true, y_pred, test.classes, lighting)
    metrics = {key: value for key, value in metrics.items() if math.isfinite(value)}  # absent classes: no recall
    synops_inputs = torch.stack([test[i][0] for i in range(min(settings.synops_samples, len(test)))])
    synops = count_synops(snn, synops_inputs.to(device), spec.steps_per_window)
    energy = estimate_energy(synops, settings.hardware_profile)
    metrics.update(
        default=FITNESS[settings.fitness](metrics),
        params=sum(p.numel() for p in ann.parameters() if p.requires_grad),
        spikes_per_neuron=synops["spikes_per_neuron"],
        synops=synops["total"],
        energy_uj=energy["energy_pj"] * 1e-6,
        latency_steps=energy["latency_steps"],
        latency_ms=energy["latency_ms"],
    )
    return CandidateResult(metrics, snn, y_true, y_pred, synops, trained.history)
