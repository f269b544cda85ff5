"""ANN -> TTFS conversion by the exact ReLU identity mapping (Stanojevic et al., Nat. Commun. 15:6793, 2024).

Weights are copied, batch norm is folded into the preceding convolution, average pooling becomes a
fixed-weight convolution with a window of its own, and every spiking window is sized from a
calibration pass (``c_n = margin * max activation``). The result reproduces the ANN's logits
whenever no activation exceeds its window.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import ConvLayer, FlattenLayer, LinearLayer, MaxPoolLayer, ReadoutLayer
from .network import TTFSNetwork

SUPPORTED = "Conv2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, Flatten, Linear"


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _unsupported(label: str, module: nn.Module, why: str) -> ValueError:
    return ValueError(f"layer {label} ({type(module).__name__}) cannot be converted to TTFS: {why}")


def _flatten_sequential(module: nn.Sequential, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """Children of (possibly nested) ``nn.Sequential`` as ``(index label, module)``, e.g. ``"3.1"``."""
    items = []
    for name, child in module.named_children():
        label = f"{prefix}{name}"
        items += _flatten_sequential(child, f"{label}.") if isinstance(child, nn.Sequential) else [(label, child)]
    return items


def _bias(module: nn.Conv2d | nn.Linear) -> torch.Tensor:
    return module.weight.new_zeros(module.weight.shape[0]) if module.bias is None else module.bias


def fold_batchnorm(weight: torch.Tensor, bias: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold eval-mode batch norm into the conv before it: ``W s``, ``(b - mu) s + beta``, ``s = gamma / sqrt(var + eps)``."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale
    if bn.affine:
        scale, shift = scale * bn.weight, shift * bn.weight + bn.bias
    return weight * scale.reshape(-1, 1, 1, 1), bias * scale + shift


def _conv_padding(label: str, conv: nn.Conv2d) -> tuple[int, int]:
    if conv.groups != 1 or _pair(conv.dilation) != (1, 1) or conv.padding_mode != "zeros":
        raise _unsupported(label, conv, "only groups=1, dilation=1 and padding_mode='zeros' are supported")
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        totals = [k - 1 for k in _pair(conv.kernel_size)]
        if any(total % 2 for total in totals):
            raise _unsupported(label, conv, "padding='same' with an even kernel pads asymmetrically")
        return tuple(total // 2 for total in totals)
    return _pair(conv.padding)


def _avgpool_layer(label: str, pool: nn.AvgPool2d, channels: int, window: int, like: torch.Tensor) -> ConvLayer:
    """Average pooling as a convolution with fixed weights ``1 / divisor`` on the channel diagonal."""
    kernel, padding = _pair(pool.kernel_size), _pair(pool.padding)
    stride = kernel if pool.stride is None else _pair(pool.stride)
    if pool.ceil_mode:
        raise _unsupported(label, pool, "ceil_mode=True gives partial windows with their own divisor")
    if pool.divisor_override is None and any(padding) and not pool.count_include_pad:
        raise _unsupported(label, pool, "count_include_pad=False with padding gives border windows their own divisor")
    divisor = pool.divisor_override or kernel[0] * kernel[1]
    weight = like.new_zeros(channels, channels, *kernel)
    weight[torch.arange(channels), torch.arange(channels)] = 1.0 / divisor
    return ConvLayer(weight, like.new_zeros(channels), window, stride, padding, trainable=False)


def _maxpool_layer(label: str, pool: nn.MaxPool2d, window: int) -> MaxPoolLayer:
    if pool.ceil_mode or pool.return_indices or _pair(pool.dilation) != (1, 1):
        raise _unsupported(label, pool, "only dilation=1, ceil_mode=False, return_indices=False are supported")
    kernel = _pair(pool.kernel_size)
    stride = kernel if pool.stride is None else _pair(pool.stride)
    return MaxPoolLayer(kernel, stride, _pair(pool.padding), window)


def ann_to_ttfs(ann: nn.Sequential, calibration: torch.Tensor, margin: float = 1.1, percentile: float = 100.0) -> TTFSNetwork:
    """Convert a ReLU ``nn.Sequential`` into its exact TTFS twin, windows sized on ``calibration``.

    Grammar: ``(Conv2d [BatchNorm2d] ReLU | Linear ReLU | MaxPool2d | AvgPool2d | Flatten | ReLU)* Linear``;
    the last ``Linear`` is the non-spiking readout, a ``ReLU`` not after a weighted layer is dropped
    (its inputs are already >= 0), nested ``nn.Sequential`` are flattened. Batch norm uses its running
    statistics (eval mode). ``calibration`` are input frames in [0, 1]; ``c_n = margin * max``
    activation of spiking layer n on them (see :meth:`TTFSNetwork.calibrate`); ``margin >= 1`` keeps
    the calibration inputs unclipped, so the SNN reproduces the ANN on them (``percentile < 100``
    trades that exactness for finer discrete steps, see :meth:`TTFSNetwork.calibrate`).
    Raises ``ValueError`` naming the index and type of any layer outside this grammar.

    Parameters
    ----------
    ann
        The ReLU network, an ``nn.Sequential`` in the grammar above (``TypeError`` otherwise); put it in
        eval mode so that batch norm uses its running statistics.
    calibration
        Input frames ``(N, ...)`` with values in [0, 1] on which the windows ``c_n`` are sized.
    margin
        Factor on the calibrated activation: ``c_n = margin * max`` (``margin >= 1`` keeps the
        calibration inputs unclipped).
    percentile
        Percentile of the positive activations used instead of their maximum; ``100`` is the maximum
        (exact on the calibration inputs), lower values trade that exactness for finer discrete steps.

    Example
    -------
    >>> ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 7)).eval()
    >>> snn = ann_to_ttfs(ann, torch.rand(16, 1, 8, 8), percentile=99.0)
    >>> logits = snn(torch.rand(4, 1, 8, 8), 16)   # discrete time, 16 steps per window
    """
    if not isinstance(ann, nn.Sequential):
        raise TypeError(f"ann_to_ttfs expects an nn.Sequential, got {type(ann).__name__}")
    items = _flatten_sequential(ann)
    readout_at = max((i for i, (_, m) in enumerate(items) if isinstance(m, nn.Linear)), default=None)
    if readout_at is None:
        raise ValueError("the network needs a final nn.Linear as its (non-spiking) readout")
    if readout_at != len(items) - 1:
        label, module = items[readout_at + 1]
        raise _unsupported(label, module, f"nothing may follow the readout Linear (layer {items[readout_at][0]})")
    like = next(ann.parameters())
    channels = calibration.shape[1] if calibration.dim() == 4 else None
    layers, window, i = [], 0, 0
    while i < readout_at:
        label, module = items[i]
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            padding = _conv_padding(label, module) if isinstance(module, nn.Conv2d) else None
            weight, bias = module.weight, _bias(module)
            if isinstance(module, nn.Conv2d) and isinstance(items[i + 1][1], nn.BatchNorm2d):
                i += 1
                bn = items[i][1]
                if not bn.track_running_stats:
                    raise _unsupported(items[i][0], bn, "batch norm without running statistics cannot be folded")
                weight, bias = fold_batchnorm(weight, bias, bn)
            if not isinstance(items[i + 1][1], nn.ReLU):
                raise _unsupported(label, module, f"a hidden {type(module).__name__} must be followed by ReLU "
                                   "(optionally after BatchNorm2d): TTFS neurons compute a clipped ReLU")
            i += 1
            window += 1
            if isinstance(module, nn.Conv2d):
                layers.append(ConvLayer(weight, bias, window, _pair(module.stride), padding))
                channels = module.out_channels
            else:
                layers.append(LinearLayer(weight, bias, window))
        elif isinstance(module, nn.MaxPool2d):
            layers.append(_maxpool_layer(label, module, window))
        elif isinstance(module, nn.AvgPool2d):
            if channels is None:
                raise _unsupported(label, module, "average pooling needs (B, C, H, W) inputs")
            window += 1
            layers.append(_avgpool_layer(label, module, channels, window, like.detach()))
        elif isinstance(module, nn.Flatten):
            if (module.start_dim, module.end_dim) != (1, -1):
                raise _unsupported(label, module, "only nn.Flatten(start_dim=1, end_dim=-1) is supported")
            layers.append(FlattenLayer(window))
        elif isinstance(module, nn.BatchNorm2d):
            raise _unsupported(label, module, "batch norm must directly follow a Conv2d to be folded")
        elif not isinstance(module, nn.ReLU):
            raise _unsupported(label, module, f"supported layers are {SUPPORTED}")
        i += 1
    readout = items[readout_at][1]
    layers.append(ReadoutLayer(readout.weight, _bias(readout), window + 1))
    snn = TTFSNetwork(layers, input_shape=tuple(calibration.shape[1:])).to(like.device)
    return snn.calibrate(calibration, margin, percentile=percentile)
