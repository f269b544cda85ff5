"""Floating-point CPU ProcessModels (``PyLoihiProcessModel``) of the TTFS Processes.

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
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    spike_count: np.ndarray = LavaPyType(np.ndarray, float)

    def emit(self, spikes: np.ndarray) -> None:
        self.spike_count += self.per_sample(spikes).sum(axis=-2)
        self.s_out.send(spikes.astype(float))


@implements(proc=TTFSSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSSourceModel(_SpikingModel):
    spike_steps: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self) -> None:
        self.emit(self.spike_steps[self.period_index] == self.local_step)


class _IntegratingModel(_StreamModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    current: np.ndarray = LavaPyType(np.ndarray, float)
    updates_active: np.ndarray = LavaPyType(np.ndarray, float)
    updates_inactive: np.ndarray = LavaPyType(np.ndarray, float)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.window_start = proc_params["window_start"]
        self.steps = proc_params["steps_per_window"]

    def integrate(self) -> tuple[int, np.ndarray]:
        """Reset at a period start, add this step's input current; returns the step ``m`` in the own window
        and which neurons were active so far this step (received input or integrated a non-zero current)."""
        if self.local_step == 0:
            self.v[:] = 0.0
            self.current[:] = 0.0
            self.reset()
        a_in = self.a_in.recv()
        self.current += a_in
        m = self.local_step - self.window_start
        active = a_in != 0
        if m < 0:
            self.v += self.current
            active |= self.current != 0
        return m, active

    def tally(self, active: np.ndarray) -> None:
        """Count this step's active and inactive neuron updates (real samples only)."""
        active = self.per_sample(active)
        self.updates_active += active.sum(axis=-2)
        self.updates_inactive += (~active).sum(axis=-2)

    def stacked_bias(self) -> np.ndarray:
        return np.concatenate([self.bias] * self.samples_per_run, axis=-1)

    def reset(self) -> None:
        """Extra per-period reset of subclasses."""


@implements(proc=TTFSNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSNeuronModel(_IntegratingModel, _SpikingModel):
    fired: np.ndarray = LavaPyType(np.ndarray, bool)

    def reset(self) -> None:
        self.fired[:] = False

    def run_spk(self) -> None:
        m, active = self.integrate()
        spikes = np.zeros(self.v.shape, dtype=bool)
        if 0 <= m < self.steps:
            active |= ~self.fired  # the threshold ramp runs until the neuron fires
            spikes = ~self.fired & (self.v + self.steps * self.stacked_bias() + m >= self.steps)
            self.fired |= spikes
        self.tally(active)
        self.emit(spikes)


@implements(proc=TTFSReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSReadoutModel(_IntegratingModel):
    readouts: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self) -> None:
        m, active = self.integrate()
        if m == 0:
            active[:] = True
            potential = self.per_sample(self.v / self.steps + self.stacked_bias())
            self.readouts[self.first_sample : self.first_sample + potential.shape[-2]] = potential
        self.tally(active)


@implements(proc=TTFSMaxPool, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTTFSMaxPoolModel(_SpikingModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    fired: np.ndarray = LavaPyType(np.ndarray, bool)

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
