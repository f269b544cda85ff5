"""``SearchExperiment.front()``: the Pareto front of the Python API with WAR, UAR and energy per member."""
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.space import SimplifiedModelSpace

import nni
from test_protocol import SMALL_SPACE, architecture_metrics
from tnas_plugin.jobs.experiment import FrontMember, SearchExperiment
from tnas_plugin.search_spaces import TTFSEyeSpace
from tnas_plugin.strategies import TNASEvolution


def test_front_pairs_each_exported_architecture_with_its_metrics():
    reported = {}

    def trial(model):
        reported[model.spec] = architecture_metrics(model.spec)
        nni.report_final_result(reported[model.spec])

    space, evaluator = TTFSEyeSpace(**SMALL_SPACE), FunctionalEvaluator(trial)
    strategy = TNASEvolution(seed=0, population_size=4, objectives={"war": "max", "uar": "max", "energy_uj": "min"})
    experiment = SearchExperiment(space, evaluator, strategy)
    strategy.initialize(SimplifiedModelSpace.from_model(space, evaluator), SequentialExecutionEngine(max_model_count=8))
    strategy.run()
    front = experiment.front()
    exported = experiment.export_top_models(top_k=None, formatter="dict")
    assert [member.sample for member in front] == exported and len(front) > 1
    for member in front:
        assert isinstance(member, FrontMember)
        metrics = reported[space.freeze(member.sample).spec]
        assert (member.war, member.uar, member.energy_uj) == (metrics["war"], metrics["uar"], metrics["energy_uj"])
        assert member.metrics == metrics
