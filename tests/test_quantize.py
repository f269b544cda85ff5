"""Fixed-point TTFS networks (``tnas_plugin.ttfs.quantize``): integer arithmetic, widths, QAT, checkpoints.

The integer model must be what Lava's fixed-point models compute (tests/test_lava_fixed_point.py runs
them); here: it tracks the float discrete model at 8 bits, its weights survive Lava's Dense weight
clipping/truncation, it saturates at the declared widths instead of wrapping, quantisation-aware
fine-tuning is the same rounding with straight-through gradients, and a quantised checkpoint round-trips.
"""
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from tnas_plugin.candidate import CandidateSpec, StageSpec, build_ann
from tnas_plugin.checkpoint import CheckpointError, load_checkpoint, load_quantized_checkpoint, save_checkpoint
from tnas_plugin.trainer import TrainCallbacks, TrainConfig, train_ttfs
from tnas_plugin.ttfs import QuantizedTTFSNetwork, ann_to_ttfs, fake_quantize, quantize

S = 8


def convnet():
    torch.manual_seed(3)
    ann = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 3 * 3, 12), nn.ReLU(), nn.Linear(12, 4))
    frames = torch.rand(64, 2, 12, 12)
    return ann_to_ttfs(ann, frames), torch.rand(40, 2, 12, 12)


def test_integer_readouts_track_the_float_model_and_spike_steps_are_integers():
    snn, frames = convnet()
    qnet = quantize(snn, 8, steps_per_window=S)
    run = qnet.run(frames)
    assert run.logits.dtype == torch.int64 and all(level.dtype == torch.int64 for level in run.values)
    float_logits = snn(frames, S)
    # 8-bit weights with a per-layer power-of-two scale: readouts within a few % of the float range
    scale = float_logits.abs().max()
    assert (qnet.logits(frames) - float_logits).abs().max() <= 0.05 * scale
    assert (qnet(frames).argmax(1) == float_logits.argmax(1)).float().mean() >= 0.9
    for layer, level in zip(qnet.layers, run.values):  # no saturation here: the closed form is the stepped sum
        if hasattr(layer, "ramp_shift"):
            bias = layer.bias.reshape(-1, 1, 1) if layer.kind == "conv" else layer.bias
            assert torch.equal(layer.potential(level, S), (layer._stepwise(level, S) + bias).to(torch.int64))
    for times, mask, level in zip(run.spike_times, run.spike_mask, run.values):
        assert torch.equal(mask, level > 0) and (times[mask] == times[mask].round()).all()
    with pytest.raises(ValueError, match="quantised for 8 steps"):
        qnet.run(frames, 16)


def test_weights_use_loihi_8bit_format_and_survive_lava_dense_clipping():
    from tnas_plugin.hardware.lava_procs import SignMode  # noqa: F401  (applies the Lava shim first)
    from lava.utils.weightutils import clip_weights, truncate_weights

    snn, _ = convnet()
    for bits in (8, 6, 4):
        for layer in quantize(snn, bits, steps_per_window=S).synaptic_layers():
            weight = layer.weight.numpy()
            mode = SignMode.EXCITATORY if layer.format.excitatory else SignMode.MIXED
            kept = truncate_weights(clip_weights(weight, mode, num_bits=8), mode, bits)
            assert np.array_equal(kept, weight), (bits, layer)
            assert (weight % (1 << layer.format.format_shift) == 0).all()
            if not layer.format.excitatory and bits == 8:
                assert (weight % 2 == 0).all()  # mixed-sign 8-bit: only even values survive PyDenseModelBitAcc
            mantissa = np.unique(weight >> layer.format.format_shift)
            low, high = layer.format.mantissa_range
            assert mantissa.min() >= low and mantissa.max() <= high and len(mantissa) <= 1 << bits
    avgpool = quantize(snn, 8, steps_per_window=S).layers[3]
    assert avgpool.kind == "conv" and bool(avgpool.excitatory)  # fixed non-negative pooling weights: unsigned


def _stepwise(weights, bias, levels, ramp, bits):
    """Reference: the Lava neuron's step-by-step integer arithmetic for one dense layer (saturating adds)."""
    limit = 1 << (bits - 1)
    sat = lambda x: np.clip(x, -limit, limit - 1)  # noqa: E731
    current = np.zeros(weights.shape[0], dtype=np.int64)
    v = np.zeros_like(current)
    for level in range(S, 0, -1):
        current = sat(current + weights @ (levels == level))
        v = sat(v + current)
    return np.clip(np.floor_divide(sat(v + bias), ramp), 0, S)


def test_potentials_saturate_at_the_declared_width_instead_of_wrapping():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(16, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        ann[0].weight.copy_(torch.tensor([1.0, -1.0]).repeat(6, 8) * torch.linspace(0.5, 3.0, 6)[:, None])
        ann[0].weight[0] = 3.0  # all-excitatory row: its potential runs far past a narrow width
    frames = torch.rand(50, 16)
    snn = ann_to_ttfs(ann, frames * 0.1)  # windows sized on dim inputs: bright ones drive potentials far past them
    wide, narrow = quantize(snn, 8, steps_per_window=S), quantize(snn, 8, steps_per_window=S, potential_bits=12)
    layer = narrow.layers[0]
    levels = narrow.input_levels(frames)
    potential = layer.potential(levels, S)
    limit = 1 << 11
    assert potential.max() == limit - 1  # saturated, not wrapped to a negative value
    assert potential.min() >= -limit
    unsaturated = wide.layers[0].potential(levels, S)
    assert (unsaturated > limit).any()
    for sample in range(len(frames)):
        reference = _stepwise(layer.weight.numpy(), layer.bias.numpy(), levels[sample].numpy(), layer.ramp, 12)
        assert np.array_equal(layer(levels[sample:sample + 1], S)[0].numpy(), reference)
    with pytest.raises(ValueError, match="potential_bits"):
        quantize(snn, 8, steps_per_window=S, potential_bits=40)
    with pytest.raises(ValueError, match="weight_bits"):
        quantize(snn, 9, steps_per_window=S)
    with pytest.raises(ValueError, match="does not fit in potential_bits = 8"):
        quantize(snn, 8, steps_per_window=200, potential_bits=8)


def test_fake_quantize_computes_what_the_integer_model_computes_with_straight_through_gradients():
    snn, frames = convnet()
    parameters = {name: p.detach().clone() for name, p in snn.named_parameters()}
    qnet = quantize(snn, 6, steps_per_window=S)
    with fake_quantize(snn, 6, S):
        logits = snn(frames, S)
        logits.sum().backward()
    assert (logits.detach().double() - qnet.logits(frames)).abs().max() <= 1e-5
    assert torch.equal(logits.argmax(1), qnet(frames).argmax(1))
    # the float weights are restored unchanged, and they received gradients through the rounding
    assert {name: p for name, p in snn.named_parameters()}.keys() == parameters.keys()
    for name, p in snn.named_parameters():
        assert torch.equal(p.detach(), parameters[name]) and p.grad is not None and p.grad.abs().sum() > 0, name
    assert not any("parametrizations" in key for key in snn.state_dict())


def test_quantisation_aware_fine_tuning_trains_through_the_rounding_and_yields_an_accurate_four_bit_network():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (384,), generator=generator)
    centres = torch.rand(3, 12, generator=generator)
    inputs = (centres[labels] + 0.2 * torch.randn(384, 12, generator=generator)).clamp(0, 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, labels), batch_size=32, shuffle=True,
                                         generator=generator)
    torch.manual_seed(0)
    config = TrainConfig(epochs=4, finetune_epochs=2, lr=1e-2, seed=0, weight_bits=4)
    rounded = []  # per fine-tuning epoch: does the network compute with the fixed-point weights?
    callbacks = TrainCallbacks(on_epoch=lambda entry, network: rounded.append(
        (entry.stage, any(parametrize.is_parametrized(module, "weight") for module in network.modules()))))
    result = train_ttfs(nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3)), loader, S, config, callbacks)
    assert rounded == [("ann", False)] * 4 + [("finetune", True)] * 2
    assert not any(parametrize.is_parametrized(layer) for layer in result.snn.synaptic_layers())
    qnet = quantize(result.snn, 4, steps_per_window=S)
    accuracy = (qnet(inputs).argmax(1) == labels).float().mean()
    assert accuracy >= 0.9
    with pytest.raises(ValueError, match="weight_bits"):
        TrainConfig(weight_bits=12)


def test_a_quantised_checkpoint_round_trips(tmp_path):
    spec = CandidateSpec(modality="event", frames=2, steps_per_window=4, resolution=16,
                         stages=(StageSpec(4, 3, "max"), StageSpec(4, 5, "avg")), classifier_width=8, num_classes=7)
    torch.manual_seed(0)
    snn = ann_to_ttfs(build_ann(spec).eval(), torch.rand(32, spec.in_channels, 16, 16))
    qnet = quantize(snn, 6, steps_per_window=spec.steps_per_window, potential_bits=20)
    path = save_checkpoint(tmp_path / "q.pt", spec, snn, {"war": 0.5}, quantized=qnet)
    loaded_spec, loaded, metrics = load_quantized_checkpoint(path)
    assert loaded_spec == spec and metrics == {"war": 0.5} and isinstance(loaded, QuantizedTTFSNetwork)
    assert loaded.settings() == {"weight_bits": 6, "steps_per_window": 4, "potential_bits": 20}
    for key, value in qnet.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    frames = torch.rand(10, spec.in_channels, 16, 16)
    assert torch.equal(loaded(frames), qnet(frames))
    assert load_checkpoint(path)[1].state_dict().keys() == snn.state_dict().keys()  # the float network loads too
    with pytest.raises(CheckpointError, match="no quantised network"):
        load_quantized_checkpoint(save_checkpoint(tmp_path / "f.pt", spec, snn))
