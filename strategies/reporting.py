"""One trial's measurement reported to NNI — shared by :class:`~.evaluator.TNASEvaluator` (NAS mode) and
the Lightning-free nnictl trial entry (:mod:`.trial`); imports ``nni`` but not ``nni.nas``.

Every epoch is reported as an intermediate result and the validation metric dict
(:func:`tnas_plugin.measurement.measure_candidate`) as the final one. A candidate whose TTFS network
predicts one class for every validation clip is not a result: the trial fails with
:class:`CollapsedCandidate`, whose message (the reason) ends the trial's log.
"""
from __future__ import annotations

import nni

from tnas_plugin.candidate import CandidateSpec
from tnas_plugin.measurement import MeasurementSettings, measure_candidate
from tnas_plugin.trainer import TrainCallbacks


class CollapsedCandidate(RuntimeError):
    """The trained network predicts a single class on the whole validation split."""


def _report_epoch(entry: dict, network) -> None:
    nni.report_intermediate_result({"default": entry["loss"], "loss": entry["loss"], "epoch": entry["epoch"]})


def measure_and_report(spec: CandidateSpec, ann, data_root: str, **options) -> dict:
    """Measure one candidate (``options``: :class:`MeasurementSettings` and ``TrainConfig`` fields) and report it."""
    settings = MeasurementSettings.from_options(data_root, **options)
    result = measure_candidate(spec, ann, settings, TrainCallbacks(on_epoch=_report_epoch))
    if result.metrics["predicted_classes"] == 1:
        raise CollapsedCandidate(f"collapsed: the TTFS network predicts one class for all {len(result.validation.y_pred)} "
                                 f"validation clips (UAR {result.metrics['uar']:.3f}); not a result")
    nni.report_final_result(result.metrics)
    return result.metrics
