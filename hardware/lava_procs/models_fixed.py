"""Fixed-point CPU ProcessModels (``fixed_pt``) of the TTFS Processes.

Integers throughout: ``current`` and ``v`` are signed ``potential_bits`` integers (default 24, Loihi's
membrane voltage) and every addition saturates at that width (nothing wraps); the bias, the ramp ``R``
and the threshold ``S R`` are integers (:mod:`tnas_plugin.ttfs.quantize` chooses them). Spikes are
binary. The behaviour is the shared ``Abstract*`` logic of ``models.py``; this module only declares
integer types and the saturating addition. Dense and Conv use Lava's own fixed-point models
(``PyDenseModelBitAcc``, ``PyConvModelFixed``), selected by the same ``fixed_pt`` tag.

Imports are absolute and only abstract (undecorated) classes come from ``models.py``: Lava's compiler
executes every sibling module of the Processes' package when it searches for ProcessModels.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from tnas_plugin.hardware.lava_procs.models import (AbstractTTFSMaxPoolModel, AbstractTTFSNeuronModel,
                                                    AbstractTTFSReadoutModel, AbstractTTFSSourceModel)
from tnas_plugin.hardware.lava_procs.process import TTFSMaxPool, TTFSNeuron, TTFSReadout, TTFSSource


class _FixedSpiking:
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    spike_count: np.ndarray = LavaPyType(np.ndarray, np.int64)


class _FixedIntegrating:
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    ramp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    current: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    updates_active: np.ndarray = LavaPyType(np.ndarray, np.int64)
    updates_inactive: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.limit = 1 << (proc_params["potential_bits"] - 1)

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Saturating ``a + b`` in ``potential_bits`` signed bits (computed in int64, so nothing wraps)."""
        return np.clip(np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64), -self.limit, self.limit - 1)


@implements(proc=TTFSSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTTFSSourceModelFixed(_FixedSpiking, AbstractTTFSSourceModel):
    pass


@implements(proc=TTFSNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTTFSNeuronModelFixed(_FixedIntegrating, _FixedSpiking, AbstractTTFSNeuronModel):
    fired: np.ndarray = LavaPyType(np.ndarray, bool)


@implements(proc=TTFSReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTTFSReadoutModelFixed(_FixedIntegrating, AbstractTTFSReadoutModel):
    readouts: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def readout(self, potential: np.ndarray) -> np.ndarray:
        """The integer potential ``sat(v + bias)`` itself."""
        return potential


@implements(proc=TTFSMaxPool, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTTFSMaxPoolModelFixed(_FixedSpiking, AbstractTTFSMaxPoolModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, bool, precision=1)
    fired: np.ndarray = LavaPyType(np.ndarray, bool)
