"""Evolutionary multi-objective strategy (NNI Strategy and Tuner) and the WAR/UAR evaluator, installed as ``tnas_plugin.strategies``.

Exports load lazily (PEP 562): NNI's manager gives the tuner process 10 s (hard-coded; ``tnas-er search``
raises it, :mod:`.manager_start`) to connect, and
``tuner: {className: tnas_plugin.strategies.TNASEvolutionTuner}`` imports this package first, so it must
not pull in torch, the trainer or the NAS machinery. Importing it changes nothing in NNI: the adapters
that need NNI's message-decoder workaround apply it when they start (:mod:`.nni_compat`).
"""
import importlib

_EXPORTS = {
    "TNASEvaluator": ".evaluator",
    "evaluate_candidate": ".evaluator",
    "EvolutionOptions": ".evolution_core",
    "ParetoEvolution": ".evolution_core",
    "SearchExhausted": ".evolution_core",
    "TNASEvolution": ".nas_strategy",
    "TNASEvolutionTuner": ".tuner",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)


def __dir__():
    return sorted([*globals(), *__all__])
