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

    Its labels (the keys of a sample and of the exported HPO space) are those of
    :data:`~tnas_plugin.search_spaces.eye_space.LABELS`; stage choices beyond the sampled depth are inert
    (:meth:`canonical_sample`). The keyword arguments, each optional, are the fields of
    :class:`~tnas_plugin.search_spaces.eye_space.EyeSpaceChoices`. The module's forward takes clips
    ``(N, frames, channels, H, W)`` and returns logits; its ``spec`` (:class:`CandidateSpec`) and ``ann``
    (``nn.Sequential``) are what the trainer uses.

    Example
    -------
    >>> space = TTFSEyeSpace(resolution=32, stage_choices=(1, 2), steps_choices=(8, 16))
    >>> sorted(export_hpo_space(space))[:3]
    ['classifier_width', 'frames', 'modality']
    >>> candidate = space.random()
    >>> candidate.spec.steps_per_window in (8, 16)
    True
    """

    def __init__(self, **choices):
        super().__init__()
        self.choices = EyeSpaceChoices(**choices)
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
