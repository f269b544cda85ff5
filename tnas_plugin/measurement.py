"""The measurement of one candidate: train, convert, count, evaluate — without NNI.

Protocol: a candidate trains on the training split and everything a search decides on — its fitness,
the ranking of finalists — is measured on the validation split, carved from the training subset the way
the test split was carved (:func:`tnas_plugin.data.validation_sequences`). :func:`measure_candidate` never
reads the test split. Once the choices are made, :func:`train_final` retrains a network on training +
validation and :func:`evaluate_network` on ``"testing"`` gives the final table.

Every trial of every search (through ``tnas_plugin.strategies.TNASEvaluator``), ``tnas-er train``, the
finalists, the baselines and the benchmarks run :func:`measure_candidate`. It trains the candidate's
ReLU twin, maps it to a TTFS network, fine-tunes that in discrete time (:mod:`tnas_plugin.trainer`),
evaluates the TTFS network and counts its operations and energy on a hardware profile
(:mod:`tnas_plugin.hardware`). The metrics it returns are the dict every trial reports
(docs/ARCHITECTURE.md, "Metrics"): ``default`` (the fitness), ``war``, ``uar``, ``recall_<class>``,
``acc_<lighting>``, ``predicted_classes``, ``params`` and the cost metrics of
:data:`tnas_plugin.hardware.COST_METRICS` (``spikes_per_neuron``, ``synops``, ``neuron_updates``, ``energy_uj``,
``latency_steps``, ``latency_ms``), all on the validation split.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from tnas_plugin.candidate import CandidateSpec, candidate_dataset
from tnas_plugin.clip_store import load_dataset
from tnas_plugin.data import VALIDATION_FRACTION, VALIDATION_SPLITS, SEEDataset
from tnas_plugin.hardware import CostReport, cost_metrics, count_ttfs, estimate_energy, load_profile
from tnas_plugin.metrics import recognition_report, uar, war
from tnas_plugin.trainer import EpochHook, EpochRecord, TrainCallbacks, TrainConfig, inference_model, predict, train_ttfs
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
    on_error
        ``"raise"`` on a bad sequence, or ``"skip"`` it (``tnas-er search --skip-bad``, after the preflight listed it).
    validation_fraction, validation_seed, validation_split
        Share of the training sequences held out for validation, the seed that picks them and how
        (``"take"``, ``"subject"`` or ``"auto"``: :func:`tnas_plugin.data.validation_sequences`).
    annotations
        The annotation file (None: the data set's ``emotion.json`` or ``emotion_new_adjust2.json``).
    clip_store
        Folder of a clip store (:mod:`tnas_plugin.clip_store`) to read the data sets from when it holds them;
        ``None`` (or a folder that does not exist) builds them from ``data_root``.

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
    on_error: str = "raise"
    validation_fraction: float = VALIDATION_FRACTION
    validation_seed: int = 0
    validation_split: str = "auto"
    annotations: str | None = None
    clip_store: str | None = None

    def __post_init__(self):
        if self.fitness not in FITNESS:
            raise ValueError(f"fitness must be one of {sorted(FITNESS)}, got {self.fitness!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if self.validation_split not in VALIDATION_SPLITS:
            raise ValueError(f"validation_split must be one of {VALIDATION_SPLITS}, got {self.validation_split!r}")
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


    def data_settings(self) -> dict:
        """The settings a candidate's data set depends on besides the candidate (a clip store's key)."""
        return {"data_root": str(Path(self.data_root).resolve()), "skip": self.skip, "eval_starts": self.eval_starts,
                "seed": self.train.seed, "validation_fraction": self.validation_fraction,
                "validation_seed": self.validation_seed, "validation_split": self.validation_split,
                "annotations": self.annotations, "on_error": self.on_error}

    def dataset(self, spec: CandidateSpec, split: str):
        """``split`` of the data as ``spec`` sees it (:func:`tnas_plugin.candidate.candidate_dataset`), from the
        clip store when it holds it."""
        if self.clip_store is not None:
            stored = load_dataset(self.clip_store, self.data_settings(), spec, split)
            if stored is not None:
                return stored
        return candidate_dataset(spec, self.data_root, split, skip=self.skip, eval_starts=self.eval_starts,
                                 seed=self.train.seed, validation_fraction=self.validation_fraction,
                                 validation_seed=self.validation_seed, validation_split=self.validation_split,
                                 annotations=self.annotations, cache_dir=self.cache_dir, on_error=self.on_error)


@dataclass(frozen=True)
class Evaluation:
    """A trained TTFS network measured on one split: the metric dict, labels, predictions, cost report."""

    split: str
    metrics: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    cost: CostReport  #: operations per inference (synaptic events, neuron updates, spikes) per layer


@dataclass(frozen=True)
class CandidateResult:
    """A measured candidate: its TTFS network, validation :class:`Evaluation` (``metrics`` is its), training
    history and trainable parameters."""

    snn: TTFSNetwork
    validation: Evaluation
    history: list[EpochRecord]
    params: int

    @property
    def metrics(self) -> dict:
        return self.validation.metrics


def evaluate_network(spec: CandidateSpec, snn: TTFSNetwork, settings: MeasurementSettings, split: str,
                     params: int | None = None) -> Evaluation:
    """WAR, UAR, recalls, accuracy per lighting, SynOps, energy and latency of ``snn`` on ``split``.

    Parameters
    ----------
    spec, snn
        The candidate and its trained TTFS network (predictions from its integer twin when
        ``settings.train.weight_bits`` is set; operations counted on ``snn``).
    settings
        Data and cost settings (``fitness`` gives ``default``).
    split
        ``"validation"`` while searching and choosing; ``"testing"`` only after every choice is made.
    params
        Trainable parameters of the ReLU twin, copied into the metrics when given.
    """
    data = settings.dataset(spec, split)
    device = settings.train.torch_device()
    loader = DataLoader(data, batch_size=settings.batch_size * 4)
    y_true, y_pred = predict(inference_model(snn, spec.steps_per_window, settings.train.weight_bits), loader, device)
    lighting = [data.metadata(i)["lighting"] for i in range(len(data))]
    metrics = recognition_report(y_true, y_pred, data.classes, lighting)
    metrics = {key: value for key, value in metrics.items() if math.isfinite(value)}  # absent classes: no recall
    synops_inputs = torch.stack([data[i][0] for i in range(min(settings.synops_samples, len(data)))])
    cost = count_ttfs(snn, synops_inputs.to(device), spec.steps_per_window)
    metrics.update(
        default=FITNESS[settings.fitness](metrics),
        predicted_classes=len(np.unique(y_pred)),  # 1 = collapsed to one class
        **({} if params is None else {"params": params}),
        **cost_metrics(cost, estimate_energy(cost, settings.hardware_profile)),
    )
    return Evaluation(split, metrics, y_true, y_pred, cost)


def one_clip_per_sequence(clips: SEEDataset) -> Subset:
    """The clips of ``clips`` (validation or testing: fixed start points) at each sequence's first start point:
    item for item the data set built with ``eval_starts=1`` (a sequence's first start point does not depend on
    ``eval_starts``: :class:`tnas_plugin.data.SEEDataset`)."""
    return Subset(clips, range(0, len(clips), clips.eval_starts))


def epoch_validation(spec: CandidateSpec, settings: MeasurementSettings) -> EpochHook:
    """An ``on_epoch`` hook scoring the network being trained on the validation split with the fitness of the
    final ``default`` (docs/ARCHITECTURE.md, "Intermediate results"): the ReLU twin in the ``ann`` stage, the
    discrete-time TTFS network afterwards, so the last epoch's score is the final ``default`` itself.

    Returns ``val_war``, ``val_uar`` and ``val_default``, the scores of the epoch's record; reads no global random state.
    It scores one clip per validation sequence (:func:`one_clip_per_sequence`; the final result:
    ``settings.eval_starts``), which keeps its cost near a tenth of the training's, loaded once at the first epoch
    (from the clip store when it holds the validation split) and kept in memory.
    """
    batches: list = []
    device = settings.train.torch_device()

    def on_epoch(record: EpochRecord, network: torch.nn.Module) -> dict:
        if not batches:  # an iterator draws its seed from the loader's generator, not from torch's global one
            clips = one_clip_per_sequence(settings.dataset(spec, "validation"))
            batches.extend(DataLoader(clips, batch_size=settings.batch_size * 4, generator=torch.Generator()))
        network.eval()  # the trainer sets training mode again at the start of each epoch
        model = network if record.stage == "ann" else (lambda x: network(x, spec.steps_per_window))
        y_true, y_pred = predict(model, batches, device)
        scores = {"war": war(y_true, y_pred), "uar": uar(y_true, y_pred)}
        return {"val_war": scores["war"], "val_uar": scores["uar"], "val_default": FITNESS[settings.fitness](scores)}

    return on_epoch


def measure_candidate(spec: CandidateSpec, ann: torch.nn.Sequential, settings: MeasurementSettings,
                      callbacks: TrainCallbacks | None = None) -> CandidateResult:
    """Train on the training split, convert, fine-tune, and evaluate on the validation split.

    The TTFS network is what is measured; the test split is never read here.

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

    Example
    -------
    >>> from tnas_plugin.candidate import StageSpec, build_ann
    >>> spec = CandidateSpec(modality="event", frames=2, steps_per_window=16, resolution=32,
    ...                      stages=(StageSpec(channels=8, kernel=3, pool="max"),),
    ...                      classifier_width=32, num_classes=7)
    >>> settings = MeasurementSettings.from_options("data/synthetic-see", epochs=2)
    >>> result = measure_candidate(spec, build_ann(spec), settings)  # doctest: +SKIP
    >>> sorted(result.validation.metrics)  # doctest: +SKIP
    """
    trained, params = _train(spec, ann, settings, "training", callbacks)
    validation = evaluate_network(spec, trained.snn, settings, "validation", params)
    return CandidateResult(trained.snn, validation, trained.history, params)


def train_final(spec: CandidateSpec, ann: torch.nn.Sequential, settings: MeasurementSettings,
                callbacks: TrainCallbacks | None = None) -> tuple[TTFSNetwork, int]:
    """Retrain a chosen network (or a baseline) as :func:`measure_candidate` does, on training + validation:
    the whole training subset, once every choice has been made on validation. Returns (TTFS network,
    trainable parameters); nothing is evaluated, so the caller reads the test split once."""
    trained, params = _train(spec, ann, settings, "training+validation", callbacks)
    return trained.snn, params


def _train(spec: CandidateSpec, ann: torch.nn.Sequential, settings: MeasurementSettings, split: str,
           callbacks: TrainCallbacks | None):
    """ANN-assisted training on ``split`` (seeded shuffling): the trainer's result and the parameter count."""
    train = settings.dataset(spec, split)
    generator = torch.Generator().manual_seed(settings.train.seed)
    train_loader = DataLoader(train, batch_size=settings.batch_size, shuffle=True, generator=generator)
    trained = train_ttfs(ann, train_loader, spec.steps_per_window, settings.train, callbacks)
    return trained, sum(p.numel() for p in ann.parameters() if p.requires_grad)
