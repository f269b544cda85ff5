"""One candidate network, described without NNI: its architecture (:class:`CandidateSpec`), its ReLU
twin (:func:`build_ann`) and the data it sees (:func:`candidate_dataset`: training, validation, testing).

A candidate is the ReLU "twin" of a TTFS network (Stanojevic et al., Nat. Commun. 15:6793, 2024): conv
stages (Conv2d -> BatchNorm2d -> ReLU -> optional max/avg pooling), a hidden Linear+ReLU and a Linear
readout — exactly the layers :func:`tnas_plugin.ttfs.ann_to_ttfs` maps to spiking layers — plus what
shapes its input and its time code: the modality, the number of event frames per clip (stacked as input
channels) and the time resolution (steps per TTFS window). The NNI search space
(``tnas_plugin.search_spaces``) samples these; checkpoints, the trainer and the CLI use them directly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

import torch
from torch import nn

from tnas_plugin.data import MODALITIES, VALIDATION_FRACTION, SEEDataset, channels_per_frame

#: Largest input resolution and layer width a candidate may declare: an architecture JSON asking for
#: more is refused before any tensor is allocated.
MAX_RESOLUTION = 1024
MAX_WIDTH = 4096


class Pool(str, Enum):
    """How a conv stage halves the resolution (``"max"``, ``"avg"``, ``"stride"`` or ``"none"`` in JSON):
    2x2 max or average pooling after the conv, a stride-2 conv instead of pooling (Springenberg et al.,
    "Striving for simplicity: the all convolutional net", ICLR workshop 2015: a quarter of the conv's
    neurons and synaptic events), or not at all."""

    MAX = "max"
    AVG = "avg"
    STRIDE = "stride"
    NONE = "none"


@dataclass(frozen=True)
class StageSpec:
    channels: int
    kernel: int
    pool: str  # a Pool value: "max" | "avg" | "stride" | "none"

    def __post_init__(self):
        _check_size("channels", self.channels, MAX_WIDTH)
        _check_size("kernel", self.kernel, 31)
        Pool(self.pool)  # ValueError names the bad value


@dataclass(frozen=True)
class CandidateSpec:
    """Everything a trial needs to know about one candidate (JSON-friendly, validated on construction).

    Parameters
    ----------
    modality
        Input modality, one of ``MODALITIES`` (``"event"``, ``"frame"`` or ``"both"``).
    frames
        Frames per clip, stacked as input channels (1 to 64).
    steps_per_window
        Time resolution: steps per TTFS window of the discrete model (1 to 4096).
    resolution
        Side of the square input frames (1 to ``MAX_RESOLUTION``; halved by each pooling stage, so at
        least ``2 ** pooling stages``).
    stages
        The conv stages (:class:`StageSpec`: ``channels``, ``kernel``, ``pool``), in order.
    classifier_width
        Width of the hidden Linear+ReLU layer (1 to ``MAX_WIDTH``).
    num_classes
        Outputs of the Linear readout (1 to 1000).

    Example
    -------
    >>> spec = CandidateSpec(modality="event", frames=2, steps_per_window=16, resolution=32,
    ...                      stages=(StageSpec(channels=8, kernel=3, pool="max"),),
    ...                      classifier_width=32, num_classes=7)
    >>> spec.in_channels
    4
    >>> CandidateSpec.from_dict(spec.to_dict()) == spec
    True
    """

    modality: str
    frames: int
    steps_per_window: int
    resolution: int
    stages: tuple[StageSpec, ...]
    classifier_width: int
    num_classes: int

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {list(MODALITIES)}, got {self.modality!r}")
        _check_size("frames", self.frames, 64)
        _check_size("steps_per_window", self.steps_per_window, 4096)
        _check_size("resolution", self.resolution, MAX_RESOLUTION)
        _check_size("classifier_width", self.classifier_width, MAX_WIDTH)
        _check_size("num_classes", self.num_classes, 1000)
        pooled = sum(stage.pool != Pool.NONE.value for stage in self.stages)
        if self.resolution >> pooled < 1:
            raise ValueError(f"resolution {self.resolution} is too small for {pooled} pooling stages")

    @property
    def in_channels(self) -> int:
        return self.frames * channels_per_frame(self.modality)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CandidateSpec":
        """Inverse of :meth:`to_dict` (e.g. from an architecture JSON file)."""
        fields = dict(data)
        fields["stages"] = tuple(StageSpec(**stage) for stage in fields["stages"])
        return cls(**fields)


def _check_size(name: str, value, largest: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= largest:
        raise ValueError(f"{name} must be an integer in [1, {largest}], got {value!r}")


def build_ann(spec: CandidateSpec) -> nn.Sequential:
    """The ReLU network of a candidate, as an ``nn.Sequential`` of TTFS-convertible layers.

    Per stage ``Conv2d`` (padding ``kernel // 2``, no bias; stride 2 for ``pool="stride"``) ->
    ``BatchNorm2d`` -> ``ReLU`` -> optional ``MaxPool2d(2)``/``AvgPool2d(2)``, then ``Flatten`` ->
    ``Linear`` -> ``ReLU`` -> ``Linear`` readout.

    Parameters
    ----------
    spec
        The candidate's architecture (:class:`CandidateSpec`).

    Example
    -------
    >>> spec = CandidateSpec(modality="event", frames=2, steps_per_window=16, resolution=32,
    ...                      stages=(StageSpec(channels=8, kernel=3, pool="max"),),
    ...                      classifier_width=32, num_classes=7)
    >>> ann = build_ann(spec)
    >>> ann(torch.rand(2, spec.in_channels, 32, 32)).shape
    torch.Size([2, 7])
    """
    layers: list[nn.Module] = []
    channels, size = spec.in_channels, spec.resolution
    for stage in spec.stages:
        stride = 2 if stage.pool == Pool.STRIDE.value else 1
        layers += [
            nn.Conv2d(channels, stage.channels, stage.kernel, stride, padding=stage.kernel // 2, bias=False),
            nn.BatchNorm2d(stage.channels),
            nn.ReLU(),
        ]
        size = (size + 2 * (stage.kernel // 2) - stage.kernel) // stride + 1
        if stage.pool in (Pool.MAX.value, Pool.AVG.value):
            layers.append(nn.MaxPool2d(2) if stage.pool == Pool.MAX.value else nn.AvgPool2d(2))
            size //= 2
        channels = stage.channels
    layers += [
        nn.Flatten(),
        nn.Linear(channels * size * size, spec.classifier_width),
        nn.ReLU(),
        nn.Linear(spec.classifier_width, spec.num_classes),
    ]
    return nn.Sequential(*layers)


def stack_frames_as_channels(clip: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) clip -> (T*C, H, W) network input."""
    return clip.flatten(0, 1)


def candidate_dataset(spec: CandidateSpec, data_root, split: str, *, skip: int = 3, eval_starts: int = 4, seed: int = 0,
                      validation_fraction: float = VALIDATION_FRACTION, validation_seed: int = 0,
                      validation_split: str = "auto", annotations=None, cache_dir=None,
                      on_error: str = "raise", transform=stack_frames_as_channels) -> SEEDataset:
    """One split of the data a candidate sees: ``"training"`` or ``"training+validation"`` (random Ex-Sy start
    points), ``"validation"`` or ``"testing"`` (``eval_starts`` fixed start points per sequence).

    Validation is carved from the training subset as the test split was
    (:func:`tnas_plugin.data.validation_sequences`).
    Items are network inputs ``(T*C, H, W)``; ``transform=None`` keeps clips ``(T, C, H, W)``.
    ``on_error="skip"`` leaves bad sequences out (``tnas-er search --skip-bad``) instead of raising.
    """
    return SEEDataset(data_root, split, modality=spec.modality, size=(spec.resolution, spec.resolution),
                      clip_length=spec.frames, skip=skip, seed=seed, eval_starts=eval_starts,
                      validation_fraction=validation_fraction, validation_seed=validation_seed,
                      validation_split=validation_split, annotations=annotations, transform=transform, cache_dir=cache_dir, on_error=on_error)

