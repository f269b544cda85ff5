"""Make lava-nc 0.10.0 importable on Python >= 3.11, and after other multiprocessing use, without editing site-packages.

Two import-time problems, each fixed only while the one Lava module that has it loads:

* Python 3.11 rejects an unhashable dataclass instance as a field default (``dataclasses`` treats it as
  mutable). ``lava/magma/compiler/var_model.py`` uses ``ByteEncoder()`` — a plain ``@dataclass``, hence
  unhashable — as the default of several fields. While that module loads, ``ByteEncoder`` is created
  with ``unsafe_hash=True``: exactly the Python 3.10 behaviour (one shared default instance), nothing
  else changes. A no-op on Python 3.10.
* ``lava/magma/runtime/message_infrastructure/multiprocessing.py`` calls
  ``multiprocessing.set_start_method("fork")``, which raises ``RuntimeError`` once the start method is
  fixed (any earlier ``Pool`` fixes it, e.g. the synthetic-data generator's). Lava needs ``fork`` in any
  case, so while that module loads the call is made with ``force=True``.

What the shims change is restored once Lava has loaded: ``dataclasses.dataclass`` and
``multiprocessing.set_start_method`` are the originals again, and a start method that was not fixed before
is left unfixed when the platform's default is ``fork`` (Linux before Python 3.14), so later code may
still choose its own. Otherwise the process keeps ``fork``, the one thing that cannot be restored:
Lava's runtime starts its processes (``SystemProcess``, a ``multiprocessing.Process``) with the
process-wide start method whenever a network runs, and needs ``fork`` then. ``ByteEncoder`` stays
hashable, as it is on Python 3.10.

Call :func:`import_lava` before the first ``import lava...``; the project does so from one place only,
``tnas_plugin.hardware.lava_procs`` (the package every Lava import of the project passes through).
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import multiprocessing
import sys

VAR_MODEL = "lava.magma.compiler.var_model"
MESSAGE_INFRASTRUCTURE = "lava.magma.runtime.message_infrastructure.multiprocessing"
PATCHED_CLASSES = frozenset({"ByteEncoder"})


@contextlib.contextmanager
def _hashable_default_dataclasses():
    """Temporarily wrap ``dataclasses.dataclass`` so the classes in PATCHED_CLASSES become hashable."""
    original = dataclasses.dataclass

    def dataclass(cls=None, /, **kwargs):
        def decorate(target):
            if target.__module__ == VAR_MODEL and target.__name__ in PATCHED_CLASSES:
                return original(target, **{**kwargs, "unsafe_hash": True})
            return original(target, **kwargs)

        return decorate if cls is None else decorate(cls)

    dataclasses.dataclass = dataclass
    try:
        yield
    finally:
        dataclasses.dataclass = original


@contextlib.contextmanager
def _forced_start_method():
    """Temporarily make ``multiprocessing.set_start_method`` override an already fixed method; afterwards
    unfix the method again if it was not fixed before and the platform's default is Lava's ``fork``."""
    original = multiprocessing.set_start_method
    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method = lambda method, force=False: original(method, force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method = original
        if before is None and multiprocessing.get_all_start_methods()[0] == "fork":
            original(None, force=True)


def import_lava() -> None:
    """Import the two affected Lava modules through their shims (idempotent)."""
    if VAR_MODEL not in sys.modules and sys.version_info >= (3, 11):
        with _hashable_default_dataclasses():
            importlib.import_module(VAR_MODEL)
    if MESSAGE_INFRASTRUCTURE not in sys.modules:
        with _forced_start_method():
            importlib.import_module(MESSAGE_INFRASTRUCTURE)
