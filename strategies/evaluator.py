"""The WAR/UAR evaluator: what every trial of every search runs, as an NNI evaluator.

:class:`TNASEvaluator` is an ``nni.nas.evaluator.FunctionalEvaluator`` whose arguments are plain JSON
values (paths, numbers, names), so it serialises cleanly into NNI's trial command and works with any NAS
strategy (NNI's Random and RegularizedEvolution included). A trial runs
:func:`tnas_plugin.measurement.measure_candidate` on the candidate — trained on the training split,
measured on the validation split; the test split is never read — and reports its metric dict
(docs/ARCHITECTURE.md, "Metrics") with ``nni.report_final_result``; each training epoch is reported as
an intermediate result (:mod:`.reporting`). A trial that diverges, collapses to one class or raises fails
with its reason in the trial log; the experiment goes on.
"""
from __future__ import annotations

from nni.nas.evaluator import FunctionalEvaluator

from tnas_plugin.measurement import MeasurementSettings

from . import nni_compat
from .reporting import measure_and_report


def evaluate_candidate(model, **options) -> dict:
    """NNI trial body: measure the frozen candidate ``model`` (a ``TTFSEyeSpace`` sample) and report."""
    return measure_and_report(model.spec, model.ann, options.pop("data_root"), **options)


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
        nni_compat.apply()  # this process decodes the trials' metrics
        settings = MeasurementSettings.from_options(data_root, **options)
        super().__init__(evaluate_candidate, data_root=settings.data_root, **settings.to_options())

    @property
    def trace_kwargs(self):
        return dict(self.arguments)
