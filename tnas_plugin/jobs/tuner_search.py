"""The search of ``tnas-er search``: an NNI HPO-style experiment with TNASEvolutionTuner and light trials.

Why not ``NasExperiment``: each NAS-mode trial process imports ``nni.nas.execution.training_service`` and
unpickles NNI's evaluator, which loads PyTorch Lightning — seconds of start-up per trial, longer than a
low-fidelity training. Here the experiment is the one ``nnictl create --config examples/see_search.yml``
runs, started from Python: the search space exported from :class:`~tnas_plugin.search_spaces.TTFSEyeSpace`,
:class:`~tnas_plugin.strategies.TNASEvolutionTuner` (de-duplicating on the canonical form of a sample,
the hand-crafted network and its one-change neighbours seeded into the initial population), and the
Lightning-free trial entry ``python -m tnas_plugin.strategies.trial`` — ``trial_concurrency`` trials side
by side, one torch thread each. NNI's web UI shows every trial with its metric dict while it runs. The
tuner keeps its own state in NNI's checkpoint folder, so a stopped search resumes where it stopped.

The history and the Pareto front are read back from NNI's database (every trial's parameters and final
metrics) and ranked with the same NSGA-II core the tuner runs.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from tnas_plugin.search_spaces.eye_space import EyeSpaceChoices
from tnas_plugin.strategies.nni_records import read_trials

from .signals import say

CANONICAL = "tnas_plugin.search_spaces.eye_space:canonical_sample"


def trial_command(data: Path, space_args: dict, evaluator_args: dict, threads: int = 1, pool: str | None = None) -> str:
    """The shell command of one trial (the interpreter running this job, by full path): the plain trial entry, or
    with ``pool`` (a warm trial pool's socket, :mod:`.warm_trials`) its client handing the same arguments to it."""
    entry = ["-m", "tnas_plugin.strategies.trial"] if pool is None else \
        ["-m", "tnas_plugin.jobs.warm_trials", "--socket", shlex.quote(pool), "--"]
    return " ".join([shlex.quote(sys.executable), *entry,
                     "--data", shlex.quote(str(Path(data).resolve())),
                     "--space-args", shlex.quote(json.dumps(space_args)),
                     "--evaluator-args", shlex.quote(json.dumps(evaluator_args)),
                     "--threads", str(threads)])


def tuner_config(*, data: Path, work: Path, budget: int, concurrency: int, space_args: dict, evaluator_args: dict,
                 tuner_args: dict, pool: str | None = None):
    """The NNI ``ExperimentConfig``: search space, tuner, trial command (on the warm trial pool ``pool`` if
    given), local training service; every path absolute (``work``: NNI's experiment folder, the trial and
    tuner code folder)."""
    from nni.experiment import ExperimentConfig
    from nni.experiment.config import CustomAlgorithmConfig, LocalConfig

    return ExperimentConfig(
        experiment_name="tnas-er-search",
        experiment_working_directory=str(work.resolve()),
        search_space=EyeSpaceChoices(**space_args).hpo_space(),
        trial_command=trial_command(data, space_args, evaluator_args, pool=pool),
        trial_code_directory=str(work.resolve()),
        trial_concurrency=concurrency,
        max_trial_number=budget,
        tuner=CustomAlgorithmConfig(class_name="tnas_plugin.strategies.TNASEvolutionTuner",
                                    code_directory=str(work.resolve()),
                                    class_args={**tuner_args, "canonical": CANONICAL}),
        training_service=LocalConfig(use_active_gpu=False),
    )


def tuner_experiment(*, work: Path, experiment_id: str, **config):
    """The NNI ``Experiment`` (not started) of :func:`tuner_config`, its folder ``work`` created."""
    from .experiment import TunerExperiment

    work.mkdir(parents=True, exist_ok=True)
    return TunerExperiment(tuner_config(work=work, **config), id=experiment_id)


def nnictl_yaml(options, folder: Path) -> str:
    """The nnictl configuration of the search ``tnas-er search`` runs with ``options`` (``SearchOptions``), every
    path absolute so that it runs from any folder: NNI's experiments in its default folder, the trial and tuner
    code folder ``folder``."""
    import yaml

    config = tuner_config(data=options.data, work=folder, budget=options.budget, concurrency=options.concurrency,
                          space_args={"resolution": options.resolution}, evaluator_args=options.evaluator_settings(),
                          tuner_args=options.evolution_args()).json()
    del config["experimentWorkingDirectory"]  # NNI's default, ~/nni-experiments
    return yaml.safe_dump(config, sort_keys=False)


def search_results(database: Path, search_space: dict, tuner_args: dict) -> tuple[list[dict], list[dict]]:
    """(every finished trial as ``{"params", "metrics"}`` — ``None`` for a failed one — in the tuner's
    proposal order, the Pareto front best first), ranked by the tuner's NSGA-II core with the tuner's objectives.

    The order comes from the tuner's saved state (``checkpoint/`` next to ``db/``), not from NNI's trial
    numbers, which a resume can restart from 1; trials NNI recorded that the state lacks come last.
    """
    from tnas_plugin.strategies.evolution_core import EvolutionOptions, ParetoEvolution
    from tnas_plugin.strategies.tuner import CHECKPOINT_FILE

    options = {key: value for key, value in tuner_args.items() if key in ("objectives", "budgets", "constraints")}
    core = ParetoEvolution(search_space, EvolutionOptions.from_dict(options))
    state = database.parent.parent / "checkpoint" / CHECKPOINT_FILE
    if state.is_file():
        core.load_state_dict(json.loads(state.read_text()))
    for trial in read_trials(database):
        if core.has_result(trial.params):
            continue
        if trial.status == "SUCCEEDED" and trial.metrics is not None:
            core.tell(trial.params, trial.metrics)
        elif trial.status in ("FAILED", "EARLY_STOPPED") or (trial.status == "SUCCEEDED" and trial.metrics is None):
            core.tell(trial.params, None)
    history = core.history()
    return history, core.pareto_front() if history else []


def announce(experiment, resume: bool, port: int) -> None:
    say(f"{'resuming' if resume else 'starting'} NNI experiment {experiment.id} on port {port}: "
        f"{experiment.config.max_trial_number} trials, {experiment.config.trial_concurrency} side by side")
