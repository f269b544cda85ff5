"""Work around NNI 3.0's comment stripping in its message decoder (upstream issue #5684).

``nni.common.serializer.load`` passes ``ignore_comments=True`` to json_tricks, which cuts every line at
``#`` or ``//`` unless its quote-counting heuristic decides the symbol sits inside a string. For
messages whose payload is itself serialised JSON (metrics, parameters, pickled evaluator arguments) that
heuristic miscounts escaped quotes, so a value such as ``"http://a/b"`` or ``"c#d"`` corrupts the
command channel and the experiment hangs in RUNNING. NNI never writes comments, so turning the
stripping off loses nothing.

:func:`apply` is idempotent and called explicitly by the adapters whose process decodes NNI's messages,
when they start: ``TNASEvolution`` and ``TNASEvaluator`` (built in the process of a ``NasExperiment``),
``TNASEvolutionTuner`` (built by NNI's dispatcher before its first command) and the trial entry
(:func:`tnas_plugin.strategies.trial.main`, before it reads its parameters). Importing a module changes
nothing, so processes that only import (``tnas-er train``, a user's own NNI code) keep NNI as it is.
"""
from __future__ import annotations

from nni.common import serializer


def apply() -> None:
    """Make ``nni.common.serializer.load`` keep ``#`` and ``//`` inside payloads (process-wide)."""
    serializer.load.__kwdefaults__["ignore_comments"] = False


def is_applied() -> bool:
    return serializer.load.__kwdefaults__["ignore_comments"] is False
