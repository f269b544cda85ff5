"""``SearchExperiment``: the Pareto front of the Python API with WAR, UAR and energy per member; its command channel."""
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.space import SimplifiedModelSpace

import nni
from test_protocol import SMALL_SPACE, architecture_metrics
from tnas_plugin.jobs.experiment import FrontMember, SearchExperiment, _ChannelSkippingImports
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


def test_the_nas_channel_skips_the_commands_a_resumed_manager_sends_for_tuners():
    channel = _ChannelSkippingImports("ws://127.0.0.1:9/tuner")  # never connected
    commands = iter([{"type": "FD", "content": "[]"}, {"type": "AD", "content": "{}"}, {"type": "GE", "content": "2"}])
    channel._channel.receive = lambda: next(commands)  # ImportData, AddCustomizedTrialJob, RequestTrialJobs
    assert channel.receive().count == 2
