"""The TTFS eye-emotion search space: an NNI ``ModelSpace`` whose every sample is a TTFS-legal network.

A sample fixes a :class:`tnas_plugin.candidate.CandidateSpec` (the ReLU twin of a TTFS network plus its
input and time code) and builds it with :func:`tnas_plugin.candidate.build_ann`. Every choice is
categorical so that the space exports to an NNI HPO search-space JSON for ``nnictl`` (NNI 3.0 cannot
export numerical ones).
"""
from __future__ import annotations

import nni
import torch
from nni.mutable import ensure_frozen
from nni.nas.nn.pytorch import ModelSpace
from nni.nas.space import model_context
from torch import nn

from tnas_plugin.candidate import build_ann

from .eye_space import EyeSpaceChoices, canonical_sample


class TTFSEyeSpace(ModelSpace, label_prefix=None):
    """NNI model space of TTFS eye-emotion networks.

    Labels (the keys of a sample and of the exported HPO space): ``modality``, ``frames``,
    ``steps_per_window``, ``stages``, ``stage{i}_channels``, ``stage{i}_kernel``, ``stage{i}_pool`` for
    i < max(stage_choices), and ``classifier_width``. Stage choices beyond the sampled depth are inert
    (:meth:`canonical_sample`). The keyword arguments are those of
    :class:`~tnas_plugin.search_spaces.eye_space.EyeSpaceChoices`. The module's forward takes clips
    ``(N, frames, channels, H, W)`` and returns logits; its ``spec`` (:class:`CandidateSpec`) and ``ann``
    (``nn.Sequential``) are what the trainer uses.

    Parameters
    ----------
    resolution
        Side of the square input frames (at least ``2 ** max(stage_choices)``: each stage may halve it).
    num_classes
        Outputs of the readout (7 emotions).
    stage_choices
        Choices of the number of conv stages (label ``stages``).
    channel_choices
        Choices of each stage's output channels (``stage{i}_channels``).
    kernel_choices
        Choices of each stage's kernel size (``stage{i}_kernel``).
    pool_choices
        Choices of how each stage halves the resolution, within ``"max"`` and ``"avg"`` (pooling),
        ``"stride"`` (a stride-2 conv) and ``"none"`` (kept) (``stage{i}_pool``).
    width_choices
        Choices of the hidden Linear layer's width (``classifier_width``).
    modality_choices
        Choices of the input modality, within ``"event"``, ``"frame"`` and ``"both"`` (``modality``).
    frame_choices
        Choices of the frames per clip (``frames``).
    steps_choices
        Choices of the steps per TTFS window (``steps_per_window``).

    Example
    -------
    >>> space = TTFSEyeSpace(resolution=32, stage_choices=(1, 2), steps_choices=(8, 16))
    >>> sorted(export_hpo_space(space))[:3]
    ['classifier_width', 'frames', 'modality']
    >>> candidate = space.random()
    >>> candidate.spec.steps_per_window in (8, 16)
    True
    """

    def __init__(  # defaults: EyeSpaceChoices's, so the two never drift apart
        self,
        resolution: int = EyeSpaceChoices.resolution,
        num_classes: int = EyeSpaceChoices.num_classes,
        stage_choices=EyeSpaceChoices.stage_choices,
        channel_choices=EyeSpaceChoices.channel_choices,
        kernel_choices=EyeSpaceChoices.kernel_choices,
        pool_choices=EyeSpaceChoices.pool_choices,
        width_choices=EyeSpaceChoices.width_choices,
        modality_choices=EyeSpaceChoices.modality_choices,
        frame_choices=EyeSpaceChoices.frame_choices,
        steps_choices=EyeSpaceChoices.steps_choices,
    ):
        super().__init__()
        self.choices = EyeSpaceChoices(resolution, num_classes, stage_choices, channel_choices, kernel_choices,
                                       pool_choices, width_choices, modality_choices, frame_choices, steps_choices)
        sample = {label: ensure_frozen(self.add_mutable(nni.choice(label, list(values))))
                  for label, values in self.choices.labels().items()}
        self.spec = self.choices.spec(sample)
        self.ann = build_ann(self.spec)

    def canonical_sample(self, sample: dict) -> dict:
        """The representative of every sample that builds the same network as ``sample``
        (:func:`~tnas_plugin.search_spaces.eye_space.canonical_sample`): NNI strategies de-duplicate on it."""
        return canonical_sample(sample, self.choices.hpo_space())

    def freeze(self, sample: dict) -> "TTFSEyeSpace":
        """The candidate for ``sample``: the space rebuilt with every choice fixed."""
        with model_context(sample):
            return self.__class__(*self.trace_args, **self.trace_kwargs)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.ann(clips.flatten(1, 2))


def export_hpo_space(space: ModelSpace) -> dict:
    """The space as an NNI HPO search-space dict (``{label: {"_type": "choice", "_value": [...]}}``)."""
    return {label: mutable.as_legacy_dict() for label, mutable in space.simplify().items()}


def rebuild_candidate(space: ModelSpace, params: dict) -> nn.Module:
    """The candidate that a set of HPO parameters (as nnictl hands to a trial) stands for."""
    missing = set(space.simplify()) - set(params)
    if missing:
        raise ValueError(f"parameters are missing the search-space labels {sorted(missing)}")
    return space.freeze(params)
