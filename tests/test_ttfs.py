"""Tests of the TTFS core (tnas_plugin.ttfs): exact ANN identity, gradients, spikes, discrete time, fine-tuning.

Equations: Stanojevic et al., Nat. Commun. 15:6793, 2024 (docs/ARCHITECTURE.md, "TTFS neurons").
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tnas_plugin.ttfs import ann_to_ttfs, encode_latency, finetune_ttfs, ttfs_value

ARCHITECTURES = ("conv_bn_pools", "pool_variants", "mlp", "nested")
INPUT_SHAPE = (2, 10, 10)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tensors here are tiny: one intra-op thread avoids OpenMP oversubscription on busy machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_ann(arch: str, seed: int, dtype=torch.float64) -> nn.Sequential:
    """A random eval-mode ReLU network mixing conv, BN (random running stats), max/avg pooling and linear."""
    torch.manual_seed(seed)
    if arch == "conv_bn_pools":
        layers = [nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(6, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
                  nn.Flatten(), nn.LazyLinear(16), nn.ReLU(), nn.Linear(16, 5)]
    elif arch == "pool_variants":
        layers = [nn.Conv2d(2, 5, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(3, stride=1, padding=1),
                  nn.Conv2d(5, 6, (3, 1), padding="same"), nn.BatchNorm2d(6), nn.ReLU(),
                  nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(2, divisor_override=3),
                  nn.Flatten(), nn.LazyLinear(4)]
    elif arch == "mlp":
        layers = [nn.Flatten(), nn.Linear(math.prod(INPUT_SHAPE), 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 3)]
    else:
        layers = [nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU()), nn.MaxPool2d(2),
                  nn.Sequential(nn.Flatten(), nn.LazyLinear(10), nn.ReLU()), nn.Linear(10, 4)]
    ann = nn.Sequential(*layers)
    ann(torch.rand(1, *INPUT_SHAPE))  # materialise LazyLinear
    for bn in (m for m in ann.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.normal_(0.0, 0.3)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.normal_(0.0, 0.2)
    return ann.to(dtype).eval()


def frames(n: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(n, *INPUT_SHAPE, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- continuous time = the ANN

@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("seed", [0, 1])
def test_continuous_reproduces_ann(arch, seed):
    ann, x = random_ann(arch, seed), frames(64, seed)
    snn = ann_to_ttfs(ann, x)
    with torch.no_grad():
        expected, logits = ann(x), snn(x)
    assert logits.dtype == torch.float64
    assert (logits - expected).abs().max().item() <= 1e-9
    assert torch.equal(logits.argmax(1), expected.argmax(1))
    assert all(layer.scale_out.item() > 0 for layer in snn.synaptic_layers())


def test_float32_default():
    ann, x = random_ann("conv_bn_pools", 3, torch.float32), frames(32, 3, torch.float32)
    snn = ann_to_ttfs(ann, x)
    with torch.no_grad():
        logits, expected = snn(x), ann(x)
    assert logits.dtype == torch.float32 and next(snn.parameters()).dtype == torch.float32
    assert (logits - expected).abs().max().item() <= 1e-5 * (1 + expected.abs().max().item())


def _fold(module, bn):
    """The ANN->SNN parameter map written out independently: W s, (b - mu) s + beta (identity without BN)."""
    bias = torch.zeros(module.weight.shape[0], dtype=module.weight.dtype) if module.bias is None else module.bias
    if bn is None:
        return module.weight, bias
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return module.weight * s.reshape(-1, 1, 1, 1), (bias - bn.running_mean) * s + bn.bias


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_gradients_equal_ann(arch):
    ann, x = random_ann(arch, 5), frames(32, 5)
    y = torch.randint(0, ann[-1].out_features, (32,), generator=torch.Generator().manual_seed(5))
    snn = ann_to_ttfs(ann, x)
    params = list(ann.parameters())
    ann_grads = dict(zip(params, torch.autograd.grad(F.cross_entropy(ann(x), y), params)))
    trainable = [layer for layer in snn.synaptic_layers() if layer.trainable]
    snn_grads = torch.autograd.grad(F.cross_entropy(snn(x), y), [p for layer in trainable for p in (layer.weight, layer.bias)])
    modules = [m for m in ann.modules() if not isinstance(m, nn.Sequential)] + [None]
    weighted = [(m, modules[i + 1] if isinstance(modules[i + 1], nn.BatchNorm2d) else None)
                for i, m in enumerate(modules) if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == len(trainable)
    checked = set()
    for k, (module, bn) in enumerate(weighted):
        inputs = [p for p in (module.weight, module.bias, *(bn.parameters() if bn else ())) if p is not None]
        # chain rule through the fold: d loss / d ANN parameter from the SNN's d loss / d (W, b)
        expected = torch.autograd.grad(_fold(module, bn), inputs, grad_outputs=snn_grads[2 * k: 2 * k + 2])
        for p, g in zip(inputs, expected):
            assert (g - ann_grads[p]).abs().max().item() <= 1e-9
            checked.add(p)
    assert checked == set(params)


# ---------------------------------------------------------------- hand-computed case

def test_two_neurons_by_hand():
    ann = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        ann[0].weight.copy_(torch.tensor([[0.5, 0.25], [-1.0, 0.5]]))
        ann[0].bias.copy_(torch.tensor([0.1, 0.0]))
        ann[2].weight.copy_(torch.tensor([[1.0, 2.0]]))
        ann[2].bias.copy_(torch.tensor([0.5]))
    x = torch.tensor([[0.8, 0.4]], dtype=torch.float64)
    snn = ann_to_ttfs(ann, x, margin=1.25)
    # ANN: a1 = 0.5*0.8 + 0.25*0.4 + 0.1 = 0.6, a2 = relu(-0.8 + 0.2) = 0; c1 = 1.25 * 0.6 = 0.75
    assert snn.scales == pytest.approx([1.0, 0.75])
    assert snn.num_windows == 2 and snn.latency_steps(4) == 8
    run = snn.run(x)
    # input window [0, 1]: t = 1 - x = (0.2, 0.6)
    assert run.spike_times[0][0].tolist() == pytest.approx([0.2, 0.6])
    # hidden window [1, 2]: z1 = 0.6 / 0.75 = 0.8 -> t1 = 2 - 0.8 = 1.2; neuron 2 silent
    assert run.spike_times[1][0, 0].item() == pytest.approx(1.2)
    assert run.spike_mask[1].tolist() == [[True, False]] and math.isinf(run.spike_times[1][0, 1].item())
    # readout = W_out c1 x + b = 1 * 0.75 * 0.8 + 0.5 = 1.1 (= ANN 0.6 + 0.5)
    assert run.logits.item() == pytest.approx(1.1)
    # exact spike-time gradient: t1 = 2 - (W x + b) / c1 -> dt1/dW_1j = -x_j / c1 = -(t_min - t_j) / c1
    weight, bias = snn.layers[0].weight, snn.layers[0].bias
    g_w, g_b = torch.autograd.grad(run.spike_times[1][0, 0], [weight, bias])
    assert g_w.flatten().tolist() == pytest.approx([-0.8 / 0.75, -0.4 / 0.75, 0.0, 0.0])
    assert g_b.tolist() == pytest.approx([-1 / 0.75, 0.0])
    # discrete, S = 4: input floor(3.2) = 3 -> step 4 - 3 = 1, floor(1.6) = 1 -> step 3, values (0.75, 0.25)
    run4 = snn.run(x, steps_per_window=4)
    assert run4.spike_times[0].tolist() == [[1.0, 3.0]]
    # z1 = (0.5*0.75 + 0.25*0.25 + 0.1) / 0.75 = 0.71667, floor(4 z1) = 2 -> step 2*4 - 2 = 6, value 0.5
    assert run4.spike_times[1][0, 0].item() == 6.0 and run4.values[1][0, 0].item() == 0.5
    # readout = 0.75 * 0.5 + 0.5 = 0.875
    assert run4.logits.item() == pytest.approx(0.875)
    # no input: a positive bias still fires, at t = 2 - b / c1 = 2 - 0.1 / 0.75
    silent = snn.run(torch.zeros(1, 2, dtype=torch.float64))
    assert silent.spike_times[1][0, 0].item() == pytest.approx(2 - 0.1 / 0.75)


def test_encode_latency():
    x = torch.tensor([0.0, 0.3, 1.0, 1.5, -0.2])
    inf = float("inf")
    assert encode_latency(x).tolist() == pytest.approx([inf, 0.7, 0.0, 0.0, inf])
    # S = 4: step 4 - floor(4 x): 0.3 -> 4 - 1 = 3; 1 and the clipped 1.5 -> 0
    assert encode_latency(x, 4).tolist() == [inf, 3.0, 0.0, 0.0, inf]
    ann, frames_ = random_ann("mlp", 0), frames(4)
    snn = ann_to_ttfs(ann, frames_)
    assert torch.equal(snn.run(frames_, 8).spike_times[0], encode_latency(frames_, 8))


# ---------------------------------------------------------------- spikes

@pytest.mark.parametrize("steps", [None, 8])
@pytest.mark.parametrize("arch", ["conv_bn_pools", "pool_variants"])
def test_each_neuron_spikes_at_most_once(arch, steps):
    ann, x = random_ann(arch, 2), frames(16, 2)
    snn = ann_to_ttfs(ann, x)
    run = snn.run(x, steps_per_window=steps)
    assert len(run.spike_times) == len(run.spike_mask) == len(snn.layers)  # input + all but the readout
    windows = [0] + [layer.window for layer in snn.layers[:-1]]
    scale = 1 if steps is None else steps
    for times, mask, values, window in zip(run.spike_times, run.spike_mask, run.values, windows):
        assert mask.dtype == torch.bool and times.shape == mask.shape == values.shape
        assert torch.equal(torch.isfinite(times), mask) and torch.equal(mask, values > 0)
        assert (times[mask] >= window * scale).all() and (times[mask] < (window + 1) * scale).all()
        if steps is not None:
            assert torch.equal(times[mask], times[mask].round())
    assert all(0 <= rate <= 1 for rate in run.spikes_per_neuron)
    assert run.total_spikes.shape == (16,) and 0 < run.total_spikes_per_neuron <= 1
    assert run.stats()["per_layer"][0]["kind"] == "input"


@pytest.mark.parametrize("steps", [None, 4])
def test_zero_input_no_hidden_spike_with_zero_biases(steps):
    ann, x = random_ann("conv_bn_pools", 4), frames(8, 4)
    snn = ann_to_ttfs(ann, x)
    with torch.no_grad():
        for layer in snn.synaptic_layers():
            layer.bias.zero_()
    run = snn.run(torch.zeros_like(x), steps_per_window=steps)
    assert not any(mask.any() for mask in run.spike_mask)
    assert run.total_spikes.sum().item() == 0


# ---------------------------------------------------------------- conversion errors and calibration

@pytest.mark.parametrize("layers, message", [
    ([nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Sigmoid(), nn.Flatten(), nn.LazyLinear(2)], r"layer 2 \(Sigmoid\)"),
    ([nn.Flatten(), nn.Linear(200, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 2)], r"layer 3 \(Dropout\)"),
    ([nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh()), nn.Flatten(), nn.LazyLinear(2)], r"layer 0\.0 \(Conv2d\).*ReLU"),
    ([nn.Flatten(), nn.Linear(200, 2), nn.ReLU()], r"layer 2 \(ReLU\)"),
    ([nn.Flatten(), nn.Linear(200, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 2)], r"layer 3 \(BatchNorm1d\)"),
    ([nn.Conv2d(2, 4, 3, groups=2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)], r"layer 0 \(Conv2d\).*groups"),
    ([nn.Conv2d(2, 4, 3), nn.ReLU(), nn.AvgPool2d(3, ceil_mode=True), nn.Flatten(), nn.LazyLinear(2)], r"layer 2 \(AvgPool2d\)"),
    ([nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten()], r"final nn\.Linear"),
])
def test_unsupported_layers_are_named(layers, message):
    ann = nn.Sequential(*layers)
    ann(torch.rand(2, *INPUT_SHAPE))
    with pytest.raises(ValueError, match=message):
        ann_to_ttfs(ann.eval(), frames(4, dtype=torch.float32))
    with pytest.raises(TypeError):
        ann_to_ttfs(nn.ModuleList(layers), frames(4, dtype=torch.float32))


def test_out_of_window_values_clip_and_widening_restores_the_ann():
    ann, x = random_ann("conv_bn_pools", 6), frames(64, 6)
    snn = ann_to_ttfs(ann, 0.3 * x)  # windows too narrow for x
    with torch.no_grad():
        assert (snn(x) - ann(x)).abs().max().item() > 1e-3
        before = snn.scales
        snn.calibrate(x, margin=1.1, widen_only=True)
        assert all(new >= old for new, old in zip(snn.scales, before))
        assert (snn(x) - ann(x)).abs().max().item() <= 1e-9
        assert (snn(0.3 * x) - ann(0.3 * x)).abs().max().item() <= 1e-9


def test_percentile_calibration_narrows_windows_and_clips_only_the_top_values():
    ann, x = random_ann("conv_bn_pools", 7), frames(64, 7)
    exact = ann_to_ttfs(ann, x, margin=1.0)
    robust = ann_to_ttfs(ann, x, margin=1.0, percentile=90.0)
    assert all(r < e for r, e in zip(robust.scales[1:], exact.scales[1:]))
    with torch.no_grad():
        first = robust.run(x).values[1]  # first spiking layer: its input is the same in both networks
        positive = exact.run(x).values[1] * exact.scales[1]  # the ANN's activations of that layer
        at_edge = (first == 1.0)[positive > 0].double().mean().item()
    assert 0.05 <= at_edge <= 0.15  # about the top 10% of positive activations spike at the window start
    with pytest.raises(ValueError, match="percentile"):
        exact.calibrate(x, percentile=0.0)


def test_percentile_calibration_keeps_more_accuracy_at_coarse_steps(trained_blob_ann):
    ann, (x_train, _), (x_test, _) = trained_blob_ann
    with torch.no_grad():
        expected = ann(x_test).argmax(1)
        agreement = {p: (ann_to_ttfs(ann, x_train, percentile=p)(x_test, 4).argmax(1) == expected).double().mean().item()
                     for p in (100.0, 99.0)}
    print(f"argmax agreement with the ANN at S = 4 by calibration percentile: {agreement}")
    assert agreement[99.0] > agreement[100.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    ann, x = random_ann("conv_bn_pools", 7), frames(16, 7)
    snn = ann_to_ttfs(ann, x)
    expected = snn.run(x, 8)
    run = snn.cuda().run(x, 8)  # input moved to the module's device
    assert run.logits.device.type == "cuda"
    assert (run.logits.cpu() - expected.logits).abs().max().item() <= 1e-9
    assert all(torch.equal(a.cpu(), b) for a, b in zip(run.spike_times, expected.spike_times))
    assert ann_to_ttfs(ann.cuda(), x.cuda()).layers[0].weight.device.type == "cuda"


# ---------------------------------------------------------------- discrete time

def step_simulate(snn, x, steps):
    """Reference step-by-step simulator of the TTFS dynamics, built only from the exported layer description.

    Before its window a neuron integrates step currents (``V += dt * W' spiked``); inside it, it ramps
    and fires at the first step ``m`` with ``V + b' + m dt >= 1``; the readout integrates until
    ``t = num_windows``. Returns the first spike step of every entry (inf = none) and the readout potentials.
    """
    inputs = x.clamp(0, 1)
    shapes = [v.shape for v in snn.run(x, steps).values]
    fired = [torch.zeros(shape, dtype=torch.bool) for shape in shapes]
    first_step = [torch.full(shape, math.inf, dtype=x.dtype) for shape in shapes]
    potentials = {}
    for t in range(snn.num_windows * steps):
        fired[0] = fired[0] | ((inputs + t / steps >= 1) & (t < steps))  # input: V = x at t = 0, ramp
        for i, layer in enumerate(snn.layers):
            spiked = fired[i].to(x.dtype)
            if layer.kind == "maxpool":  # first spike in the pool
                fired[i + 1] = F.max_pool2d(spiked, layer.kernel_size, layer.stride, layer.padding) > 0
                continue
            if layer.kind == "flatten":
                fired[i + 1] = fired[i].flatten(1)
                continue
            weight = layer.effective_weight()
            current = F.conv2d(spiked, weight, None, layer.stride, layer.padding) if layer.kind == "conv" else spiked @ weight.T
            potentials.setdefault(i, torch.zeros_like(current))
            if t < layer.window * steps:  # before the window: step currents of the spikes so far
                potentials[i] = potentials[i] + current / steps
            m = t - layer.window * steps
            if layer.kind != "readout" and 0 <= m < steps:  # inside the window: dV/dt = 1, threshold 1 - b'
                bias = layer.effective_bias().reshape(-1, *([1] * (current.dim() - 2)))
                fired[i + 1] = fired[i + 1] | (potentials[i] + bias + m / steps >= 1)
        first_step = [torch.where(f & torch.isinf(s), float(t), s) for f, s in zip(fired, first_step)]
    return first_step, potentials[len(snn.layers) - 1] + snn.layers[-1].effective_bias()


@pytest.mark.parametrize("arch", ["conv_bn_pools", "pool_variants", "mlp"])
def test_discrete_closed_form_equals_step_simulation(arch):
    ann, x = random_ann(arch, 8), frames(16, 8)
    snn = ann_to_ttfs(ann, x)
    steps = 8
    with torch.no_grad():
        run = snn.run(x, steps)
        sim_steps, sim_logits = step_simulate(snn, x, steps)
    for closed, simulated in zip(run.spike_times, sim_steps):
        assert torch.equal(closed, simulated)
    assert (run.logits - sim_logits).abs().max().item() <= 1e-9


def _blob_task(n, generator):
    """Four noisy 8x8 prototype images: learnable, but not to 100%."""
    prototypes = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 4, (n,), generator=generator)
    return (prototypes[labels] + 0.6 * torch.randn(n, 1, 8, 8, generator=generator)).clamp(0, 1), labels


@pytest.fixture(scope="module")
def trained_blob_ann():
    """A small conv ANN trained on the blob task, with its train and test splits."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)
    train, test = _blob_task(1024, generator), _blob_task(1024, generator)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = torch.optim.Adam(ann.parameters(), 1e-2)
    for _ in range(150):
        batch = torch.randint(0, 1024, (128,))
        loss = F.cross_entropy(ann(train[0][batch]), train[1][batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return ann.eval(), train, test


def test_straight_through_rounding():
    z = torch.tensor([-0.3, 0.1, 0.3, 0.74, 1.2, 1.7], dtype=torch.float64, requires_grad=True)
    snn = ann_to_ttfs(random_ann("conv_bn_pools", 11), frames(16, 11))
    x = frames(16, 12)
    value = ttfs_value(z, 4)  # floor(4 z) / 4, clipped
    assert value.tolist() == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    assert torch.autograd.grad(value.sum(), z)[0].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]  # d clip(z, 0, 1) / dz
    with torch.no_grad():
        inference = snn(x, 8)
    assert torch.equal(snn(x, 8), inference)  # the training forward is bit-identical to inference


def test_discrete_agreement_rises_to_100_percent(trained_blob_ann):
    ann, (x_train, _), (x_test, _) = trained_blob_ann
    snn = ann_to_ttfs(ann, x_train)
    with torch.no_grad():
        expected = ann(x_test).argmax(1)
        agreement = [(snn(x_test, steps).argmax(1) == expected).double().mean().item() for steps in (4, 16, 64, 1024)]
    print(f"argmax agreement with the ANN at S = 4, 16, 64, 1024: {agreement}")
    assert agreement[0] < 0.9 and agreement[-1] == 1.0
    assert all(a <= b for a, b in zip(agreement, agreement[1:]))


def test_discrete_finetuning_recovers_accuracy(trained_blob_ann):
    ann, (x_train, y_train), (x_test, y_test) = trained_blob_ann
    torch.manual_seed(0)
    snn, steps = ann_to_ttfs(ann, x_train), 4

    def accuracy(model, **kwargs):
        with torch.no_grad():
            return (model(x_test, **kwargs).argmax(1) == y_test).double().mean().item()

    ann_acc, before = accuracy(ann), accuracy(snn, steps_per_window=steps)
    assert accuracy(snn) == ann_acc
    history = finetune_ttfs(snn, (x_train, y_train), epochs=10, lr=3e-3, steps_per_window=steps)
    after = accuracy(snn, steps_per_window=steps)
    print(f"fine-tuning S={steps}: ANN {ann_acc:.3f}, discrete before {before:.3f}, after {after:.3f}")
    assert history[-1] < history[0]
    assert ann_acc - before >= 0.1  # coarse steps cost accuracy ...
    assert after - before >= 0.1 and after >= ann_acc - 0.1  # ... and fine-tuning with the same rounding wins it back


def test_finetune_with_widening_only_grows_windows():
    ann, x = random_ann("mlp", 10), frames(64, 10)
    y = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(10))
    snn = ann_to_ttfs(ann, x[:8])
    before = snn.scales
    loader = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    finetune_ttfs(snn, loader, epochs=2, lr=1e-2, steps_per_window=16, widen=True)
    assert all(new >= old for new, old in zip(snn.scales, before))
    with torch.no_grad():  # no training activation is left beyond its window
        assert snn.calibrate(x, margin=1.0, widen_only=True).scales == snn.scales
