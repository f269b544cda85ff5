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


def test_processes_validate_their_keyword_arguments():
    from tnas_plugin.hardware.lava_procs import TTFSMaxPool

    common = {"period": 20, "samples_per_run": 2, "n_samples": 3}
    with pytest.raises(TypeError):
        TTFSNeuron(np.zeros(4), 9, S, **common)  # keyword-only, as Lava's own Processes
    with pytest.raises(ValueError, match="does not fit in a sample period"):
        TTFSNeuron(bias=np.zeros(4), window_start=15, steps_per_window=S, **common)
    with pytest.raises(ValueError, match="does not fit in potential_bits"):
        TTFSNeuron(bias=np.zeros(4), window_start=1, steps_per_window=S, ramp=1 << 10, potential_bits=12, **common)
    with pytest.raises(ValueError, match="ramp"):
        TTFSReadout(bias=np.zeros(4), window_start=1, steps_per_window=S, ramp=0, **common)
    with pytest.raises(ValueError, match="bias"):
        TTFSNeuron(bias=np.array([0.0, np.nan]), window_start=1, steps_per_window=S, **common)
    with pytest.raises(ValueError, match="samples_per_run"):
        TTFSNeuron(bias=np.zeros(4), window_start=1, steps_per_window=S, period=20, samples_per_run=0, n_samples=3)
    with pytest.raises(ValueError, match=r"spike_steps must have shape \(2, 8\)"):
        TTFSSource(spike_steps=np.zeros((1, 8), dtype=int), sample_shape=(4,), **common)
    with pytest.raises(ValueError, match="integers in"):
        TTFSSource(spike_steps=np.full((2, 8), 20), sample_shape=(4,), **common)
    with pytest.raises(ValueError, match="padding"):
        TTFSMaxPool(in_shape=(8, 8, 2), kernel_size=(2, 2), stride=(2, 2), padding=(2, 0), **common)
    neuron = TTFSNeuron(bias=np.zeros((3, 3, 2)), window_start=1, steps_per_window=S, ramp=4, **common)
    assert neuron.a_in.shape == neuron.s_out.shape == (3, 3, 4) and neuron.fired_at.shape == (3, 3, 3, 2)
    assert neuron.ramp.get() == 4
