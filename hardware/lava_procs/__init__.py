"""Lava processes of the TTFS export, and the project's single entry point into lava-nc.

Every Lava import of TNAS-ER passes through this package: it applies the Python 3.11 shim
(:func:`tnas_plugin.lava_compat.import_lava`) before anything from ``lava`` is imported, then
re-exports the Lava classes the export uses. Lava's compiler imports every sibling module of a
Process's package when it looks for ProcessModels, so this package holds nothing but
``process.py`` (Processes), ``models.py`` (the shared model logic and the ``floating_pt``
``PyLoihiProcessModel``s) and ``models_fixed.py`` (the ``fixed_pt`` ones), all free of side effects.
"""
from tnas_plugin.lava_compat import import_lava

import_lava()

from lava.magma.core.run_conditions import RunSteps  # noqa: E402  (after the shim)
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.conv.utils import conv_to_sparse  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.utils.weightutils import SignMode  # noqa: E402

from .models import PyConvModelEventFloat  # noqa: E402
from .process import TTFSMaxPool, TTFSNeuron, TTFSReadout, TTFSSource  # noqa: E402

__all__ = ["Conv", "Dense", "Loihi2SimCfg", "PyConvModelEventFloat", "RunSteps", "SignMode", "TTFSMaxPool", "TTFSNeuron", "TTFSReadout",
           "TTFSSource", "conv_to_sparse"]
