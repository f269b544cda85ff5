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

from tnas_plugin.candidate import CandidateSpec, Pool, StageSpec, build_ann
from tnas_plugin.data import MODALITIES


class TTFSEyeSpace(ModelSpace, label_prefix=None):
    """NNI model space of TTFS eye-emotion networks.

    Labels (the keys of a sample and of the exported HPO space): ``modality``, ``frames``,
    ``steps_per_window``, ``stages``, ``stage{i}_channels``, ``stage{i}_kernel``, ``stage{i}_pool`` for
    i < max(stage_choices), and ``classifier_width``. Stage choices beyond the sampled depth are inert.
    The module's forward takes clips ``(N, frames, channels, H, W)`` and returns logits; its
    ``spec`` (:class:`CandidateSpec`) and ``ann`` (``nn.Sequential``) are what the trainer uses.

    Parameters
    ----------
    resolution
        Input frames are resized to ``resolution x resolution`` pixels.
    num_classes
        Emotions to recognise (7 for SEE).
    stage_choices
        Numbers of conv stages to choose from.
    channel_choices, kernel_choices, pool_choices
        Per stage: output channels, square kernel size, pooling after it (``"max"``, ``"avg"``, ``"none"``).
    width_choices
        Width of the hidden fully connected layer.
    modality_choices
        Input modalities: ``"event"`` frames, intensity ``"frame"`` s, or ``"both"`` stacked.
    frame_choices
        Frames per clip (stacked as input channels).
    steps_choices
        Time steps per TTFS window (the time resolution on hardware).

    Example
    -------
    >>> space = TTFSEyeSpace(resolution=32, stage_choices=(1, 2))
    >>> candidate = space.freeze(space.random())   # an ordinary nn.Module with .spec and .ann
    """

    def __init__(
        self,
        resolution: int = 32,
        num_classes: int = 7,
        stage_choices=(1, 2, 3),
        channel_choices=(4, 8, 16),
        kernel_choices=(3, 5),
        pool_choices=("max", "avg", "none"),
        width_choices=(16, 32, 64),
        modality_choices=("event", "frame", "both"),
        frame_choices=(2, 4),
        steps_choices=(8, 16, 32),
    ):
        super().__init__()
        if 2 ** max(stage_choices) > resolution:
            raise ValueError(f"resolution {resolution} is too small for {max(stage_choices)} pooling stages")
        unknown = set(pool_choices) - {pool.value for pool in Pool}
        if unknown or set(modality_choices) - set(MODALITIES):
            raise ValueError(f"pool_choices must be within max/avg/none and modality_choices within {list(MODALITIES)}")

        def choose(label, values):
            return ensure_frozen(self.add_mutable(nni.choice(label, list(values))))

        modality = choose("modality", modality_choices)
        frames = choose("frames", frame_choices)
        steps = choose("steps_per_window", steps_choices)
        depth = choose("stages", stage_choices)
        stages = []
        for i in range(max(stage_choices)):
            stage = StageSpec(
                channels=choose(f"stage{i}_channels", channel_choices),
                kernel=choose(f"stage{i}_kernel", kernel_choices),
                pool=choose(f"stage{i}_pool", pool_choices),
            )
            if i < depth:
                stages.append(stage)
        width = choose("classifier_width", width_choices)
        self.spec = CandidateSpec(modality, frames, steps, resolution, tuple(stages), width, num_classes)
        self.ann = build_ann(self.spec)

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
