"""CPU ProcessModels (``PyLoihiProcessModel``) of the TTFS Processes: the shared logic and the floating-point models.

The ``Abstract*`` classes hold each Process's behaviour once; the ``floating_pt`` models here and the
``fixed_pt`` models in ``models_fixed.py`` only declare their types and the precision's addition (as
Lava's own ``AbstractPyDenseModelFloat`` / ``PyDenseModelFloat`` do).

Imports are absolute: Lava's compiler also executes this file as a stand-alone module when it
searches for ProcessModels. No torch here (torch inside Lava CPU processes is known to hang).
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.conv import utils as conv_utils
from lava.proc.conv.models import PyConvModelFloat
from lava.proc.conv.process import Conv

from tnas_plugin.hardware.lava_procs.process import TTFSMaxPool, TTFSNeuron, TTFSReadout, TTFSSource


class _StreamModel(PyLoihiProcessModel):
    """Sample clock: period index, local step (0 at each period start) and the real samples of a period."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.period = proc_params["period"]
        self.samples_per_run = proc_params["samples_per_run"]
        self.n_samples = proc_params["n_samples"]

    @property
    def local_step(self) -> int:
        return (self.time_step - 1) % self.period

    @property
    def period_index(self) -> int:
        return (self.time_step - 1) // self.period

    @property
    def first_sample(self) -> int:
        return self.period_index * self.samples_per_run

    def per_sample(self, x: np.ndarray) -> np.ndarray:
        """View a port-shaped array as ``(..., samples_per_run, C)``, real samples only."""
        split = x.reshape(*x.shape[:-1], self.samples_per_run, x.shape[-1] // self.samples_per_run)
        return split[..., : self.n_samples - self.first_sample, :]


class _SpikingModel(_StreamModel):
    """Sends spikes, counts them per neuron (``spike_count``) and records each sample's spike step (``fired_at``)."""

    fired_at: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def emit(self, spikes: np.ndarray) -> None:
        real = self.per_sample(spikes)
        self.spike_count += real.sum(axis=-2)
        if real.any():
            rows = np.moveaxis(real, -2, 0)  # (samples, ..., C)
            self.fired_at[self.first_sample : self.first_sample + rows.shape[0]][rows] = self.local_step
        self.s_out.send(spikes)


class AbstractTTFSSourceModel(_SpikingModel):
    """Input spikes at the steps in ``spike_steps`` (any precision)."""

    spike_steps: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self) -> None:
        self.emit(self.spike_steps[self.period_index] == self.local_step)


class AbstractTTFSIntegratingModel(_StreamModel):
    """The TTFS integrator's arithmetic, written once for both precisions through :meth:`add`.

    ``current += a_in`` and, before the window, ``v += current``; at the window start ``v += bias``.
    The neuron fires at the first step ``m`` of its window with ``v + m R >= S R`` (``R = ramp``),
    which for integers equals ramping a saturating ``v`` by ``R`` per step (the threshold fits the width).
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.window_start = proc_params["window_start"]
        self.steps = proc_params["steps_per_window"]

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a + b`` in the model's precision (fixed point: saturating)."""
        raise NotImplementedError

    def integrate(self) -> tuple[int, np.ndarray]:
        """Reset at a period start, add this step's input current, add the bias at the window start; returns the
        step ``m`` in the own window and which neurons were active so far this step (received input, integrated a
        non-zero current, or started their window)."""
        if self.local_step == 0:
            self.v[:] = 0
            self.current[:] = 0
            self.reset()
        a_in = self.a_in.recv()
        self.current[:] = self.add(self.current, a_in)
        m = self.local_step - self.window_start
        active = a_in != 0
        if m < 0:
            self.v[:] = self.add(self.v, self.current)
            active |= self.current != 0
        elif m == 0:
            self.v[:] = self.add(self.v, np.concatenate([self.bias] * self.samples_per_run, axis=-1))
        return m, active

    def tally(self, active: np.ndarray) -> None:
        """Count this step's active and inactive neuron updates (real samples only)."""
        active = self.per_sample(active)
        self.updates_active += active.sum(axis=-2)
        self.updates_inactive += (~active).sum(axis=-2)

    def reset(self) -> None:
        """Extra per-period reset of subclasses."""


class AbstractTTFSNeuronModel(AbstractTTFSIntegratingModel, _SpikingModel):
    """Fire-once TTFS neuron: first step ``m`` of the window with ``v + m R >= S R``."""

    def reset(self) -> None:
        self.fired[:] = False

    def run_spk(self) -> None:
        m, active = self.integrate()
        spikes = np.zeros(self.v.shape, dtype=bool)
        if 0 <= m < self.steps:
            active |= ~self.fired  # the threshold ramp runs until the neuron fires
            spikes = ~self.fired & (self.v + m * self.ramp[0] >= self.steps * self.ramp[0])
            self.fired |= spikes
        self.tally(active)
        self.emit(spikes)


class AbstractTTFSReadoutModel(AbstractTTFSIntegratingModel):
    """Records each real sample's ``readout(v + bias)`` at the window start."""

    def readout(self, potential: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run_spk(self) -> None:
        m, active = self.integrate()
        if m == 0:
            active[:] = True
            potential = self.readout(self.per_sample(self.v))
            self.readouts[self.first_sample : self.first_sample + potential.shape[-2]] = potential
        self.tally(active)


class AbstractTTFSMaxPoolModel(_SpikingModel):
    """Earliest input spike of each pooling region (any precision)."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.kernel_size = proc_params["kernel_size"]
        self.stride = proc_params["stride"]
        self.padding = proc_params["padding"]

    def run_spk(self) -> None:
        if self.local_step == 0:
            self.fired[:] = False
        (px, py), (sx, sy) = self.padding, self.stride
        spikes_in = np.pad(self.s_in.recv() > 0, ((px, px), (py, py), (0, 0)))
        width, height = self.fired.shape[:2]
        earliest = np.zeros(self.fired.shape, dtype=bool)
        for dx in range(self.kernel_size[0]):
            for dy in range(self.kernel_size[1]):
                earliest |= spikes_in[dx : dx + sx * width : sx, dy : dy + sy * height : sy]
        spikes = earliest & ~self.fired
        self.fired |= spikes
        self.emit(spikes)


class _FloatSpiking:
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    spike_count: np.ndarray = LavaPyType(np.ndarray, float)


class _FloatIntegrating:
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    ramp: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    current: np.ndarray = LavaPyType(np.ndarray, float)
    updates_active: np.ndarray = LavaPyType(np.ndarray, float)
    updates_inactive: np.ndarray = LavaPyType(np.ndarray, float)

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b


@implements(proc=TTFSSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSSourceModel(_FloatSpiking, AbstractTTFSSourceModel):
    pass


@implements(proc=TTFSNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSNeuronModel(_FloatIntegrating, _FloatSpiking, AbstractTTFSNeuronModel):
    fired: np.ndarray = LavaPyType(np.ndarray, bool)


@implements(proc=TTFSReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSReadoutModel(_FloatIntegrating, AbstractTTFSReadoutModel):
    readouts: np.ndarray = LavaPyType(np.ndarray, float)

    def readout(self, potential: np.ndarray) -> np.ndarray:
        """The float network's logits ``V(t_min) = (v + bias) / (S R)``."""
        return potential / (self.steps * self.ramp[0])


@implements(proc=TTFSMaxPool, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSMaxPoolModel(_FloatSpiking, AbstractTTFSMaxPoolModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    fired: np.ndarray = LavaPyType(np.ndarray, bool)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt", "event_driven")
class PyConvModelEventFloat(PyConvModelFloat):
    """Lava's floating-point ``Conv`` model, event-driven: a step without input spikes skips the convolution.

    Same result as ``PyConvModelFloat`` (the convolution of no spikes is zero); TTFS layers receive
    spikes in one window per sample period only, so most steps are skipped.
    """

    def run_spk(self) -> None:
        self.a_out.send(self.a_buf)
        s_in = self.s_in.recv()
        if s_in.any():
            self.a_buf = conv_utils.conv(s_in, self.weight, self.kernel_size, self.stride, self.padding, self.dilation,
                                         self.groups[0])
        else:
            self.a_buf = np.zeros(self.a_out.shape)
