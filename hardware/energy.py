"""Energy and latency per inference from a SynOps report and a hardware profile (docs/ARCHITECTURE.md, "Hardware").

``E = SynOps x E_synop + neuron updates x E_update``; the ANN twin costs ``MACs x E_MAC``. Neuron
updates follow the profile's ``neuron_updates`` mode: ``per_step`` (time-stepped core such as Loihi,
which services every compartment at every step) counts ``neurons x latency steps``; ``per_inference``
(event-driven TTFS core, each neuron evaluated once) counts ``neurons``. Latency is ``steps x step
duration`` with ``steps = num_windows x S`` (the readout time, Stanojevic et al. 2024).
"""
from __future__ import annotations

from .profiles import HardwareProfile, load_profile


def estimate_energy(report: dict, profile: HardwareProfile | str, step_duration_ms: float | None = None) -> dict:
    """Energy (picojoules) and latency per inference of a :func:`count_synops` report on ``profile``.

    ``profile`` is a :class:`HardwareProfile` or a name/path for :func:`load_profile`;
    ``step_duration_ms`` overrides the profile's step duration. Latency and ``per_step`` neuron updates
    need a discrete report (``steps_per_window`` given); for a continuous report latency is ``None``
    and a ``per_step`` profile raises ``ValueError``.
    """
    if not isinstance(profile, HardwareProfile):
        profile = load_profile(profile)
    step_ms = profile.step_duration_ms if step_duration_ms is None else float(step_duration_ms)
    steps = report["latency_steps"]
    if profile.neuron_updates == "per_step":
        if steps is None:
            raise ValueError(f"profile {profile.name!r} counts neuron updates per time step: count SynOps with steps_per_window")
        updates = report["neurons"] * steps
    else:
        updates = report["neurons"]
    synop_pj = report["total"] * profile.e_synop_pj
    update_pj = updates * profile.e_update_pj
    ann_pj = report["ann_macs"] * profile.e_mac_pj
    return {
        "profile": profile.name,
        "synops": report["total"],
        "neuron_updates": updates,
        "synop_energy_pj": synop_pj,
        "update_energy_pj": update_pj,
        "energy_pj": synop_pj + update_pj,
        "ann_macs": report["ann_macs"],
        "ann_energy_pj": ann_pj,
        "latency_steps": steps,
        "latency_ms": None if steps is None else steps * step_ms,
    }
