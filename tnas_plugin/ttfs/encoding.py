"""Linear latency code for frames and event frames in [0, 1] (input window 0 = [0, 1]).

A pixel of intensity ``x`` fires once at ``t = t_max - x = 1 - x``; ``x = 0`` fires never; values
outside [0, 1] are clipped (an over-bright pixel fires at the window start, as on hardware). This is
the input half of the TTFS identity (Stanojevic et al., Nat. Commun. 15:6793, 2024).

``snntorch.spikegen.latency(..., linear=True, normalize=True)`` is not used: it returns a dense
``(T, ...)`` spike train instead of times, places spikes at ``round((T - 1)(1 - x))`` instead of the
simulator's ``S - floor(S x)``, and makes values below its threshold fire at the last step
(or, with ``clip=True``, never) instead of "zero means no spike".
"""
from __future__ import annotations

import torch

from .neuron import spike_times_from_values, ttfs_value


def encode_latency(x: torch.Tensor, steps_per_window: int | None = None) -> torch.Tensor:
    """Input spike times of frames ``x`` (any shape, values in [0, 1]); ``inf`` = no spike.

    Continuous (``steps_per_window=None``): ``t = 1 - clip(x, 0, 1)`` in window units.
    Discrete: integer step ``S - floor(S clip(x, 0, 1))``; pixels with ``floor(S x) = 0`` are silent.
    """
    return spike_times_from_values(ttfs_value(x, steps_per_window), 0, steps_per_window)[0]
