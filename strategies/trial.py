"""The nnictl side of the TTFS eye space: its HPO search-space JSON and the trial entry point.

``nnictl create`` runs HPO-style experiments only (docs/ARCHITECTURE.md, "NNI and Lava extension points"), so a search over
:class:`~tnas_plugin.search_spaces.TTFSEyeSpace` is: the space exported to JSON
(:func:`write_search_space`), :class:`~tnas_plugin.strategies.TNASEvolutionTuner`, and this trial entry::

    python -m tnas_plugin.strategies.trial --data data/synthetic-see [--space-args JSON] [--evaluator-args JSON]

which takes the parameters from ``nni.get_next_parameter()``, rebuilds the candidate and measures it
(trained on the training split, reported on the validation split; the test split is never read).
With the default evaluator the trial never imports ``nni.nas`` (whose import loads PyTorch Lightning, ~3 s
per trial): it builds the candidate from :class:`~tnas_plugin.search_spaces.eye_space.EyeSpaceChoices`
and reports through :func:`~tnas_plugin.strategies.reporting.measure_and_report`, exactly what
``TNASEvaluator`` runs. ``--evaluator module:name`` rebuilds the candidate with
:func:`~tnas_plugin.search_spaces.rebuild_candidate` and runs ``factory(data, **evaluator_args).evaluate(candidate)``.
``--space-args`` must match the arguments the search-space JSON was written with; ``--threads`` sets
torch's thread count (one per trial when trials run side by side).

``TNAS_ER_TRIAL_DELAY_S=D`` in the environment makes each trial first sleep a random time in ``[0, D]`` s
(drawn from the OS, not from any seed): a search must give the same results whatever its trials' timing
(docs/ARCHITECTURE.md, "Determinism"), and this is how the tests shuffle that timing.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import nni

from tnas_plugin.search_spaces.eye_space import EyeSpaceChoices

from .nni_records import load_object
from . import nni_compat

DEFAULT_EVALUATOR = "tnas_plugin.strategies:TNASEvaluator"
DELAY_ENV = "TNAS_ER_TRIAL_DELAY_S"


def write_search_space(path: str | Path, **space_args) -> dict:
    """Write ``TTFSEyeSpace(**space_args)`` as an NNI HPO search-space JSON file; return the dict."""
    space = EyeSpaceChoices(**space_args).hpo_space()  # equal to export_hpo_space(TTFSEyeSpace(**space_args))
    Path(path).write_text(json.dumps(space, indent=2) + "\n")
    return space


def _json_object(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tnas_plugin.strategies.trial",
        description="One nnictl trial: rebuild the TTFSEyeSpace candidate from the tuner's parameters and evaluate it.",
    )
    parser.add_argument("--data", required=True, help="SEE-layout data directory (first argument of the evaluator)")
    parser.add_argument("--space-args", type=_json_object, default={}, help="TTFSEyeSpace keyword arguments (JSON)")
    from tnas_plugin.measurement import MeasurementSettings

    keys = ", ".join(sorted(MeasurementSettings.from_options(".").to_options()))
    parser.add_argument("--evaluator-args", type=_json_object, default={},
                        help='further evaluator keyword arguments (JSON), e.g. \'{"epochs": 5}\'; for the default '
                             f"evaluator (TrainConfig and MeasurementSettings fields): {keys}")
    parser.add_argument(
        "--evaluator", default=DEFAULT_EVALUATOR,
        help=f"evaluator factory 'module:name', called as factory(data, **evaluator_args) (default {DEFAULT_EVALUATOR})",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    nni_compat.apply()  # before NNI decodes the parameters
    params = nni.get_next_parameter()
    if os.environ.get(DELAY_ENV):
        time.sleep(random.SystemRandom().uniform(0, float(os.environ[DELAY_ENV])))
    if args.evaluator == DEFAULT_EVALUATOR:
        from tnas_plugin.candidate import build_ann

        from .reporting import measure_and_report

        spec = EyeSpaceChoices(**args.space_args).spec(params)
        measure_and_report(spec, build_ann(spec), args.data, **args.evaluator_args)
        return 0
    from tnas_plugin.search_spaces import TTFSEyeSpace, rebuild_candidate

    candidate = rebuild_candidate(TTFSEyeSpace(**args.space_args), params)
    evaluator = load_object(args.evaluator)(args.data, **args.evaluator_args)
    evaluator.evaluate(candidate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
