"""A trial's intermediate ``default`` is its final ``default``'s quantity: NNI's Medianstop compares like with like."""
import pytest
from nni.algorithms.hpo.medianstop_assessor import MedianstopAssessor
from nni.assessor import AssessResult

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.strategies import reporting

# one stage of 16 channels learns something in 4 epochs on the tiny tree (a collapsed trial reports no final result)
SPECS = [CandidateSpec("both", 2, 8, 16, (StageSpec(channels, 3, "max"),), width, 7)
         for channels, width in ((16, 64), (16, 32), (8, 64))]
OPTIONS = dict(epochs=4, finetune_epochs=1, eval_starts=1, batch_size=16, synops_samples=8)


@pytest.fixture(scope="module")
def trials(tiny_see):
    """(intermediate results, final result) of each of SPECS, measured as an NNI trial measures them."""
    measured = []
    for spec in SPECS:
        intermediate, final = [], []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(reporting.nni, "report_intermediate_result", intermediate.append)
            patch.setattr(reporting.nni, "report_final_result", final.append)
            reporting.measure_and_report(spec, build_ann(spec), str(tiny_see), **OPTIONS)
        measured.append((intermediate, final[0]))
    return measured


def test_intermediate_default_is_the_validation_fitness_and_the_loss_has_its_own_key(trials):
    for intermediate, final in trials:
        assert [result["epoch"] for result in intermediate] == [1, 2, 3, 4, 5]  # 4 ReLU-twin epochs, 1 fine-tuning
        for result in intermediate:
            assert 0 <= result["default"] <= 1 and result["default"] == pytest.approx((result["war"] + result["uar"]) / 2)
            assert result["loss"] > 0
        # the last epoch scores the fine-tuned TTFS network on the validation clips (one per sequence, as eval_starts=1
    # has the final result score): the final default itself
        assert intermediate[-1]["default"] == final["default"]
        assert (intermediate[-1]["war"], intermediate[-1]["uar"]) == (final["war"], final["uar"])


def test_medianstop_compares_validation_fitness_with_validation_fitness(trials):
    assessor = MedianstopAssessor(optimize_mode="maximize", start_step=1)
    (first, _), (second, _), (third, third_final) = trials
    for trial_id, intermediate in (("a", first), ("b", second)):  # completed trials, reported as NNI's dispatcher does
        for step in range(1, len(intermediate) + 1):
            assessor.assess_trial(trial_id, intermediate[:step])
        assessor.trial_end(trial_id, True)
    for averages in assessor._completed_avg_history.values():  # running averages of the validation fitness
        assert all(0 <= value <= 1 for value in averages)
    for step in range(1, len(third) + 1):
        assessor.assess_trial("c", third[:step])
    assert assessor._running_history["c"][-1] == third_final["default"]  # what it compares is the final default's quantity
    # a trial that gets no validation clip right is stopped against the completed trials' average fitness; a
    # training loss reported as default (about ln 7 = 1.95) would instead look better than every accuracy
    assert min(history[-1] for history in assessor._completed_avg_history.values()) > 0
    assert assessor.assess_trial("stuck", [{"default": 0.0, "loss": 1.95}] * len(third)) is AssessResult.Bad
    assert assessor.assess_trial("loss", [{"default": 1.95}] * len(third)) is AssessResult.Good


def test_scoring_each_epoch_leaves_training_as_it_was(trials, tiny_see):
    from tnas_plugin.measurement import MeasurementSettings, measure_candidate

    settings = MeasurementSettings.from_options(tiny_see, **OPTIONS)
    assert measure_candidate(SPECS[0], build_ann(SPECS[0]), settings).metrics == trials[0][1]
