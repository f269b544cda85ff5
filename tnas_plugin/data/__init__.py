"""Eye-emotion data: the SEE dataset layouts (Zhang et al., SIGGRAPH 2023) and a synthetic SEE-like generator.

``SEEDataset`` reads a SEE tree (the real data set in either layout its authors ship, or one written by
``synthesize``) as Ex-Sy clips; see docs/ARCHITECTURE.md, "Data".
"""
from .dataset import DATASET_SPLITS, MODALITIES, SEEDataset, channels_per_frame
from .errors import SEEDataError, SEEDataNote
from .index import ANNOTATION_FILES, SEEIndex, SequenceRecord, annotation_path, build_index, has_annotations
from .naming import EMOTIONS, LIGHTINGS, SequenceName, normalize_emotion, normalize_lighting
from .split import VALIDATION_FRACTION, VALIDATION_SPLITS, split_protocol, validation_sequences
from .synth import SynthConfig, synthesize

__all__ = ["ANNOTATION_FILES", "DATASET_SPLITS", "EMOTIONS", "LIGHTINGS", "MODALITIES", "SEEDataError", "SEEDataNote",
           "SEEDataset", "SEEIndex", "SequenceName", "SequenceRecord", "SynthConfig", "VALIDATION_FRACTION",
           "VALIDATION_SPLITS", "annotation_path", "build_index", "channels_per_frame", "has_annotations",
           "normalize_emotion", "normalize_lighting", "split_protocol", "synthesize", "validation_sequences"]
