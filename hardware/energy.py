"""Energy and latency per inference from a :class:`~tnas_plugin.hardware.cost.CostReport` and a hardware profile.

Spiking networks (TTFS, rate/LIF): ``E = synaptic events x e_synop + active updates x e_update_active
+ inactive updates x e_update_inactive``. The ANN twin: ``E = MACs x e_mac``; it has no time steps.

Latency (docs/ARCHITECTURE.md, "Hardware"), by the profile's ``latency_model`` or the one asked for:

* ``fixed_step``: ``time_steps x step_duration_ms``;
* ``core_time`` (Davies et al., IEEE Micro 2018, Table 2): neurons are packed in layer order onto cores
  of ``neurons_per_core``; a layer's operations are shared among its cores in proportion to its neurons
  there; a step lasts as long as the slowest core's ``synaptic events x t_synop + active x t_active +
  inactive x t_inactive``, each core's operations spread evenly over the ``time_steps`` steps (the mean
  step: a lower bound when the load moves between cores from step to step).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .cost import CostReport
from .profiles import LATENCY_MODELS, HardwareProfile, load_profile


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy (picojoules) and latency of one inference of a network on a hardware profile."""

    profile: str  #: the profile's name
    network: str  #: the report's network (one of ``cost.NETWORKS``)
    synaptic_events: float
    updates_active: float
    updates_inactive: float
    macs: int  #: the ANN twin's MACs (0 for a spiking network)
    synop_energy_pj: float
    update_energy_pj: float
    mac_energy_pj: float
    energy_pj: float
    latency_steps: int
    latency_ms: float | None  #: ``None`` for the ANN twin, which has no time steps
    latency_model: str | None  #: the model that produced ``latency_ms``

    @property
    def energy_uj(self) -> float:
        return self.energy_pj * 1e-6


#: The cost metrics every measured network reports (docs/ARCHITECTURE.md, "Metrics"), in the order they are
#: written, each read from a cost report and its energy estimate: the one place a cost objective
#: (``tnas-er search --efficiency``) is defined.
COST_METRICS: dict[str, Callable[[CostReport, EnergyEstimate], float | int | None]] = {
    "spikes_per_neuron": lambda report, energy: report.spikes_per_neuron,
    "synops": lambda report, energy: report.synaptic_events,
    "neuron_updates": lambda report, energy: report.neuron_updates,
    "energy_uj": lambda report, energy: energy.energy_uj,
    "latency_steps": lambda report, energy: energy.latency_steps,
    "latency_ms": lambda report, energy: energy.latency_ms,
}


def cost_metrics(report: CostReport, energy: EnergyEstimate) -> dict[str, float | int | None]:
    """The reported cost metrics (:data:`COST_METRICS`) of ``report`` priced by ``energy``."""
    return {key: value(report, energy) for key, value in COST_METRICS.items()}


def core_loads(report: CostReport, neurons_per_core: int) -> list[dict]:
    """Synaptic events, active and inactive updates per core (per inference), layers packed in order."""
    cores, free = [], 0
    for layer in report.layers:
        left = layer.neurons
        while left:
            if not free:
                cores.append({"synaptic_events": 0.0, "updates_active": 0.0, "updates_inactive": 0.0, "neurons": 0})
                free = neurons_per_core
            placed = min(left, free)
            share = placed / layer.neurons
            core = cores[-1]
            core["neurons"] += placed
            for term in ("synaptic_events", "updates_active", "updates_inactive"):
                core[term] += getattr(layer, term) * share
            left, free = left - placed, free - placed
    return cores


def step_time_ns(report: CostReport, profile: HardwareProfile) -> float:
    """Duration of the mean time step under the ``core_time`` model (see the module docstring)."""
    cores = core_loads(report, profile.neurons_per_core)
    return max(core["synaptic_events"] * profile.t_synop_ns + core["updates_active"] * profile.t_update_active_ns
               + core["updates_inactive"] * profile.t_update_inactive_ns for core in cores) / report.time_steps


def estimate_energy(report: CostReport, profile: HardwareProfile | str, latency_model: str | None = None,
                    step_duration_ms: float | None = None) -> EnergyEstimate:
    """Energy (picojoules) and latency of one inference of ``report``'s network on ``profile``.

    Parameters
    ----------
    report
        What the network does per inference (:func:`~tnas_plugin.hardware.count_ttfs`,
        :class:`~tnas_plugin.hardware.SteppedCounter`, :meth:`CostReport.ann_twin`).
    profile
        A :class:`HardwareProfile` or a name/path for :func:`load_profile`.
    latency_model
        ``"fixed_step"`` or ``"core_time"`` (default: the profile's ``latency_model``).
    step_duration_ms
        Overrides the profile's step duration of the ``fixed_step`` model.


    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> from tnas_plugin.hardware import count_ttfs
    >>> from tnas_plugin.ttfs import ann_to_ttfs
    >>> ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 7)).eval()
    >>> snn = ann_to_ttfs(ann, torch.rand(16, 1, 8, 8))
    >>> report = count_ttfs(snn, torch.rand(8, 1, 8, 8), steps_per_window=16)
    >>> energy = estimate_energy(report, "loihi", latency_model="fixed_step")
    >>> energy.latency_steps == report.time_steps
    True
    >>> ann_energy = estimate_energy(report.ann_twin(), "cmos45nm")  # MACs x e_mac, no latency
    """
    if not isinstance(report, CostReport):
        raise TypeError(f"estimate_energy reads a CostReport, got {type(report).__name__}")
    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    model = latency_model or profile.latency_model
    if model not in LATENCY_MODELS:
        raise ValueError(f"latency_model must be one of {sorted(LATENCY_MODELS)}, got {model!r}")
    if model not in profile.latency_models:
        raise ValueError(f"profile {profile.name!r} has no per-operation times: latency_model must be one of "
                         f"{list(profile.latency_models)}, got {model!r}")
    ann = report.network == "ann"
    synop_pj = 0.0 if ann else report.synaptic_events * profile.e_synop_pj
    update_pj = 0.0 if ann else (report.updates_active * profile.e_update_active_pj
                                 + report.updates_inactive * profile.e_update_inactive_pj)
    mac_pj = report.macs * profile.e_mac_pj if ann else 0.0
    if ann:
        latency_ms, model = None, None
    elif model == "fixed_step":
        step_ms = profile.step_duration_ms if step_duration_ms is None else float(step_duration_ms)
        latency_ms = report.time_steps * step_ms
    else:
        latency_ms = report.time_steps * step_time_ns(report, profile) * 1e-6
    return EnergyEstimate(
        profile=profile.name, network=report.network, synaptic_events=report.synaptic_events,
        updates_active=report.updates_active, updates_inactive=report.updates_inactive,
        macs=report.macs if ann else 0, synop_energy_pj=synop_pj, update_energy_pj=update_pj, mac_energy_pj=mac_pj,
        energy_pj=synop_pj + update_pj + mac_pj, latency_steps=report.time_steps, latency_ms=latency_ms,
        latency_model=model)
