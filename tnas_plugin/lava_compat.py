"""Make lava-nc 0.10.0 importable on Python >= 3.11 without editing site-packages.

Python 3.11 rejects an unhashable dataclass instance as a field default (``dataclasses`` treats it as
mutable). ``lava/magma/compiler/var_model.py`` uses ``ByteEncoder()`` — a plain ``@dataclass``, hence
unhashable — as the default of several fields, so importing Lava's compiler fails there. While that one
module loads, ``ByteEncoder`` is created with ``unsafe_hash=True``: that restores exactly the Python 3.10
behaviour (one shared default instance) and changes nothing else. On Python 3.10 this is a no-op.

Call :func:`import_lava` before the first ``import lava...``; the project does so from one place only,
``tnas_plugin.hardware.lava_procs`` (its ``__init__``), through which every Lava import of the project passes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys

PATCHED_MODULE = "lava.magma.compiler.var_model"
PATCHED_CLASSES = frozenset({"ByteEncoder"})


def shim_needed() -> bool:
    return sys.version_info >= (3, 11) and PATCHED_MODULE not in sys.modules


@contextlib.contextmanager
def _hashable_default_dataclasses():
    """Temporarily wrap ``dataclasses.dataclass`` so the classes in PATCHED_CLASSES become hashable."""
    original = dataclasses.dataclass

    def dataclass(cls=None, /, **kwargs):
        def decorate(target):
            if target.__module__ == PATCHED_MODULE and target.__name__ in PATCHED_CLASSES:
                return original(target, **{**kwargs, "unsafe_hash": True})
            return original(target, **kwargs)

        return decorate if cls is None else decorate(cls)

    dataclasses.dataclass = dataclass
    try:
        yield
    finally:
        dataclasses.dataclass = original


def import_lava() -> None:
    """Import Lava's compiler models through the shim (idempotent; a no-op on Python < 3.11)."""
    if not shim_needed():
        return
    with _hashable_default_dataclasses():
        importlib.import_module(PATCHED_MODULE)
