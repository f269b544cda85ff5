"""The closed-form TTFS neuron (Stanojevic et al., Nat. Commun. 15:6793, 2024, docs/ARCHITECTURE.md, "TTFS neurons").

With window-normalised time a neuron of window n whose potential at the window start is ``z``
(``z = W' x + b'``) fires at ``t = (n + 1) - clip(z, 0, 1)``: its *value* ``x = t_max - t`` is a
clipped ReLU of ``z``. In discrete time (``S`` steps per window) a step simulator fires at the first
step ``m >= 0`` with ``z + m / S >= 1``, i.e. ``m = S - floor(S z)``, so the value becomes
``q(z) = clip(floor(S z), 0, S) / S`` and the neuron spikes iff ``floor(S z) >= 1``.
"""
from __future__ import annotations

import torch


def ttfs_value(z: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
    """Value ``x = t_max - t_spike`` of neurons with normalised potential ``z`` (0 = no spike).

    Continuous: ``clip(z, 0, 1)`` (the TTFS/ReLU identity ``t = t_max - clip(W x + b, 0, t_max - t_min)``).
    Discrete: ``clip(floor(S z), 0, S) / S`` with a straight-through gradient for the floor
    (the gradient is that of ``clip(z, 0, 1)``), so training sees exactly what the simulator runs.
    """
    value = z.clamp(0.0, 1.0)
    if steps_per_window is None:
        return value
    return _straight_through((value.detach() * steps_per_window).floor_().div_(steps_per_window), value)


def _straight_through(rounded: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """``rounded`` in the forward pass (bit-exact: ``+ 0``), the gradient of ``exact`` in the backward pass."""
    return rounded + (exact - exact.detach()) if exact.requires_grad else rounded


def spike_times_from_values(
    values: torch.Tensor, window: int, steps_per_window: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike times and spike mask of neurons of ``window`` n carrying ``values`` (``t = t_max - x``).

    Continuous: times in window units, ``t = (n + 1) - x``. Discrete: integer steps
    ``(n + 1) S - S x`` (``S x`` is the integer ``floor(S z)``). Silent neurons (``x = 0``) get
    ``inf``; the mask is ``x > 0``. Times stay differentiable w.r.t. ``values`` (exact spike-time
    gradients, ``dt_i / dW'_ij = -x_j = -(t_min - t_j)``).
    """
    mask = values > 0
    if steps_per_window is None:
        times = (window + 1) - values
    else:
        times = (window + 1) * steps_per_window - values * steps_per_window
        times = _straight_through(times.detach().round(), times)
    return torch.where(mask, times, torch.full_like(times, float("inf"))), mask
