"""Running NNI experiments that can be stopped at any moment and resumed (docs/ARCHITECTURE.md, "Reliability").

:func:`run_to_completion` runs or resumes any NNI experiment for ``tnas-er search`` (the HPO-style
search with ``TNASEvolutionTuner``, or ``--engine nas``): one line per trial event, NNI's manager
stopped on every path, and, before a tuner resume, :func:`prepare_tuner_state`. A resume of a run stopped
before anything was recorded starts it afresh.

``TunerExperiment`` is NNI's HPO ``Experiment`` and ``SearchExperiment`` an NNI ``NasExperiment`` that resumes,
both :class:`PatientManager`: NNI's waits at start-up long enough for a loaded machine, its manager stopped
within seconds, and on resume the trials the stop cancelled given back to the budget.
:meth:`SearchExperiment.front` gives the Pareto front with each member's metrics (``export_top_models`` gives
the architectures only).

NNI 3.0's own NAS resume loses the strategy state and ends at once (docs/ARCHITECTURE.md, "What NNI 3.0
does on resume"). Here instead:

* the strategy's ``state_dict()`` (plain JSON for :class:`~tnas_plugin.strategies.TNASEvolution`) is
  written to ``state_file`` atomically, when the experiment starts and stops and whenever
  :meth:`save_strategy_state` is called (``tnas-er search --engine nas`` calls it after every trial);
* :meth:`resume` reloads it through the strategy's ``load_state_dict``, which proposes again first the
  candidates whose trials were running at the stop (``ParetoEvolution.requeue_pending``, the mechanism
  the nnictl tuner uses too); ``config.max_trial_number`` stays the number of results the search
  collects, although NNI counts the trials the stop cancelled against it;
* once loading has failed, nothing is saved any more: a failed resume never overwrites saved state;
* the resumed manager's ``ImportData`` commands, which NNI 3.0's NAS channel cannot decode, are skipped.

The experiment keeps its ID, so NNI's web UI shows one experiment with every trial.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nni.experiment import Experiment
from nni.nas.experiment import NasExperiment
from nni.runtime.tuner_command_channel import TunerCommandChannel
from nni.runtime.tuner_command_channel.command_type import CommandType

from tnas_plugin.atomic import write_atomic
from tnas_plugin.strategies.manager_start import patient_manager_start, stop_manager
from tnas_plugin.strategies.nni_records import cancelled_without_result, database_path, load_object, read_trials

from tnas_plugin.errors import InputError

from .trial_log import TrialMonitor

_logger = logging.getLogger(__name__)

STATE_FILE = "strategy-state.json"
MANAGER_ROUND_S = 30.0  # longest wait for NNI's manager to act on a raised trial budget


class ResumeError(InputError):
    """The saved state could not be loaded; it was left untouched (exit status 1 from the command line)."""


class PatientManager:
    """Mixed into an NNI experiment: its manager gets the time a loaded machine needs to start, and stops
    within seconds whatever state it is in (:mod:`tnas_plugin.strategies.manager_start`).

    NNI gives its manager 3 s to answer and the tuner 10 s to connect; its ``stop`` asks the manager to stop
    and waits without a limit, and a manager whose tuner is still starting waits for that tuner, after which
    the tuner prints a ``ConnectionRefusedError`` (docs/ARCHITECTURE.md, "Start-up and stop on a busy machine").
    """

    def _start_nni_manager(self, *args, **kwargs):
        with patient_manager_start():
            return super()._start_nni_manager(*args, **kwargs)

    def _stop_nni_manager(self) -> None:
        if self._proc is not None:
            stop_manager(self._proc.pid, self.port, self.url_prefix)
        self.port = None
        self._proc = None

    def raise_trial_limit(self, limit: int) -> None:
        """Set the running manager's ``max_trial_number`` to ``limit`` and give it a round to act: a manager
        resumed at its old limit starts DONE and turns RUNNING at its next round (~5 s), and the search must
        not look before, or it finds no budget and ends at once."""
        self.update_max_trial_number(limit)
        deadline = time.monotonic() + MANAGER_ROUND_S
        while self.get_status() == "DONE" and time.monotonic() < deadline:
            time.sleep(0.5)


class TunerExperiment(PatientManager, Experiment):
    """NNI's HPO ``Experiment`` (``TNASEvolutionTuner`` and the trial entry), :class:`PatientManager`; on
    resume, the trials the stop cancelled are added back to the budget (the budget counts results)."""

    def start(self, *args, **kwargs) -> None:
        cancelled = 0
        if self._action == "resume" and self.config.max_trial_number:
            folder = Path(self.config.canonical_copy().experiment_working_directory) / self.id
            cancelled = cancelled_without_result(database_path(folder))
        super().start(*args, **kwargs)
        if cancelled:
            _logger.info("%d trial(s) the stop cancelled do not count against the budget.", cancelled)
            self.raise_trial_limit(self.config.max_trial_number + cancelled)


class _ChannelSkippingImports(TunerCommandChannel):
    """NNI's tuner command channel for NAS, skipping the commands it cannot decode (``ImportData``,
    ``AddCustomizedTrialJob``: sent on resume, for tuners)."""

    SKIPPED = frozenset({CommandType.ImportData, CommandType.AddCustomizedTrialJob})

    def _receive(self):
        while True:
            command_type, content = super()._receive()
            if command_type not in self.SKIPPED:
                return command_type, content
            _logger.info("Skipping NNI's %s command: the NAS engine has no use for it.", command_type.name)


@dataclass(frozen=True)
class FrontMember:
    """One network of the Pareto front: its architecture (the sample ``export_top_models(formatter="dict")``
    gives) and its trial's validation metrics (docs/ARCHITECTURE.md, "Metrics"); ``energy_uj`` is ``None``
    when the trials report no energy."""

    sample: dict
    war: float
    uar: float
    energy_uj: float | None
    metrics: dict  #: the trial's whole final metric dict

    @classmethod
    def of(cls, sample: dict, metrics: dict) -> "FrontMember":
        return cls(sample, metrics["war"], metrics["uar"], metrics.get("energy_uj"), metrics)


class SearchExperiment(PatientManager, NasExperiment):
    """``NasExperiment(model_space, evaluator, strategy, id=...)`` with a JSON strategy state.

    Parameters
    ----------
    model_space, evaluator, strategy, config, id
        As for :class:`nni.nas.experiment.NasExperiment`; to resume, pass the same space, evaluator and
        strategy arguments and the stopped experiment's ``id``, then call ``resume(port=...)``.
    state_file
        Where the strategy state is kept (default: ``strategy-state.json`` in NNI's checkpoint folder of
        the experiment, under ``config.experiment_working_directory``).

    Example
    -------
    >>> experiment = SearchExperiment(TTFSEyeSpace(), TNASEvaluator("data/synthetic-see"), TNASEvolution(seed=0))
    >>> experiment.run(port=8080)            # stopped by Ctrl-C or experiment.stop()
    >>> SearchExperiment(TTFSEyeSpace(), TNASEvaluator("data/synthetic-see"), TNASEvolution(seed=0),
    ...                  id=experiment.id).resume(port=8080)
    """

    def __init__(self, model_space, evaluator, strategy, config=None, id: str | None = None,
                 state_file: str | Path | None = None):
        super().__init__(model_space, evaluator, strategy, config, id=id)
        self._state_file = None if state_file is None else Path(state_file)
        self._state_refused = False

    def front(self) -> list[FrontMember]:
        """The Pareto front, best first by the first objective (the models ``export_top_models(top_k=None)``
        lists, in its order), each with its trial's whole metric dict: WAR, UAR, energy and the rest, on the
        validation split. NNI keeps only a model's ``default``; the metric dicts come from the strategy's
        ``pareto_front()`` (:class:`~tnas_plugin.strategies.TNASEvolution`). Call it after ``run``, as
        ``export_top_models``."""
        pareto_front = getattr(self.strategy, "pareto_front", None)
        if pareto_front is None:
            raise TypeError(f"front() needs the TNASEvolution strategy (its pareto_front()); this experiment runs "
                            f"{type(self.strategy).__name__}: use export_top_models")
        return [FrontMember.of(self.strategy.model_space.freeze(entry["params"]).sample, entry["metrics"])
                for entry in pareto_front()]

    def execution_engine_factory(self, config):
        """NNI's engine, with a command channel that skips the tuner commands of a resume (docs/ARCHITECTURE.md,
        "What NNI 3.0 does on resume"); the strategy's state holds those results already."""
        from nni.nas.execution import training_service

        channel = training_service.TunerCommandChannel
        training_service.TunerCommandChannel = _ChannelSkippingImports
        try:
            return super().execution_engine_factory(config)
        finally:
            training_service.TunerCommandChannel = channel

    @property
    def state_file(self) -> Path:
        return self._state_file or self._checkpoint_directory / STATE_FILE

    def save_strategy_state(self) -> None:
        """Write the strategy state now (atomically); a no-op before the strategy runs or after a failed load."""
        if self._state_refused or self._engine is None or getattr(self.strategy, "core", True) is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.state_file, json.dumps(self.strategy.state_dict()) + "\n")

    def save_checkpoint(self) -> None:
        """Called by NNI when the experiment starts and stops: the config as NNI writes it, then the state."""
        if self._state_refused:
            _logger.warning("Not saving the strategy state: loading %s failed, it is kept as it was.", self.state_file)
            return
        self._checkpoint_directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self._checkpoint_directory / "config.json", json.dumps(self.config.json(), indent=2))
        self.save_strategy_state()

    def load_checkpoint(self) -> None:
        """Called by NNI on resume, once before the engine exists (nothing to do) and once after."""
        if self._engine is None:
            if not self.state_file.is_file():
                self._state_refused = True
                raise ResumeError(f"{self.state_file}: no saved strategy state for experiment {self.id}")
            return
        try:
            state = json.loads(self.state_file.read_text())
            self.strategy.load_state_dict(state)
        except Exception as error:
            self._state_refused = True
            raise ResumeError(f"{self.state_file}: cannot continue the search ({type(error).__name__}: {error}); "
                              "the saved state is left as it was") from error
        core = getattr(self.strategy, "core", None)
        if core is not None and self.config.max_trial_number:
            # NNI counts every trial submitted so far against max_trial_number, the ones the stop
            # cancelled included; the budget is the number of results, so the remaining trials are:
            remaining = max(0, self.config.max_trial_number - len(core.history()))
            if remaining:
                self.raise_trial_limit(len(self.list_trial_jobs()) + remaining)
            else:
                self.update_max_trial_number(len(self.list_trial_jobs()))


def run_to_completion(experiment, port: int, resume: bool = False, on_end: Callable[[], None] | None = None) -> bool:
    """Run (or resume) an NNI experiment (HPO or NAS) until its search ends, one line per trial event.

    NNI's manager is stopped on every path; ``on_end`` is called after every trial (a
    :class:`SearchExperiment` passes ``save_strategy_state``). Returns True once the search completed,
    False when it was stopped (NNI handles Ctrl-C/SIGTERM as a stop).
    """
    directory = Path(experiment.config.canonical_copy().experiment_working_directory)
    if resume and nothing_recorded(experiment, directory):
        # stopped while NNI started (before its tuner saved a state or a trial ran): start afresh, same ID
        shutil.rmtree(directory / experiment.id, ignore_errors=True)
        resume = False
    if resume and not experiment.has_checkpoint():
        if database_path(directory / experiment.id).is_file():
            raise ResumeError(f"NNI has no record of experiment {experiment.id} on this machine "
                              "(~/nni-experiments/.experiment): it cannot be resumed here")
        resume = False  # stopped before NNI's manager recorded anything: start it now, under the same ID
    if resume and not isinstance(experiment, SearchExperiment):
        prepare_tuner_state(experiment, directory)
    outcome, stopped_by_nni = None, False
    with TrialMonitor(database_path(directory / experiment.id), on_end=on_end):
        try:
            outcome = (experiment.resume if resume else experiment.run)(port=port, wait_completion=True)
            stopped_by_nni = outcome is None  # NNI stops the experiment itself on KeyboardInterrupt
        finally:
            if not stopped_by_nni:
                experiment.stop()
    return outcome is True


def state_path(experiment, directory: Path) -> Path:
    """Where the experiment's search state is saved: the NAS strategy's (:class:`SearchExperiment`) or the tuner's."""
    from tnas_plugin.strategies.tuner import CHECKPOINT_FILE

    if isinstance(experiment, SearchExperiment):
        return experiment.state_file
    return directory / experiment.id / "checkpoint" / CHECKPOINT_FILE


def nothing_recorded(experiment, directory: Path) -> bool:
    """True when the experiment has neither a saved search state nor a trial in NNI's database."""
    return not state_path(experiment, directory).is_file() and not read_trials(database_path(directory / experiment.id))


def prepare_tuner_state(experiment, directory: Path) -> None:
    """Before resuming an HPO experiment run by ``TNASEvolutionTuner``: check its saved state, and leave
    the trials NNI re-runs itself to NNI.

    * A tuner that cannot load its state starts afresh and saves that empty state over the good one, so
      a state that does not fit (unreadable, another search space or options) stops the resume here,
      before NNI starts, and stays as it was; a copy ``<state>.before-resume`` is kept as well.
    * NNI's manager re-runs the trials that were running at the stop (same trial ID and parameters,
      its ``addRecoveredTrialJob``), and the tuner proposes its orphaned candidates again
      (``requeue_pending``): a candidate in both would run twice. Those NNI re-runs are taken out of the
      tuner's pending list here; their results reach the tuner as any result does.
    * A trial that failed as the search stopped, before the tuner heard of it, is recorded as failed here:
      NNI's resume sends the tuner the results of trials that succeeded (``ImportData``), not failures,
      and the failure counts against the budget like any result.
    """
    from tnas_plugin.strategies.evolution_core import EvolutionOptions, ParetoEvolution

    tuner = experiment.config.tuner
    if tuner is None or not str(tuner.class_name or tuner.name or "").endswith(("TNASEvolutionTuner", "TNASEvolution")):
        return
    path = state_path(experiment, directory)
    arguments = dict(tuner.class_args or {})
    canonical = arguments.pop("canonical", None)
    try:
        state = json.loads(path.read_text())
        if canonical:
            canonical = functools.partial(load_object(canonical), search_space=experiment.config.search_space)
        core = ParetoEvolution(experiment.config.search_space, EvolutionOptions.from_dict(arguments), canonical)
        core.load_state_dict(state)
    except (OSError, ValueError, KeyError, TypeError, ImportError, AttributeError) as error:
        raise ResumeError(f"{path}: cannot continue the search ({type(error).__name__}: {error}); "
                          "the saved state is left as it was") from None
    write_atomic(path.with_name(path.name + ".before-resume"), json.dumps(state))
    rerun, failed = set(), 0
    for trial in read_trials(database_path(directory / experiment.id)):
        with contextlib.suppress(ValueError):  # parameters outside the space: not the tuner's
            if trial.status in ("WAITING", "RUNNING"):
                rerun.add(tuple(core.encode(trial.params)))
            elif trial.status == "FAILED" and not core.has_result(trial.params):
                core.tell(trial.params, None)
                failed += 1
    if failed:
        state = {**state, **core.state_dict()}
        _logger.info("%d trial(s) failed as the search stopped, before the tuner heard of it; recorded as failed.", failed)
    if rerun:
        for key in ("pending", "requeued"):
            state[key] = [genome for genome in state.get(key, []) if tuple(genome) not in rerun]
        _logger.info("NNI re-runs %d trial(s) it had running; they are no longer pending in the tuner.", len(rerun))
    if failed or rerun:
        write_atomic(path, json.dumps(state))
