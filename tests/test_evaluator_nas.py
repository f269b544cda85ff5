"""TNASEvaluator with NNI's own Random strategy in a real NasExperiment (local training service)."""
import math

import nni.nas.strategy as nni_strategy
import pytest
from nni.nas.experiment import NasExperiment

from nni_helpers import free_port, no_orphan_managers, wait_for_no_new_managers
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.strategies import TNASEvaluator

TINY = dict(epochs=4, finetune_epochs=1, eval_starts=1, batch_size=16, synops_samples=8)


def test_evaluator_validates_its_arguments(tiny_see):
    with pytest.raises(ValueError, match="fitness"):
        TNASEvaluator(str(tiny_see), fitness="accuracy")
    with pytest.raises(TypeError, match="epoch"):
        TNASEvaluator(str(tiny_see), epoch=3)
    with pytest.raises(ValueError, match="mode"):
        TNASEvaluator(str(tiny_see), mode="surrogate")


def test_nas_experiment_with_nni_random_reports_war_and_uar(tiny_see):
    # one stage of 16 channels learns something in 4 epochs on the tiny tree; deeper or narrower ones may
    # collapse to one class there, and a collapsed trial fails instead of reporting
    space = TTFSEyeSpace(resolution=16, stage_choices=(1,), channel_choices=(16,), width_choices=(64,), steps_choices=(8,))
    evaluator = TNASEvaluator(str(tiny_see), **TINY)
    experiment = NasExperiment(space, evaluator, nni_strategy.Random(dedup=True, seed=0))
    experiment.config.max_trial_number = 2
    experiment.config.trial_concurrency = 1
    with no_orphan_managers() as started_before:
        try:
            experiment.run(port=free_port(), wait_completion=True)
            assert experiment.get_status() == "DONE"
            trials = experiment.export_data()
        finally:
            experiment.stop()
        assert wait_for_no_new_managers(started_before), "experiment.stop() left the NNI manager running"
    assert len(trials) == 2
    for trial in trials:
        metric = trial.value
        assert {"war", "uar", "default", "synops", "energy_uj", "latency_steps"} <= set(metric)
        assert 0.0 <= metric["war"] <= 1.0 and 0.0 <= metric["uar"] <= 1.0
        assert math.isclose(metric["default"], (metric["war"] + metric["uar"]) / 2)
