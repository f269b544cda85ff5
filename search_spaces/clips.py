"""The data a candidate sees: SEE clips shaped as its network input (modality, frames, resolution)."""
from __future__ import annotations

import torch

from tnas_plugin.data import SEEDataset

from .ttfs_eye import CandidateSpec


def stack_frames_as_channels(clip: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) clip -> (T*C, H, W) network input."""
    return clip.flatten(0, 1)


def candidate_datasets(spec: CandidateSpec, data_root, *, skip: int = 3, eval_starts: int = 4, seed: int = 0,
                       cache_dir=None, transform=stack_frames_as_channels) -> tuple[SEEDataset, SEEDataset]:
    """Training split (random Ex-Sy start points) and test split (``eval_starts`` fixed ones per sequence).

    Items are network inputs ``(T*C, H, W)``; ``transform=None`` keeps clips ``(T, C, H, W)``.
    """
    common = dict(modality=spec.modality, size=(spec.resolution, spec.resolution), clip_length=spec.frames,
                  skip=skip, seed=seed, transform=transform, cache_dir=cache_dir)
    train = SEEDataset(data_root, "training", **common)
    test = SEEDataset(data_root, "testing", eval_starts=eval_starts, **common)
    return train, test
