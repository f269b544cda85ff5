"""One trial's measurement reported to NNI — shared by :class:`~.evaluator.TNASEvaluator` (NAS mode) and
the Lightning-free nnictl trial entry (:mod:`.trial`); imports ``nni`` but not ``nni.nas``.

Every epoch is reported as an intermediate result whose ``default`` is the quantity of the final ``default``
(the fitness on the validation split, :func:`tnas_plugin.measurement.epoch_validation`), so NNI's web UI and
assessors (Medianstop, Curvefitting) compare like with like; the training loss goes under ``loss``. The
validation metric dict (:func:`tnas_plugin.measurement.measure_candidate`) is the final result. A candidate whose TTFS network
predicts one class for every validation clip is not a result: the trial fails with
:class:`CollapsedCandidate`, whose message (the reason) ends the trial's log.
"""
from __future__ import annotations

from dataclasses import replace

import nni

from tnas_plugin.candidate import CandidateSpec
from tnas_plugin.measurement import MeasurementSettings, epoch_validation, measure_candidate
from tnas_plugin.trainer import EpochRecord, TrainCallbacks


class CollapsedCandidate(RuntimeError):
    """The trained network predicts a single class on the whole validation split."""


def intermediate_result(record: EpochRecord, epoch: int) -> dict:
    """The intermediate result of the ``epoch``-th epoch (counted over the ReLU-twin and fine-tuning stages, from 1):
    ``default`` = the validation fitness, ``war`` and ``uar`` on validation, the epoch's training ``loss``."""
    return {"default": record.scores["val_default"], "war": record.scores["val_war"], "uar": record.scores["val_uar"],
            "loss": record.loss, "epoch": epoch}


def measure_and_report(spec: CandidateSpec, ann, data_root: str, **options) -> dict:
    """Measure one candidate (``options``: :class:`MeasurementSettings` and ``TrainConfig`` fields) and report it."""
    settings = MeasurementSettings.from_options(data_root, **options)
    score, reported = epoch_validation(spec, settings), []

    def report_epoch(record: EpochRecord, network) -> dict:
        scores = score(record, network)
        reported.append(intermediate_result(replace(record, scores=scores), len(reported) + 1))
        nni.report_intermediate_result(reported[-1])
        return scores

    result = measure_candidate(spec, ann, settings, TrainCallbacks(on_epoch=report_epoch))
    if result.metrics["predicted_classes"] == 1:
        raise CollapsedCandidate(f"collapsed: the TTFS network predicts one class for all {len(result.validation.y_pred)} "
                                 f"validation clips (UAR {result.metrics['uar']:.3f}); not a result")
    nni.report_final_result(result.metrics)
    return result.metrics
