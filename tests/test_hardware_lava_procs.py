"""The custom Lava TTFS processes against the discrete TTFS closed form, in plain numpy.

A neuron of window n whose potential at the window start is z fires at step S - floor(S z) of its
window, carrying q(z) = clip(floor(S z), 0, S) / S (Stanojevic et al. 2024; docs/ARCHITECTURE.md, "TTFS neurons").
"""
import numpy as np
import pytest

from tnas_plugin.hardware.lava_procs import Dense, RunSteps, TTFSNeuron, TTFSReadout, TTFSSource
from tnas_plugin.hardware.lava_export import run_config

S = 8


def quantise(z: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(S * z), 0, S) / S


def run_two_layer_net(levels, w1, b1, w2, b2, samples_per_run):
    """input (spike at step S - k for level k) -> Dense -> TTFSNeuron -> Dense -> TTFSReadout, streamed."""
    n_samples, n_in = levels.shape
    periods = -(-n_samples // samples_per_run)
    spike_steps = np.full((periods, samples_per_run, n_in), -1)
    for sample, row in enumerate(levels):
        spike_steps[divmod(sample, samples_per_run)] = np.where(row > 0, S - row, -1)
    # two Dense hops: hidden window [S + 1, 2S + 1), readout read at local step 2S + 2
    common = {"period": 2 * S + 3, "samples_per_run": samples_per_run, "n_samples": n_samples}
    source = TTFSSource(spike_steps=spike_steps.reshape(periods, -1), sample_shape=(n_in,), **common)
    dense1 = Dense(weights=np.kron(np.eye(samples_per_run), w1))
    hidden = TTFSNeuron(bias=S * b1, window_start=S + 1, steps_per_window=S, **common)
    dense2 = Dense(weights=np.kron(np.eye(samples_per_run), w2))
    readout = TTFSReadout(bias=S * b2, window_start=2 * S + 2, steps_per_window=S, **common)
    source.s_out.connect(dense1.s_in)
    dense1.a_out.connect(hidden.a_in)
    hidden.s_out.connect(dense2.s_in)
    dense2.a_out.connect(readout.a_in)
    readout.run(condition=RunSteps(num_steps=periods * common["period"]), run_cfg=run_config())
    try:
        return readout.readouts.get(), hidden.spike_count.get(), source.spike_count.get()
    finally:
        readout.stop()


@pytest.mark.parametrize("samples_per_run", [1, 3])
def test_neuron_and_readout_match_the_discrete_closed_form(samples_per_run):
    rng = np.random.default_rng(0)
    n_samples, n_in, n_hidden = 7, 6, 5
    levels = rng.integers(0, S + 1, size=(n_samples, n_in))
    levels[0] = 0  # an empty input: only the positive-bias neuron 0 fires
    w1 = rng.normal(size=(n_hidden, n_in))
    w1[1] = 2.0  # neuron 1 is driven past its window (z > 1): fires at the window start, value 1
    b1 = np.array([0.4, 0.0, -0.1, 0.0, 0.05])
    w2, b2 = rng.normal(size=(3, n_hidden)), rng.normal(size=3)
    readouts, hidden_counts, input_counts = run_two_layer_net(levels, w1, b1, w2, b2, samples_per_run)
    hidden = quantise(levels / S @ w1.T + b1)
    assert hidden[0].tolist() == [quantise(0.4), 0, 0, 0, 0] and (hidden[1:, 1] == 1).all()
    np.testing.assert_allclose(readouts, hidden @ w2.T + b2, rtol=0, atol=1e-12)
    # counts cover the real samples only, although the last period may be padded
    assert hidden_counts.tolist() == (hidden > 0).sum(0).tolist()
    assert input_counts.tolist() == (levels > 0).sum(0).tolist()
