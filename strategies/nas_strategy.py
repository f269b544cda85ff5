"""``TNASEvolution``: the NSGA-II core (:mod:`.evolution_core`) as an NNI 3.0 NAS strategy.

Use it like any NNI strategy: ``NasExperiment(space, evaluator, TNASEvolution(seed=0)).run(port=8080)``.
The evaluator must report a dict per trial holding the objective keys (``war`` and ``uar`` by default)
and ``default`` (NNI's engine keeps only ``default`` as ``model.metric``; the strategy reads the full dict
from the engine's final-metric event instead). ``export_top_models(top_k=None)`` returns the Pareto front.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Iterator

from nni.common.serializer import SerializableObject
from nni.mutable import Categorical, MutableAnnotation, Numerical, SampleValidationError
from nni.nas.execution import ExecutionEngine
from nni.nas.execution.event import FinalMetricEvent, ModelEventType, TrainingEndEvent
from nni.nas.space import ExecutableModelSpace, ModelStatus
from nni.nas.strategy.base import Strategy, StrategyStatus

from . import nni_compat
from .evolution_core import LATE_RESULT_GRACE_S, AwaitingResults, EvolutionOptions, ParetoEvolution, SearchExhausted

_logger = logging.getLogger(__name__)


def hpo_space(model_space: ExecutableModelSpace) -> dict[str, dict]:
    """The model space's mutables as an NNI HPO search-space dict.

    ``nni.choice`` (and ``nni.randint``, a categorical in NNI 3.0) becomes ``choice``; ``nni.uniform``,
    ``quniform``, ``loguniform``, ``qloguniform``, ``normal``, ``qnormal``, ``lognormal`` and
    ``qlognormal`` become the HPO entry of the same name (NNI 3.0's ``as_legacy_dict`` raises for
    numerical mutables, so the conversion is done here). ValueError for anything else, e.g. a
    ``Numerical`` built on a custom scipy distribution.
    """
    space = {}
    for label, mutable in model_space.simplify().items():
        if isinstance(mutable, MutableAnnotation):
            continue  # constraints and the like: checked by freeze(), not searched
        if isinstance(mutable, Categorical):
            space[label] = {"_type": "choice", "_value": list(mutable.values)}
        elif isinstance(mutable, Numerical) and (mutable.mu is None) == (mutable.sigma is None):
            normal = mutable.mu is not None
            kind = ("q" if mutable.quantize is not None else "") + ("log" if mutable.log_distributed else "")
            kind += "normal" if normal else "uniform"
            values = [mutable.mu, mutable.sigma] if normal else [mutable.low, mutable.high]
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"TNASEvolution: {label!r} ({mutable!r}) has no finite bounds or parameters")
            space[label] = {"_type": kind, "_value": values + ([mutable.quantize] if mutable.quantize is not None else [])}
        else:
            raise ValueError(
                f"TNASEvolution explores NNI's choice and numerical mutables (uniform, normal and their q/log "
                f"forms); {label!r} is {type(mutable).__name__} ({mutable!r})"
            )
    return space


def canonical_hook(model_space: ExecutableModelSpace):
    """The ``canonical_sample`` method of the model space ``model_space`` wraps (as ``TTFSEyeSpace`` has), or None:
    it says which samples build the same model, and the strategy de-duplicates on it."""
    for inner in (getattr(model_space, "model_space", None), getattr(model_space, "model", None), model_space):
        if isinstance(inner, SerializableObject):
            inner = inner.get()  # SimplifiedModelSpace keeps a serialisable trace of the space: rebuild it
        hook = getattr(inner, "canonical_sample", None)
        if callable(hook):
            return hook
    return None


class TNASEvolution(Strategy):
    """Multi-objective evolutionary NAS strategy: generational NSGA-II (Deb et al., IEEE TEVC 2002).

    Keyword arguments are those of :class:`~tnas_plugin.strategies.evolution_core.EvolutionOptions`
    (``objectives``, ``log_scale``, ``budgets``, ``constraints``, ``population_size``, ``mutation_prob``, ``crossover_prob``,
    ``crossover_eta``, ``mutation_eta``, ``dedup_retries``, ``seed``, ``initial_population``, ``proposals``, ...), validated here.
    The model space may mix ``nni.choice`` with NNI's numerical mutables (see :func:`hpo_space`); when it has a
    ``canonical_sample(sample)`` method (as ``TTFSEyeSpace`` does), no two proposals build the same model. A trial that fails, or ends
    without a final metric, is recorded as failed and never proposed again; a candidate the model
    space rejects (its constraints) likewise. ``state_dict()`` is plain JSON; a strategy built with the
    same arguments, initialised on the same space and given it by ``load_state_dict()`` continues the
    same search. With a ``seed`` the search is reproducible whatever the trials' timing (docs/ARCHITECTURE.md,
    "Determinism"): while the next generation awaits results, a free slot waits for them.

    Parameters
    ----------
    **options
        The search's options, keyword-only: the fields of :class:`.evolution_core.EvolutionOptions`
        (objectives, budgets, population, proposal model, seed, initial population...), documented there
        and validated at construction.

    Example
    -------
    >>> strategy = TNASEvolution(objectives={"war": "max", "uar": "max", "energy_uj": "min"},
    ...                          population_size=10, seed=0)
    >>> from nni.nas.experiment import NasExperiment
    >>> from tnas_plugin.search_spaces import TTFSEyeSpace
    >>> from tnas_plugin.strategies import TNASEvaluator
    >>> experiment = NasExperiment(TTFSEyeSpace(), TNASEvaluator("data/synthetic-see"), strategy)  # doctest: +SKIP
    >>> experiment.run()  # doctest: +SKIP
    """

    def __init__(self, **options: Any):
        super().__init__()
        nni_compat.apply()  # this process decodes the trials' metrics
        self.options = EvolutionOptions.from_dict(options)
        self.core: ParetoEvolution | None = None
        self._lock = threading.RLock()
        # Submitted, no final metric yet. The engine only holds models weakly and drops the events of
        # collected ones, so the strategy keeps them alive until their result is in.
        self._running: dict[tuple, ExecutableModelSpace] = {}
        self._metric_due: dict[tuple, float] = {}  # of those, trained (monotonic time): the metric is on its way
        self._result_in = threading.Condition(self._lock)  # notified whenever a result is recorded
        self._submitted: set[tuple] = set()

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.options.to_dict().items())

    def _initialize(self, model_space: ExecutableModelSpace, engine: ExecutionEngine) -> ExecutableModelSpace:
        self.core = ParetoEvolution(hpo_space(model_space), self.options, canonical_hook(model_space))
        engine.register_model_event_callback(ModelEventType.FinalMetric, self._on_final_metric)
        engine.register_model_event_callback(ModelEventType.TrainingEnd, self._on_training_end)
        return model_space

    def _cleanup(self) -> None:
        self.engine.unregister_model_event_callback(ModelEventType.FinalMetric, self._on_final_metric)
        self.engine.unregister_model_event_callback(ModelEventType.TrainingEnd, self._on_training_end)

    def _run(self) -> None:
        while self.wait_for_resource():
            with self._lock:
                try:
                    params = self.core.ask()
                except SearchExhausted as exhausted:
                    _logger.info("TNASEvolution stops: %s", exhausted)
                    break
                except AwaitingResults:  # the next generation is bred from results still on their way
                    self._result_in.wait(timeout=1.0)
                    self._expire_late_metrics(time.monotonic() - LATE_RESULT_GRACE_S)
                    continue
            try:
                model = self.model_space.freeze(params)
            except SampleValidationError as invalid:
                _logger.info("The model space rejects %s (%s): recorded as failed.", params, invalid)
                with self._lock:
                    self.core.tell(params, None)
                continue
            key = self.core.encode(params)
            with self._lock:
                self._submitted.add(key)
                self._running[key] = model
            self.engine.submit_models(model)
        self.engine.wait_models()
        self._wait_for_late_metrics()

    def _wait_for_late_metrics(self) -> None:
        deadline = time.monotonic() + LATE_RESULT_GRACE_S
        while self._metric_due and time.monotonic() < deadline:
            time.sleep(0.2)
        with self._lock:
            self._expire_late_metrics(math.inf)

    def _expire_late_metrics(self, trained_before: float) -> None:
        """Record as failed the trials trained before ``trained_before`` whose final metric never came."""
        for key, trained in list(self._metric_due.items()):
            if trained < trained_before:
                self._record_failure(key, "trained but no final metric arrived")

    # The engine may rebuild model objects, so results are matched by sample, not by object.
    def _key(self, model: ExecutableModelSpace) -> tuple | None:
        """The candidate's key if this strategy submitted it (events of other submitters are ignored)."""
        try:
            key = self.core.encode(model.sample or {})
        except ValueError:
            return None
        return key if key in self._submitted else None

    def _on_final_metric(self, event: FinalMetricEvent) -> None:
        with self._lock:
            key = self._key(event.model)
            if key is not None:
                self._running.pop(key, None)
                self._metric_due.pop(key, None)
                self.core.tell(event.model.sample, event.metric)
                self._result_in.notify_all()

    def _on_training_end(self, event: TrainingEndEvent) -> None:
        with self._lock:
            key = self._key(event.model)
            if key not in self._running:
                return
            if event.status == ModelStatus.Trained:
                self._metric_due[key] = time.monotonic()
            else:
                self._record_failure(key, f"ended {event.status.value}")

    def _record_failure(self, key: tuple, reason: str) -> None:
        params = self.core.decode(key)
        _logger.warning("%s %s: recorded as failed (the reason ends the trial's trial.stderr, in the experiment's folder "
                        "under environments/*/trials/<trial ID>/).", params, reason)
        self._running.pop(key, None)
        self._metric_due.pop(key, None)
        self.core.tell(params, None)
        self._result_in.notify_all()

    def list_models(self, sort: bool = True, limit: int | None = None) -> Iterator[ExecutableModelSpace]:
        """With ``sort`` (the default, used by ``export_top_models``): the Pareto front within budgets,
        best first by the first objective, each model carrying its ``default`` metric; ``limit=None`` for
        the whole front. Without ``sort``: every model the engine ran, as NNI's base class lists them."""
        if not sort:
            yield from super().list_models(sort=False, limit=limit)
            return
        if self._status in (StrategyStatus.INITIALIZED, StrategyStatus.EMPTY):
            raise RuntimeError("Strategy has not been run.")
        with self._lock:
            front = self.core.pareto_front()
        for entry in front[:limit]:
            model = self.model_space.freeze(entry["params"])
            model.status = ModelStatus.Trained
            if "default" in entry["metrics"]:
                model.metrics.final = entry["metrics"]
            yield model

    def pareto_front(self) -> list[dict[str, Any]]:
        """The front as ``{"params", "metrics"}`` dicts with the full metric dicts (see ParetoEvolution)."""
        with self._lock:
            return self._require_core().pareto_front()

    def state_dict(self) -> dict:
        with self._lock:
            return {"core": self._require_core().state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Continue a search from :meth:`state_dict` (after ``initialize`` on the same space).

        The candidates that were submitted but had no result when the state was taken are proposed
        again first (``ParetoEvolution.requeue_pending``): their trials ended with the process that
        ran them. ``NasExperiment.resume`` and ``tnas-er search --resume`` come through here.
        """
        with self._lock:
            core = self._require_core()
            core.load_state_dict(state_dict["core"])
            requeued = core.requeue_pending()
            if requeued:
                _logger.info("Proposing first the %d candidate(s) pending when the search stopped: %s",
                             len(requeued), requeued)

    def _require_core(self) -> ParetoEvolution:
        if self.core is None:
            raise RuntimeError("TNASEvolution is not initialised with a model space yet (NasExperiment does that).")
        return self.core
