"""TTFS mutable search spaces (NNI ``ModelSpace``), installed as ``tnas_plugin.search_spaces``.

Exports load lazily (PEP 562): :mod:`.eye_space` (the choices as plain data, what an nnictl trial and the
tuner need) must import without ``nni.nas``, which loads PyTorch Lightning.
"""
import importlib

_EXPORTS = {
    "TTFSEyeSpace": ".ttfs_eye",
    "export_hpo_space": ".ttfs_eye",
    "rebuild_candidate": ".ttfs_eye",
    "EyeSpaceChoices": ".eye_space",
    "canonical_sample": ".eye_space",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)


def __dir__():
    return sorted([*globals(), *__all__])
