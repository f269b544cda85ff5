"""ANN-assisted trainer: deterministic per seed, both modes, divergence reported as an error."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tnas_plugin.trainer import DivergedError, TrainCallbacks, TrainConfig, predict, train_ttfs
from tnas_plugin.ttfs import TTFSNetwork


def _task(seed=0, n=256):
    """Two Gaussian blobs in 8 dimensions, values in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    centres = torch.tensor([[0.25] * 8, [0.75] * 8])
    inputs = (centres[labels] + 0.15 * torch.randn(n, 8, generator=generator)).clamp(0, 1)
    return DataLoader(TensorDataset(inputs, labels), batch_size=32, shuffle=True, generator=generator)


def _ann():
    torch.manual_seed(123)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def _accuracy(snn, steps):
    truth, predicted = predict(lambda x: snn(x, steps), _task(seed=1), torch.device("cpu"))
    return (truth == predicted).mean()


@pytest.mark.parametrize("mode", ["ann", "direct"])
def test_training_learns_and_is_deterministic_per_seed(mode):
    config = TrainConfig(epochs=3, finetune_epochs=1, mode=mode, seed=7, lr=1e-2)
    epochs_seen, stages = [], []
    callbacks = TrainCallbacks(on_epoch=lambda record, network: epochs_seen.append(record.stage) or {"seen": len(epochs_seen)},
                               on_stage=lambda stage, network: stages.append((stage, isinstance(network, TTFSNetwork))))
    first = train_ttfs(_ann(), _task(), 16, config, callbacks)
    second = train_ttfs(_ann(), _task(), 16, config)
    for a, b in zip(first.snn.parameters(), second.snn.parameters()):
        assert torch.equal(a, b)
    assert [entry.loss for entry in first.history] == [entry.loss for entry in second.history]
    assert epochs_seen == (["ann"] * 3 + ["finetune"] if mode == "ann" else ["direct"] * 3)
    # each epoch's record keeps the scores its hook returned
    assert [record.scores for record in first.history] == [{"seen": n + 1} for n in range(len(epochs_seen))]
    assert [(record.stage, record.epoch) for record in first.history][:2] == [(epochs_seen[0], 0), (epochs_seen[1], 1)]
    # the stage hook hands over the network being trained: the ReLU twin, then the TTFS network
    assert stages == ([("ann", False), ("finetune", True)] if mode == "ann" else [("direct", True)])
    assert _accuracy(first.snn, 16) > 0.8


def test_divergence_raises_with_the_epoch():
    with pytest.raises(DivergedError, match="diverged"):
        train_ttfs(_ann(), _task(), 16, TrainConfig(epochs=2, lr=1e30))


def test_bad_config_is_rejected_by_field_name():
    with pytest.raises(ValueError, match="mode"):
        TrainConfig(mode="surrogate")
    with pytest.raises(ValueError, match="margin"):
        TrainConfig(margin=0.5)


def test_direct_training_folds_batch_norm_with_the_data_statistics():
    from tnas_plugin.trainer import batchnorm_statistics

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    x = torch.rand(32, 2, 6, 6) * 5 + 2
    batchnorm_statistics(ann, x)
    conv = ann[0](x)
    assert torch.allclose(ann[1].running_mean, conv.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(ann[1].running_var, conv.var((0, 2, 3)), rtol=1e-4)
    assert ann[1].momentum == 0.1 and torch.equal(ann[1].weight.detach(), torch.ones(3))
