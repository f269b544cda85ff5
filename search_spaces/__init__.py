"""TTFS mutable search spaces (NNI ``ModelSpace``), installed as ``tnas_plugin.search_spaces``."""
from .clips import candidate_datasets, stack_frames_as_channels
from .ttfs_eye import CandidateSpec, StageSpec, TTFSEyeSpace, build_ann, export_hpo_space, rebuild_candidate

__all__ = ["candidate_datasets", "stack_frames_as_channels", "CandidateSpec", "StageSpec", "TTFSEyeSpace", "build_ann", "export_hpo_space", "rebuild_candidate"]
