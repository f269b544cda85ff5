"""The WAR/UAR evaluator: what every trial of every search runs, as an NNI evaluator.

:class:`TNASEvaluator` is an ``nni.nas.evaluator.FunctionalEvaluator`` whose arguments are plain JSON
values (paths, numbers, names), so it serialises cleanly into NNI's trial command and works with any NAS
strategy (NNI's Random and RegularizedEvolution included). A trial trains the candidate's ReLU twin,
maps it to a TTFS network, fine-tunes that in discrete time, and reports one dict
(DESIGN.md section 5): ``default`` (the fitness), ``war``, ``uar``, ``recall_<class>``,
``acc_<lighting>``, ``params``, ``spikes_per_neuron``, ``synops``, ``energy_uj``, ``latency_steps``,
``latency_ms``. A trial that diverges or raises fails with its reason in the trial log; the
experiment goes on.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import nni
import numpy as np
import torch
from nni.nas.evaluator import FunctionalEvaluator
from torch.utils.data import DataLoader

from tnas_plugin.hardware import count_synops, estimate_energy, load_profile
from tnas_plugin.metrics import recognition_report
from tnas_plugin.search_spaces import CandidateSpec, candidate_datasets
from tnas_plugin.trainer import TrainConfig, predict, train_ttfs
from tnas_plugin.ttfs import TTFSNetwork

FITNESS = {
    "mean": lambda m: (m["war"] + m["uar"]) / 2,
    "war": lambda m: m["war"],
    "uar": lambda m: m["uar"],
}


@dataclass
class EvaluationSettings:
    """Everything a trial needs besides the candidate; all JSON values so NNI can ship them."""

    data_root: str
    skip: int = 3  # Ex-Sy: frames skipped between the clip's event frames
    eval_starts: int = 4  # fixed start points per test sequence (the SEE protocol uses 20)
    batch_size: int = 32
    epochs: int = 4
    lr: float = 3e-3
    finetune_epochs: int = 1
    finetune_lr: float = 5e-4
    margin: float = 1.1
    percentile: float = 99.0
    mode: str = "ann"
    seed: int = 0
    fitness: str = "mean"
    hardware_profile: str = "loihi"
    synops_samples: int = 64
    cache_dir: str | None = None
    device: str = "auto"

    def __post_init__(self):
        if self.fitness not in FITNESS:
            raise ValueError(f"fitness must be one of {sorted(FITNESS)}, got {self.fitness!r}")
        load_profile(self.hardware_profile)  # fail at construction on an unknown or malformed profile
        self.train_config()  # validates the training fields
        if self.synops_samples < 1 or self.batch_size < 1:
            raise ValueError("synops_samples and batch_size must be positive")

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, finetune_epochs=self.finetune_epochs,
                           finetune_lr=self.finetune_lr, margin=self.margin, percentile=self.percentile,
                           mode=self.mode, seed=self.seed, device=self.device)


@dataclass
class CandidateResult:
    metrics: dict
    snn: TTFSNetwork
    y_true: np.ndarray
    y_pred: np.ndarray
    synops: dict
    history: list[dict]


def measure_candidate(spec: CandidateSpec, ann: torch.nn.Sequential, settings: EvaluationSettings,
                      on_epoch=None) -> CandidateResult:
    """Train, convert, fine-tune and evaluate one candidate; the TTFS network is what is measured."""
    train, test = candidate_datasets(spec, settings.data_root, skip=settings.skip, eval_starts=settings.eval_starts,
                                     seed=settings.seed, cache_dir=settings.cache_dir)
    generator = torch.Generator().manual_seed(settings.seed)
    train_loader = DataLoader(train, batch_size=settings.batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test, batch_size=settings.batch_size * 4)
    config = settings.train_config()
    trained = train_ttfs(ann, train_loader, spec.steps_per_window, config, on_epoch)
    snn = trained.snn
    device = config.torch_device()
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


def _report_epoch(entry: dict) -> None:
    nni.report_intermediate_result({"default": entry["loss"], "loss": entry["loss"], "epoch": entry["epoch"]})


def evaluate_candidate(model, **settings) -> dict:
    """NNI trial body: measure the frozen candidate ``model`` (a ``TTFSEyeSpace`` sample) and report."""
    settings = EvaluationSettings(**settings)
    result = measure_candidate(model.spec, model.ann, settings, on_epoch=_report_epoch)
    nni.report_final_result(result.metrics)
    return result.metrics


class TNASEvaluator(FunctionalEvaluator):
    """NNI evaluator running :func:`evaluate_candidate` on each candidate.

    ``TNASEvaluator(data_root, epochs=4, fitness="mean", hardware_profile="loihi", ...)`` — keyword
    arguments are the fields of :class:`EvaluationSettings`, validated here so that a bad argument fails
    at construction, not inside every trial.
    """

    def __init__(self, data_root: str, **settings):
        unknown = set(settings) - {f.name for f in fields(EvaluationSettings)}
        if unknown:
            raise TypeError(f"TNASEvaluator got unknown settings {sorted(unknown)}")
        super().__init__(evaluate_candidate, **asdict(EvaluationSettings(str(data_root), **settings)))

    @property
    def trace_kwargs(self):
        return dict(self.arguments)
