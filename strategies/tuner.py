"""``TNASEvolutionTuner``: the NSGA-II core (:mod:`.evolution_core`) as an NNI 3.0 tuner for ``nnictl``.

Config (``examples/see_search.yml``)::

    tuner:
      codeDirectory: .
      className: tnas_plugin.strategies.TNASEvolutionTuner
      classArgs: {population_size: 20, seed: 0}

or, after ``nnictl algo register --meta strategies/meta.yml``, ``tuner: {name: TNASEvolution, classArgs: ...}``.
The search space is the HPO JSON exported from the model space (``choice`` entries only); each trial
reports one dict (``war``, ``uar``, ...), which the tuner receives whole.

Resume (``nnictl resume ID``): the tuner writes its state to NNI's checkpoint directory after every
proposal and result and reloads it on resume, so the search continues where it stopped; results NNI
re-imports that the state already holds are ignored, others are added.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import nni
from nni.tuner import Tuner
from nni.utils import ClassArgsValidator

from .evolution_core import EvolutionOptions, ParetoEvolution, SearchExhausted

_logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "tnas_evolution_state.json"


class TNASEvolutionTuner(Tuner):
    """nnictl tuner running steady-state NSGA-II (Deb et al., IEEE TEVC 2002) over WAR and UAR.

    ``classArgs`` are the keyword arguments of :class:`~tnas_plugin.strategies.evolution_core.EvolutionOptions`,
    validated at construction (NNI only logs tuner errors to ``dispatcher.log``). A trial that fails or
    ends without a final result is recorded as failed and never proposed again.
    """

    def __init__(self, **options: Any):
        super().__init__()
        self.options = EvolutionOptions.from_dict(options)
        self.core: ParetoEvolution | None = None
        self._running: dict[int, dict] = {}  # parameter id -> parameters, until a result or the trial's end
        self._checkpoint: dict | None = None

    def update_search_space(self, search_space: dict) -> None:
        """Start the search, or restart it on a changed space keeping the results that fit the new one."""
        core = ParetoEvolution(search_space, self.options)
        if self.core is not None:
            for entry in self.core.history():
                self._tell(core, entry["params"], entry["metrics"])
        elif self._checkpoint is not None:
            try:
                core.load_state_dict(self._checkpoint)
                _logger.info("Resumed the search from the checkpoint (%d results).", len(core.history()))
            except ValueError as mismatch:
                _logger.warning("Checkpoint not used: %s", mismatch)
        self.core = core
        self.save_checkpoint()

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict:
        try:
            params = self._require_core().ask()
        except SearchExhausted as exhausted:
            raise nni.NoMoreTrialError(str(exhausted)) from exhausted
        self._running[parameter_id] = params
        self.save_checkpoint()
        return params

    def receive_trial_result(self, parameter_id: int, parameters: dict, value: Any, **kwargs: Any) -> None:
        self._running.pop(parameter_id, None)
        self._tell(self._require_core(), parameters, value)
        self.save_checkpoint()

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        params = self._running.pop(parameter_id, None)
        if params is not None:  # ended without a final result (a late result still counts)
            _logger.warning("Trial of %s ended (success=%s) without a final result: recorded as failed.", params, success)
            self._require_core().tell(params, None)
            self.save_checkpoint()

    def import_data(self, data: list[dict]) -> None:
        """Results of earlier trials (``nnictl resume`` / ``nnictl experiment import``): ``parameter`` + ``value``."""
        core = self._require_core()
        for entry in data:
            self._tell(core, entry["parameter"], entry["value"])
        self.save_checkpoint()

    def pareto_front(self) -> list[dict[str, Any]]:
        return self._require_core().pareto_front()

    def load_checkpoint(self) -> None:
        """Called by NNI's dispatcher on resume, before the search space arrives."""
        path = self._checkpoint_file()
        if path is not None and path.is_file():
            self._checkpoint = json.loads(path.read_text())

    def save_checkpoint(self) -> None:
        path = self._checkpoint_file()
        if path is None or self.core is None:
            return
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(self.core.state_dict()))
        os.replace(partial, path)

    def _checkpoint_file(self) -> Path | None:
        directory = self.get_checkpoint_path()
        return None if directory is None else Path(directory) / CHECKPOINT_FILE

    def _require_core(self) -> ParetoEvolution:
        if self.core is None:
            raise RuntimeError("TNASEvolutionTuner has no search space yet")
        return self.core

    @staticmethod
    def _tell(core: ParetoEvolution, params: dict, value: Any) -> None:
        try:
            core.tell(params, value)
        except ValueError as outside:
            _logger.warning("Result skipped: %s", outside)


class TNASEvolutionClassArgsValidator(ClassArgsValidator):
    """``classArgsValidator`` of ``strategies/meta.yml``: the same checks as the tuner's constructor."""

    def validate_class_args(self, **kwargs: Any) -> None:
        EvolutionOptions.from_dict(kwargs)
