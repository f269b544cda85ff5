"""SNN fine-tuning with exact spike-time gradients (Stanojevic et al., Nat. Commun. 15:6793, 2024).

The loss is back-propagated through the closed form ``t = t_max - clip(W' x + b', 0, 1)``, so the
gradients are the exact spike-time gradients (no surrogate); in discrete mode the forward uses the
simulator's rounding and the floor passes gradients straight through.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from .network import TTFSNetwork


def finetune_ttfs(
    snn: TTFSNetwork,
    data: Iterable[tuple[torch.Tensor, torch.Tensor]] | tuple[torch.Tensor, torch.Tensor],
    epochs: int = 1,
    lr: float = 1e-3,
    steps_per_window: int | None = None,
    widen: bool = False,
    margin: float = 1.1,
    percentile: float = 100.0,
    batch_size: int = 64,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """Train ``snn`` in place on ``data``; returns the mean loss of each epoch.

    ``data`` is an iterable of ``(frames, labels)`` batches (e.g. a ``DataLoader``) or a pair of
    tensors ``(frames, labels)``, shuffled into batches of ``batch_size``. ``steps_per_window=S``
    trains the discrete model that a step simulator / Lava runs; ``None`` the continuous one.
    ``widen=True`` widens windows during training: after each step a window ``c_n`` smaller than
    ``margin`` times its layer's largest activation on the batch (its ``percentile``, if given) is grown to that value
    (:meth:`TTFSNetwork.calibrate` with ``widen_only=True``), so training cannot drift into clipping.
    The default optimizer is Adam over ``snn.parameters()`` (average-pool weights are fixed buffers).
    """
    if isinstance(data, tuple):
        data = DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=True)
    optimizer = optimizer or torch.optim.Adam(snn.parameters(), lr=lr)
    device = snn.layers[-1].weight.device
    history = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for frames, labels in data:
            labels = labels.to(device)
            loss = loss_fn(snn(frames, steps_per_window), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if widen:
                snn.calibrate(frames, margin, widen_only=True, percentile=percentile)
            total, count = total + loss.item() * len(labels), count + len(labels)
        history.append(total / max(count, 1))
    return history
