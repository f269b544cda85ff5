"""Eye-emotion data: the SEE dataset layout (Zhang et al., SIGGRAPH 2023) and a synthetic SEE-like generator.

``SEEDataset`` reads a SEE tree (the real data set or one written by ``synthesize``) as Ex-Sy clips;
see docs/ARCHITECTURE.md, "Data".
"""
from .dataset import DATASET_SPLITS, MODALITIES, VALIDATION_FRACTION, SEEDataset, channels_per_frame, validation_subjects
from .errors import SEEDataError
from .index import SequenceRecord, build_index
from .naming import EMOTIONS, LIGHTINGS, SequenceName, normalize_emotion, normalize_lighting
from .synth import SynthConfig, synthesize

__all__ = ["DATASET_SPLITS", "EMOTIONS", "LIGHTINGS", "MODALITIES", "SEEDataError", "SEEDataset", "SequenceName", "SequenceRecord", "SynthConfig",
           "VALIDATION_FRACTION",            "build_index", "channels_per_frame", "normalize_emotion", "normalize_lighting", "synthesize",
           "validation_subjects"]
