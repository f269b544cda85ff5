"""The choices of the TTFS eye space as plain data: sample -> candidate, canonical form, HPO JSON — no NNI NAS.

:class:`~tnas_plugin.search_spaces.TTFSEyeSpace` (the NNI ``ModelSpace``) is built from an
:class:`EyeSpaceChoices`; this module holds everything that does not need NNI's NAS machinery, so that
an nnictl trial (``python -m tnas_plugin.strategies.trial``) and the tuner's de-duplication run without
importing ``nni.nas`` (which loads PyTorch Lightning: ~3 s per process).

:data:`LABELS` declares the space once: every label, the :class:`EyeSpaceChoices` field holding its choices
and the :class:`~tnas_plugin.candidate.CandidateSpec` (or, per stage, :class:`~tnas_plugin.candidate.StageSpec`)
field it sets. A per-stage label ``x`` is ``stage{i}_x`` for i < max(stage_choices). Labels of stages
beyond the sampled depth are inert: :func:`canonical_sample` sets them to their first choice, so two
samples build the same network exactly when their canonical forms are equal.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from tnas_plugin.candidate import CandidateSpec, Pool, StageSpec
from tnas_plugin.data import MODALITIES


@dataclass(frozen=True)
class Label:
    """One label of the space: its name, the :class:`EyeSpaceChoices` field of its choices, the spec field it
    sets, and whether it is declared once per stage (``stage{i}_<name>``, setting a :class:`StageSpec` field)."""

    name: str
    choices: str
    field: str
    per_stage: bool = False


#: The labels in the order the model space declares them; the per-stage ones stand for stage 0, 1, ... in turn.
#: ``stages`` sets the depth, the length of ``CandidateSpec.stages``.
LABELS = (
    Label("modality", "modality_choices", "modality"),
    Label("frames", "frame_choices", "frames"),
    Label("steps_per_window", "steps_choices", "steps_per_window"),
    Label("stages", "stage_choices", "stages"),
    Label("channels", "channel_choices", "channels", per_stage=True),
    Label("kernel", "kernel_choices", "kernel", per_stage=True),
    Label("pool", "pool_choices", "pool", per_stage=True),
    Label("classifier_width", "width_choices", "classifier_width"),
)
DEPTH = "stages"
_STAGE_LABELS = tuple(label for label in LABELS if label.per_stage)
_GLOBAL_LABELS = tuple(label for label in LABELS if not label.per_stage and label.name != DEPTH)
_STAGE_LABEL = re.compile(rf"stage(\d+)_({'|'.join(label.name for label in _STAGE_LABELS)})")


def _stage_label(i: int, label: Label) -> str:
    return f"stage{i}_{label.name}"


@dataclass(frozen=True, kw_only=True)
class EyeSpaceChoices:
    """The values each label of the eye space may take (the keyword arguments of ``TTFSEyeSpace``).

    Parameters
    ----------
    resolution
        Side of the square input frames (at least ``2 ** max(stage_choices)``: each stage may halve it).
    num_classes
        Outputs of the readout (7 emotions).
    stage_choices
        Choices of the number of conv stages (label ``stages``).
    channel_choices, kernel_choices, pool_choices
        Choices of each stage's output channels, kernel size and pooling (``stage{i}_channels``,
        ``stage{i}_kernel``, ``stage{i}_pool``); pooling within ``"max"``, ``"avg"``, ``"stride"`` and ``"none"``.
    width_choices
        Choices of the hidden Linear layer's width (``classifier_width``).
    modality_choices
        Choices of the input modality, within ``"event"``, ``"frame"`` and ``"both"`` (``modality``).
    frame_choices
        Choices of the frames per clip (``frames``).
    steps_choices
        Choices of the steps per TTFS window (``steps_per_window``).
    """

    resolution: int = 32
    num_classes: int = 7
    stage_choices: tuple = (1, 2, 3)
    channel_choices: tuple = (4, 8, 16)
    kernel_choices: tuple = (3, 5)
    pool_choices: tuple = ("max", "avg", "stride", "none")
    width_choices: tuple = (16, 32, 64)
    modality_choices: tuple = ("event", "frame", "both")
    frame_choices: tuple = (2, 4)
    steps_choices: tuple = (8, 16, 32)

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name.endswith("_choices"):
                if isinstance(value, (str, bytes)) or not value:
                    raise ValueError(f"{name} must be a non-empty sequence, got {value!r}")
                object.__setattr__(self, name, tuple(value))
        if 2 ** max(self.stage_choices) > self.resolution:
            raise ValueError(f"resolution {self.resolution} is too small for {max(self.stage_choices)} pooling stages")
        unknown = set(self.pool_choices) - {pool.value for pool in Pool}
        if unknown or set(self.modality_choices) - set(MODALITIES):
            raise ValueError(f"pool_choices must be within max/avg/stride/none and modality_choices within {list(MODALITIES)}")

    def labels(self) -> dict[str, tuple]:
        """Every label and its choices, in the order the model space declares them (:data:`LABELS`)."""
        labels = {}
        for label in LABELS:
            if not label.per_stage:
                labels[label.name] = getattr(self, label.choices)
            elif label is _STAGE_LABELS[0]:
                labels.update({_stage_label(i, stage): getattr(self, stage.choices)
                               for i in range(max(self.stage_choices)) for stage in _STAGE_LABELS})
        return labels

    def hpo_space(self) -> dict:
        """The NNI HPO search space (``{label: {"_type": "choice", "_value": [...]}}``)."""
        return {label: {"_type": "choice", "_value": list(values)} for label, values in self.labels().items()}

    def spec(self, sample: Mapping[str, Any]) -> CandidateSpec:
        """The candidate a sample (every label -> a value) stands for."""
        missing = set(self.labels()) - set(sample)
        if missing:
            raise ValueError(f"parameters are missing the search-space labels {sorted(missing)}")
        stages = tuple(StageSpec(**{label.field: sample[_stage_label(i, label)] for label in _STAGE_LABELS})
                       for i in range(sample[DEPTH]))
        return CandidateSpec(**{label.field: sample[label.name] for label in _GLOBAL_LABELS}, stages=stages,
                             resolution=self.resolution, num_classes=self.num_classes)

    def sample_of(self, spec: CandidateSpec) -> dict:
        """The canonical sample that builds ``spec`` (e.g. to seed a search with a known network);
        ValueError if the space cannot build it."""
        sample = {label.name: len(spec.stages) if label.name == DEPTH else getattr(spec, label.field)
                  for label in LABELS if not label.per_stage}
        for i, stage in enumerate(spec.stages):
            sample.update({_stage_label(i, label): getattr(stage, label.field) for label in _STAGE_LABELS})
        sample = canonical_sample(sample, self.hpo_space())
        for label, values in self.labels().items():
            if sample[label] not in values:
                raise ValueError(f"{label}={sample[label]!r} is not among the space's choices {list(values)}")
        if (spec.resolution, spec.num_classes) != (self.resolution, self.num_classes):
            raise ValueError(f"the space builds {self.resolution}-pixel, {self.num_classes}-class networks, not "
                             f"{spec.resolution}-pixel, {spec.num_classes}-class ones")
        return sample

    def neighbours(self, sample: Mapping[str, Any]) -> list[dict]:
        """The canonical samples one change away from ``sample`` that build other networks: each label set to
        each of its other choices, in label order (a label beyond the sample's depth changes nothing and gives none)."""
        space = self.hpo_space()
        start = canonical_sample(sample, space)
        neighbours = (canonical_sample({**start, label: value}, space)
                      for label, values in self.labels().items() for value in values)
        return [neighbour for neighbour in neighbours if neighbour != start]  # one label each: never two alike


def canonical_sample(sample: Mapping[str, Any], search_space: Mapping[str, Mapping]) -> dict:
    """``sample`` with the labels of stages beyond its depth (``stages``) set to their first choice in
    ``search_space`` (the space's HPO dict): the one representative of every sample building the same network.

    The tuner takes it as ``classArgs: {canonical: "tnas_plugin.search_spaces.eye_space:canonical_sample"}``.
    """
    canonical = dict(sample)
    depth = sample[DEPTH]
    for label in search_space:
        match = _STAGE_LABEL.fullmatch(label)
        if match and int(match.group(1)) >= depth:
            canonical[label] = search_space[label]["_value"][0]
    return canonical
