"""TTFS core: exact ANN -> time-to-first-spike conversion, closed-form forward, fine-tuning.

Implements the TTFS neuron and identity mapping of Stanojevic et al., Nat. Commun. 15:6793, 2024
(docs/ARCHITECTURE.md, "TTFS neurons").

Time convention (binding for the hardware plugin and the Lava export)
---------------------------------------------------------------------
* **Window-normalised time.** Spiking layer n (input n = 0, then one per Conv2d/Linear/AvgPool2d)
  owns window ``[n, n + 1]``. A value ``x >= 0`` is one spike at ``t = (n + 1) - x``; ``x = 0`` is no
  spike; each neuron fires at most once.
* **Scales.** At conversion ``c_n = margin * max`` ANN activation of layer n on the calibration
  inputs (1 if the layer never activates), ``c_0 = 1`` (frames in [0, 1]). Each layer keeps the ANN's
  BN-folded ``W_n, b_n`` as parameters and uses ``W'_n = W_n c_{n-1} / c_n``, ``b'_n = b_n / c_n``
  (``layer.effective_weight()`` / ``layer.effective_bias()``).
* **Continuous** (``steps_per_window=None``): ``z = W' x + b'``, ``x_n = clip(z, 0, 1)``, spike time
  ``t = (n + 1) - x_n`` (window units), spike iff ``x_n > 0``. Readout (not spiking):
  ``logits = W_out c_{L-1} x + b_out`` -- the ANN's logits whenever nothing clips.
* **Discrete** (``steps_per_window=S``, ``dt = 1/S``): ``x_n = clip(floor(S z), 0, S) / S`` (what a
  step simulator gives: ``V(t_min) = W' x``, ramp ``dt`` per step, first step ``m >= 0`` with
  ``V + b' + m dt >= 1``); spike iff ``floor(S z) >= 1``, at integer step ``(n + 1) S - floor(S z)``.
  Inputs are quantised the same way (step ``S - floor(S x)``); the readout sees quantised values;
  the floor has a straight-through gradient.
* Max-pool = earliest spike = max of values, in the window of its input; average pooling is a
  fixed-weight convolution with its own window; flatten reshapes. Latency: ``snn.num_windows``
  windows, ``snn.latency_steps(S)`` steps.

``snn.layers`` lists the layers (``kind``: a :class:`LayerKind`); ``snn.run(x, S)`` returns a :class:`TTFSRun` whose entry 0 is the input and entry
``i + 1`` the output of ``snn.layers[i]``.
"""
from .convert import ann_to_ttfs, fold_batchnorm
from .encoding import encode_latency
from .finetune import finetune_ttfs
from .layers import ConvLayer, FlattenLayer, LayerKind, LinearLayer, MaxPoolLayer, ReadoutLayer, SynapticLayer
from .network import TTFSNetwork, TTFSRun
from .neuron import spike_times_from_values, ttfs_value
from .quantize import QuantizedTTFSNetwork, fake_quantize, quantize

__all__ = [
    "ann_to_ttfs",
    "fold_batchnorm",
    "encode_latency",
    "finetune_ttfs",
    "ConvLayer",
    "FlattenLayer",
    "LayerKind",
    "LinearLayer",
    "MaxPoolLayer",
    "ReadoutLayer",
    "SynapticLayer",
    "TTFSNetwork",
    "TTFSRun",
    "spike_times_from_values",
    "ttfs_value",
    "QuantizedTTFSNetwork",
    "fake_quantize",
    "quantize",
]
