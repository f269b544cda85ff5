"""The WAR/UAR evaluator: what every trial of every search runs, as an NNI evaluator.

:class:`TNASEvaluator` is an ``nni.nas.evaluator.FunctionalEvaluator`` whose arguments are plain JSON
values (paths, numbers, names), so it serialises cleanly into NNI's trial command and works with any NAS
strategy (NNI's Random and RegularizedEvolution included). A trial runs
:func:`tnas_plugin.measurement.measure_candidate` on the candidate and reports its metric dict
(docs/ARCHITECTURE.md, "Metrics") with ``nni.report_final_result``; each training epoch is reported as
an intermediate result. A trial that diverges or raises fails with its reason in the trial log; the
experiment goes on.
"""
from __future__ import annotations

import nni
from nni.nas.evaluator import FunctionalEvaluator

from tnas_plugin.measurement import MeasurementSettings, measure_candidate
from tnas_plugin.trainer import TrainCallbacks


def _report_epoch(entry: dict, network) -> None:
    nni.report_intermediate_result({"default": entry["loss"], "loss": entry["loss"], "epoch": entry["epoch"]})


def evaluate_candidate(model, **options) -> dict:
    """NNI trial body: measure the frozen candidate ``model`` (a ``TTFSEyeSpace`` sample) and report."""
    settings = MeasurementSettings.from_options(options.pop("data_root"), **options)
    result = measure_candidate(model.spec, model.ann, settings, TrainCallbacks(on_epoch=_report_epoch))
    nni.report_final_result(result.metrics)
    return result.metrics


class TNASEvaluator(FunctionalEvaluator):
    """NNI evaluator measuring each candidate's TTFS network (WAR, UAR and costs).

    Parameters
    ----------
    data_root
        SEE tree the trials read (an absolute path when trials run elsewhere).
    **options
        Fields of :class:`tnas_plugin.measurement.MeasurementSettings` and of
        :class:`tnas_plugin.trainer.TrainConfig` (e.g. ``epochs``, ``fitness``, ``hardware_profile``),
        validated here so that a bad option fails at construction, not inside every trial.

    Example
    -------
    >>> evaluator = TNASEvaluator("data/synthetic-see", epochs=15, fitness="uar")
    """

    def __init__(self, data_root: str, **options):
        settings = MeasurementSettings.from_options(data_root, **options)
        super().__init__(evaluate_candidate, data_root=settings.data_root, **settings.to_options())

    @property
    def trace_kwargs(self):
        return dict(self.arguments)
