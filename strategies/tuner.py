"""``TNASEvolutionTuner``: the NSGA-II core (:mod:`.evolution_core`) as an NNI 3.0 tuner for ``nnictl``.

Config (``examples/see_search.yml``, ``examples/sklearn/config.yml``)::

    tuner:
      codeDirectory: .
      className: tnas_plugin.strategies.TNASEvolutionTuner
      classArgs: {objectives: {war: max, uar: max}, population_size: 20, seed: 0}

or, after ``nnictl algo register --meta strategies/meta.yml``, ``tuner: {name: TNASEvolution, classArgs: ...}``.
The search space is any NNI HPO space (``choice``, ``randint``, ``(q)uniform``, ``(q)loguniform``,
``(q)normal``, ``(q)lognormal``); each trial reports one dict holding the objective keys, which the
tuner receives whole.

Robustness. NNI's dispatcher calls a tuner from two threads (its command queue and its trial-end queue);
every callback here runs under one lock, and the state file is written atomically
(:func:`tnas_plugin.atomic.atomic_file`), so a reader only ever sees a whole state. An
exception inside a callback is logged (``dispatcher.log``) and never propagates into the dispatcher,
whose worker thread would die and leave the experiment ``RUNNING`` with nothing running: a failed
proposal ends the search (``NoMoreTrialError``, the experiment reaches ``DONE``), a failed result or
trial end is skipped.

Resume (``nnictl resume ID``): the tuner writes its state (:data:`CHECKPOINT_FILE`, plain JSON, the
core's ``state_dict``) to NNI's checkpoint directory after every proposal and result and reloads it on
resume, so the search continues where it stopped. Candidates that were running when the experiment
stopped are proposed again first (``ParetoEvolution.requeue_pending``), except those NNI restarts itself
(:func:`_forward_recovered_trials`); results NNI re-imports that the state already holds are ignored. What
NNI does on resume: docs/ARCHITECTURE.md, "What NNI 3.0 does on resume".

Determinism (docs/ARCHITECTURE.md, "Determinism"): with a ``seed``, the same search whatever the trials' timing
and across stops and resumes.
"""
from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable

import nni
from nni.common.serializer import load as nni_load
from nni.tuner import Tuner
from nni.utils import ClassArgsValidator

from tnas_plugin.atomic import atomic_file

from . import nni_compat
from .evolution_core import LATE_RESULT_GRACE_S, AwaitingResults, EvolutionOptions, ParetoEvolution, SearchExhausted
from .nni_records import RecordsError, database_path, load_object, parameters_each_result_ran

_logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "tnas_evolution_state.json"


def _guarded(on_error: str):
    """Run a tuner callback under the tuner's lock; log any exception instead of raising it.

    ``on_error="stop"``: raise ``nni.NoMoreTrialError`` (what NNI expects when a tuner has nothing to
    propose) after logging; ``"skip"``: return ``None``.
    """

    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                with self._lock:
                    return method(self, *args, **kwargs)
            except nni.NoMoreTrialError:
                raise
            except Exception:
                _logger.exception("TNASEvolutionTuner.%s failed; the experiment goes on", method.__name__)
                if on_error == "stop":
                    raise nni.NoMoreTrialError(f"TNASEvolutionTuner.{method.__name__} failed (see dispatcher.log)")
                return None

        return guarded

    return wrap


class TNASEvolutionTuner(Tuner):
    """nnictl tuner running generational NSGA-II (Deb et al., IEEE TEVC 2002) over any metric keys.

    ``classArgs`` are the keyword arguments of :class:`~tnas_plugin.strategies.evolution_core.EvolutionOptions`
    (``objectives``, ``log_scale``, ``budgets``, ``constraints``, ``population_size``, ``seed``, ``initial_population``,
    ...), validated at construction (NNI only logs tuner errors to ``dispatcher.log``), plus ``canonical``:
    ``"module:function"`` naming ``function(sample, search_space) -> sample``, the representative of every
    sample that builds the same model (for the TTFS eye space
    ``"tnas_plugin.search_spaces.eye_space:canonical_sample"``); the tuner then never proposes one model
    twice. A trial that fails or ends without a final result is recorded as failed and never proposed again.

    With a ``seed`` the search is reproducible (docs/ARCHITECTURE.md, "Determinism"): a request NNI makes
    while the next generation still awaits results is answered later, through the ``st_callback`` NNI's
    dispatcher passes to :meth:`generate_multiple_parameters`, as soon as that generation is bred.

    Parameters
    ----------
    canonical
        ``"module:function"`` naming ``function(sample, search_space) -> sample`` (see above); ``None``:
        no de-duplication of samples that build the same model.
    **options
        The search's options, keyword-only: the fields of :class:`.evolution_core.EvolutionOptions`
        (objectives, budgets, population, proposal model, seed, initial population...), documented there
        and validated at construction.

    Example
    -------
    In an nnictl experiment configuration (``examples/see_search.yml``)::

        tuner:
          codeDirectory: ..
          className: tnas_plugin.strategies.TNASEvolutionTuner
          classArgs:
            objectives: {war: max, uar: max, energy_uj: min}
            canonical: tnas_plugin.search_spaces.eye_space:canonical_sample
            population_size: 10
            seed: 0

    or directly:

    >>> tuner = TNASEvolutionTuner(canonical="tnas_plugin.search_spaces.eye_space:canonical_sample",
    ...                            objectives={"war": "max", "uar": "max"}, population_size=10, seed=0)
    >>> from tnas_plugin.search_spaces import EyeSpaceChoices
    >>> tuner.update_search_space(EyeSpaceChoices().hpo_space())  # doctest: +SKIP
    """

    def __init__(self, canonical: str | None = None, **options: Any):
        super().__init__()
        nni_compat.apply()  # this process decodes the manager's commands
        self.options = EvolutionOptions.from_dict(options)
        self.canonical = _check_function_name(canonical)
        self.core: ParetoEvolution | None = None
        self.late_result_grace_s = LATE_RESULT_GRACE_S
        self._lock = threading.RLock()
        self._running: dict[int, dict] = {}  # parameter id -> parameters, until a result or the trial's end
        self._waiting: list[int] = []  # parameter ids NNI asked for while the next generation awaited results
        self._send: Callable[[int, dict], None] | None = None  # NNI's st_callback
        self._checkpoint: dict | None = None
        _forward_recovered_trials()

    @_guarded("skip")
    def update_search_space(self, search_space: dict) -> None:
        """Start the search, or restart it on a changed space keeping the results that fit the new one.

        On resume (a checkpoint was loaded), the saved search continues and the candidates it had
        pending are proposed again first.
        """
        canonical = None
        if self.canonical is not None:  # imported here, not in __init__: NNI gives the tuner 10 s to connect
            canonical = functools.partial(load_object(self.canonical), search_space=search_space)
        core = ParetoEvolution(search_space, self.options, canonical)
        if self.core is not None:
            for entry in self.core.history():
                self._tell(core, entry["params"], entry["metrics"])
        elif self._checkpoint is not None:
            try:
                core.load_state_dict(self._checkpoint)
                _logger.info("Resumed the search from the checkpoint (%d results).", len(core.history()))
                requeued = core.requeue_pending()
                if requeued:
                    _logger.info("Proposing first the %d candidate(s) pending when the search stopped: %s",
                                 len(requeued), requeued)
            except ValueError as mismatch:
                _logger.warning("Checkpoint not used: %s", mismatch)
            self._checkpoint = None
        self.core = core
        self.save_checkpoint()

    @_guarded("stop")
    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict:
        """One proposal now; ``nni.NoMoreTrialError`` when the space is exhausted or, since a single call
        cannot be answered later, when the next generation awaits results."""
        params = self._propose()
        if params is None:
            raise nni.NoMoreTrialError("no proposal now: the next generation awaits results, or the space is exhausted")
        self._running[parameter_id] = params
        self.save_checkpoint()
        return params

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict]:
        """NNI's request for ``len(parameter_id_list)`` trials: the proposals available now, for the first
        ids; the other ids wait for the results the next generation is bred from and get their
        parameters through ``st_callback`` (NNI's dispatcher then briefly reports "no more trials" and
        returns to RUNNING with the next one). Never raises: an error is logged and ends the proposals."""
        try:
            with self._lock:
                self._send = kwargs.get("st_callback", self._send)
                if self._waiting:  # earlier ids are served first, later
                    self._waiting.extend(parameter_id_list)
                    return []
                proposals = []
                for parameter_id in parameter_id_list:
                    params = self._propose()
                    if params is None:
                        break
                    self._running[parameter_id] = params
                    proposals.append(params)
                if len(proposals) < len(parameter_id_list) and self._send is not None and self._require_core().awaiting_results():
                    self._waiting.extend(parameter_id_list[len(proposals):])
                    _logger.info("%d trial request(s) wait for the results of generation %d.",
                                 len(self._waiting), self._require_core().generation)
                self.save_checkpoint()
                return proposals
        except Exception:
            _logger.exception("TNASEvolutionTuner.generate_multiple_parameters failed; the experiment goes on")
            return []

    @_guarded("skip")
    def receive_trial_result(self, parameter_id: int, parameters: dict, value: Any, **kwargs: Any) -> None:
        params = self._running.pop(parameter_id, None) or parameters  # NNI may pass '' (its NoMoreTrialJobs)
        self._tell(self._require_core(), params, value)
        self._serve_waiting()

    @_guarded("skip")
    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A trial ended. Without a final result it is recorded as failed: at once if it failed, else after
        ``late_result_grace_s`` (NNI may deliver the end before the result; a late result still counts).
        ``parameters`` (keyword) names the candidate of a trial NNI restarted on resume."""
        params = self._running.get(parameter_id) or kwargs.get("parameters")
        if not params or self._require_core().has_result(params):
            self._running.pop(parameter_id, None)
            return
        if success and self.late_result_grace_s > 0:  # the id stays known: NNI may pass the result without parameters
            timer = threading.Timer(self.late_result_grace_s, self._no_result, args=(parameter_id, params, success))
            timer.daemon = True
            timer.start()
        else:
            self._no_result(parameter_id, params, success)

    @_guarded("skip")
    def _no_result(self, parameter_id: int, params: dict, success: bool) -> None:
        self._running.pop(parameter_id, None)
        if not self._require_core().has_result(params):
            _logger.warning("Trial of %s ended (success=%s) without a final result: recorded as failed (the reason ends "
                            "the trial's trial.stderr, in the experiment's folder under environments/*/trials/<trial ID>/).",
                            params, success)
            self._tell(self._require_core(), params, None)
            self._serve_waiting()

    @_guarded("skip")
    def import_data(self, data: list[dict]) -> None:
        """Results of earlier trials (``nnictl resume`` / ``nnictl experiment import``): ``parameter`` + ``value``.

        NNI re-imports each trial's result under the parameters it assigned the trial, and NNI 3.0's local
        training service can hand a trial another trial's parameters (docs/ARCHITECTURE.md, "What NNI 3.0
        does on resume"). So a result of a trial NNI's database knows is paired with the parameters the
        trial reported it ran, and a candidate the search state already records, with a result or as
        failed, keeps that record."""
        core = self._require_core()
        ran = self._parameters_each_result_ran() if any("trialJobId" in entry for entry in data) else {}
        for entry in data:
            params = ran.get(entry.get("trialJobId"), entry["parameter"])
            if not core.records(params):
                self._tell(core, params, entry["value"])
        self._serve_waiting()

    def _parameters_each_result_ran(self) -> dict[str, dict]:
        """Trial ID -> the parameters its result was computed with, from the experiment's NNI database
        (next to the checkpoint folder); none when there is none to read."""
        directory = self.get_checkpoint_path()
        database = None if directory is None else database_path(Path(directory).parent)
        if database is None or not database.is_file():
            return {}
        try:
            return parameters_each_result_ran(database)
        except RecordsError as unreadable:
            _logger.warning("Imported results keep NNI's pairing with parameters: %s", unreadable)
            return {}

    @_guarded("skip")
    def recovered_trials(self, parameters: list[dict]) -> None:
        """NNI restarts, on resume, the trials it had running: they are not proposed again (``ParetoEvolution.claim``)."""
        for params in parameters:
            self._require_core().claim(params)
        self.save_checkpoint()

    def pareto_front(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._require_core().pareto_front()

    @_guarded("skip")
    def load_checkpoint(self) -> None:
        """Called by NNI's dispatcher on resume, before the search space arrives."""
        path = self._checkpoint_file()
        if path is not None and path.is_file():
            self._checkpoint = json.loads(path.read_text())

    @_guarded("skip")
    def save_checkpoint(self) -> None:
        """Write the search state atomically (:func:`tnas_plugin.atomic.atomic_file`)."""
        path = self._checkpoint_file()
        if path is None or self.core is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as out:
            json.dump(self.core.state_dict(), out)

    def _propose(self) -> dict | None:
        """The next proposal, or ``None`` while the next generation awaits results or once the space is exhausted."""
        try:
            return self._require_core().ask()
        except AwaitingResults:
            return None
        except SearchExhausted as exhausted:
            _logger.info("No more proposals: %s", exhausted)
            return None

    def _serve_waiting(self) -> None:
        """Send parameters to the ids NNI asked for earlier, as far as the results in now allow; save the state."""
        while self._waiting and self._send is not None:
            params = self._propose()
            if params is None:
                if not self._require_core().awaiting_results():
                    self._waiting.clear()
                break
            parameter_id = self._waiting.pop(0)
            self._running[parameter_id] = params
            self._send(parameter_id, params)
        self.save_checkpoint()

    def _checkpoint_file(self) -> Path | None:
        directory = self.get_checkpoint_path()
        return None if directory is None else Path(directory) / CHECKPOINT_FILE

    def _require_core(self) -> ParetoEvolution:
        if self.core is None:
            raise RuntimeError("TNASEvolutionTuner has no search space yet (or it was refused: see above)")
        return self.core

    @staticmethod
    def _tell(core: ParetoEvolution, params: dict, value: Any) -> None:
        try:
            core.tell(params, value)
        except ValueError as outside:
            _logger.warning("Result skipped: %s", outside)


def _forward_recovered_trials() -> None:
    """Let NNI 3.0's dispatcher tell this tuner about the trials it restarts on resume (once per process):
    their ends go to :meth:`TNASEvolutionTuner.trial_end` with their parameters, the restarted candidates to
    :meth:`TNASEvolutionTuner.recovered_trials` (why: docs/ARCHITECTURE.md, "What NNI 3.0 does on resume").
    """
    from nni.runtime.msg_dispatcher import MsgDispatcher

    if getattr(MsgDispatcher, "_tnas_forwards_recovered", False):
        return
    handle_trial_end, handle_add_customized_trial = MsgDispatcher.handle_trial_end, MsgDispatcher.handle_add_customized_trial

    def trial_end(self, data):
        hyper = nni_load(data["hyper_params"])
        if isinstance(self.tuner, TNASEvolutionTuner) and self.is_created_in_previous_exp(hyper["parameter_id"]):
            self.tuner.trial_end(hyper["parameter_id"], data["event"] == "SUCCEEDED", parameters=hyper.get("parameters"))
            return
        handle_trial_end(self, data)

    def add_customized_trial(self, data):
        handle_add_customized_trial(self, data)
        if isinstance(self.tuner, TNASEvolutionTuner):
            trials = [json.loads(trial) if isinstance(trial, str) else trial for trial in (data if isinstance(data, list) else [data])]
            self.tuner.recovered_trials([trial["parameters"] for trial in trials if trial.get("parameter_source") == "resumed"])

    MsgDispatcher.handle_trial_end, MsgDispatcher.handle_add_customized_trial = trial_end, add_customized_trial
    MsgDispatcher._tnas_forwards_recovered = True


def _check_function_name(name: str | None) -> str | None:
    if name is not None and (not isinstance(name, str) or not all(name.partition(":")[::2]) or name.count(":") != 1):
        raise ValueError(f"canonical must name a function as 'module:function', got {name!r}")
    return name


class TNASEvolutionClassArgsValidator(ClassArgsValidator):
    """``classArgsValidator`` of ``strategies/meta.yml``: the same checks as the tuner's constructor."""

    def validate_class_args(self, **kwargs: Any) -> None:
        _check_function_name(kwargs.pop("canonical", None))
        EvolutionOptions.from_dict(kwargs)
