"""TTFS mutable search spaces (NNI ``ModelSpace``), installed as ``tnas_plugin.search_spaces``."""
from .ttfs_eye import CandidateSpec, StageSpec, TTFSEyeSpace, build_ann, export_hpo_space, rebuild_candidate

__all__ = ["CandidateSpec", "StageSpec", "TTFSEyeSpace", "build_ann", "export_hpo_space", "rebuild_candidate"]
