"""Checkpoints of trained TTFS candidates: the architecture (a ``CandidateSpec``) plus the TTFS weights.

A checkpoint is a ``torch.save`` file ``{"format": "tnas-er-ttfs/1", "spec": {...}, "state_dict": {...},
"metrics": {...}}``; loading rebuilds the ReLU twin from the spec, maps it to its TTFS network and loads
the weights and window scales into it. A checkpoint of a fixed-point network also holds
``"quantized": {"settings": {weight_bits, steps_per_window, potential_bits}, "state_dict": {...}}``, the
integers of its :class:`~tnas_plugin.ttfs.QuantizedTTFSNetwork` (:func:`load_quantized_checkpoint`).
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch

from .candidate import CandidateSpec, build_ann
from .errors import InputError, MissingNetwork
from .ttfs import QuantizedTTFSNetwork, TTFSNetwork, ann_to_ttfs, quantize

FORMAT = "tnas-er-ttfs/1"


class CheckpointError(InputError, ValueError):
    """A checkpoint file that is missing, not a TNAS-ER checkpoint, or inconsistent."""


class NoQuantizedNetwork(CheckpointError, MissingNetwork):
    """A readable checkpoint saved without the integer network that :func:`load_quantized_checkpoint` asks for."""


def save_checkpoint(path: str | Path, spec: CandidateSpec, snn: TTFSNetwork, metrics: dict | None = None,
                    quantized: QuantizedTTFSNetwork | None = None) -> Path:
    """Write ``spec``, the TTFS network ``snn``, ``metrics`` and, when given, the integer twin ``quantized`` of ``snn``.

    Parameters
    ----------
    path
        The file to write (its parent folders are created); returned as a ``Path``.
    spec
        The candidate's architecture (:class:`~tnas_plugin.candidate.CandidateSpec`), from which
        :func:`load_checkpoint` rebuilds the network.
    snn
        The trained TTFS network of ``spec`` (its weights and window scales are saved).
    metrics
        JSON-friendly measurements to keep with it (``None``: an empty dict).
    quantized
        The fixed-point twin of ``snn`` (:func:`tnas_plugin.ttfs.quantize`), read back by
        :func:`load_quantized_checkpoint`.

    Example
    -------
    >>> import tempfile
    >>> from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
    >>> spec = CandidateSpec(modality="event", frames=2, steps_per_window=16, resolution=32,
    ...                      stages=(StageSpec(channels=8, kernel=3, pool="max"),),
    ...                      classifier_width=32, num_classes=7)
    >>> snn = ann_to_ttfs(build_ann(spec).eval(), torch.rand(8, spec.in_channels, 32, 32))
    >>> path = save_checkpoint(f"{tempfile.mkdtemp()}/best.pt", spec, snn, {"war": 0.8})
    >>> load_checkpoint(path)[2]
    {'war': 0.8}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "spec": spec.to_dict(), "state_dict": snn.state_dict(), "metrics": metrics or {}}
    if quantized is not None:
        data["quantized"] = {"settings": quantized.settings(), "state_dict": quantized.state_dict()}
    torch.save(data, path)
    return path


def load_checkpoint(path: str | Path) -> tuple[CandidateSpec, TTFSNetwork, dict]:
    """``(spec, snn, metrics)`` from a file written by :func:`save_checkpoint` (the network in eval mode).

    Raises :class:`CheckpointError` when the file is missing, not a TNAS-ER checkpoint, or inconsistent.

    Parameters
    ----------
    path
        A checkpoint file written by :func:`save_checkpoint`.

    Example
    -------
    >>> spec, snn, metrics = load_checkpoint("results/best.pt")  # doctest: +SKIP
    >>> x = torch.rand(1, spec.in_channels, spec.resolution, spec.resolution)  # doctest: +SKIP
    >>> logits = snn(x, spec.steps_per_window)  # doctest: +SKIP
    """
    spec, snn, data = _load(Path(path))
    return spec, snn, data.get("metrics", {})


def load_quantized_checkpoint(path: str | Path) -> tuple[CandidateSpec, QuantizedTTFSNetwork, dict]:
    """``(spec, qnet, metrics)``: the integer network saved with ``save_checkpoint(..., quantized=qnet)``, bit for bit."""
    path = Path(path)
    spec, snn, data = _load(path)
    if "quantized" not in data:
        raise NoQuantizedNetwork(f"{path}: no quantised network in this checkpoint (save it with quantized=...)")
    try:
        qnet = quantize(snn, **data["quantized"]["settings"])  # the structure; the stored integers replace its own
        stored = data["quantized"]["state_dict"]
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: field 'quantized' does not fit the architecture in 'spec' ({_first_line(error)})") from None
    mismatches = _mismatches(qnet.state_dict(), stored)
    if mismatches:
        raise CheckpointError(f"{path}: field 'quantized' does not fit the architecture in 'spec': {_count(mismatches)}")
    qnet.load_state_dict(stored)
    return spec, qnet.eval(), data.get("metrics", {})


def _load(path: Path) -> tuple[CandidateSpec, TTFSNetwork, dict]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing or reading the file
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's weights-only unpickler met something other than tensors and plain data
        raise CheckpointError(f"{path}: not a safe checkpoint (it holds Python objects other than tensors and plain "
                              "data, which loading could run as code); refused") from None
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(error)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: expected a {FORMAT!r} checkpoint, found format {data.get('format') if isinstance(data, dict) else type(data).__name__!r}")
    try:
        spec = CandidateSpec.from_dict(data["spec"])
    except (KeyError, TypeError, ValueError) as error:  # ValueError: sizes out of range, refused before allocation
        raise CheckpointError(f"{path}: field 'spec' is not a candidate architecture ({error})") from error
    ann = build_ann(spec).eval()
    snn = ann_to_ttfs(ann, torch.zeros(1, spec.in_channels, spec.resolution, spec.resolution))
    mismatches = _mismatches(snn.state_dict(), data.get("state_dict"))
    if mismatches:
        raise CheckpointError(f"{path}: field 'state_dict' does not fit the architecture in 'spec': {_count(mismatches)}")
    snn.load_state_dict(data["state_dict"])
    return spec, snn.eval(), data


def _mismatches(expected: dict, stored) -> list[str]:
    """Every way ``stored`` fails to fit the network's own ``expected`` state dict, one phrase per tensor."""
    if not isinstance(stored, dict):
        return [f"expected a dict of tensors, found {type(stored).__name__}"]
    problems = []
    for name, tensor in expected.items():
        if name not in stored:
            problems.append(f"tensor {name!r} missing")
        elif not isinstance(stored[name], torch.Tensor) or stored[name].shape != tensor.shape:
            found = tuple(stored[name].shape) if isinstance(stored[name], torch.Tensor) else type(stored[name]).__name__
            problems.append(f"tensor {name!r} has shape {found}, the architecture needs {tuple(tensor.shape)}")
    problems += [f"unexpected tensor {name!r}" for name in stored if name not in expected]
    return problems


def _count(problems: list[str]) -> str:
    """The first problem and how many follow it (one line however many tensors differ)."""
    return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def _first_line(error: Exception) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
