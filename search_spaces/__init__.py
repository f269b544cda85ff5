"""TTFS mutable search spaces (NNI ``ModelSpace``), installed as ``tnas_plugin.search_spaces``."""
from .ttfs_eye import TTFSEyeSpace, export_hpo_space, rebuild_candidate

__all__ = ["TTFSEyeSpace", "export_hpo_space", "rebuild_candidate"]
