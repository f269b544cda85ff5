"""The two environment workarounds: Lava on Python 3.11 and NNI's message decoder."""
import importlib
import subprocess
import sys

import numpy as np
import pytest

from tnas_plugin import lava_compat
from tnas_plugin.strategies import nni_compat


def test_plugin_packages_import_under_tnas_plugin():
    for name in ("tnas_plugin.search_spaces", "tnas_plugin.strategies", "tnas_plugin.hardware"):
        importlib.import_module(name)


def test_cli_help_lists_usage():
    out = subprocess.run([sys.executable, "-m", "tnas_plugin.jobs.cli", "--help"], capture_output=True, text=True, check=True)
    assert "usage: tnas-er" in out.stdout


def test_lava_lif_dense_lif_voltages_match_hand_computation():
    lava_compat.import_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    steps = 6
    # Lava's floating-point LIF: u[t] = u[t-1](1-du) + a_in[t]; v[t] = v[t-1](1-dv) + u[t] + bias;
    # spike and reset v to 0 when v > vth. A Dense delivers a spike one step after it is sent.
    source = LIF(shape=(2,), du=0.0, dv=0.0, bias_mant=np.array([0.3, 0.5]), vth=1.0)
    dense = Dense(weights=np.array([[2.0, -1.0]]))
    target = LIF(shape=(1,), du=0.5, dv=0.25, bias_mant=np.array([0.0]), vth=10.0)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(target.a_in)
    v_source, v_target = Monitor(), Monitor()
    v_source.probe(source.v, steps)
    v_target.probe(target.v, steps)
    try:
        target.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        got_source = v_source.get_data()[source.name]["v"]
        got_target = v_target.get_data()[target.name]["v"][:, 0]
    finally:
        target.stop()
    # Source neuron 0 (bias 0.3): 0.3, 0.6, 0.9, 1.2 > 1 spikes at t=4 -> 0, then 0.3, 0.6.
    # Source neuron 1 (bias 0.5): 0.5, 1.0 (not > 1), 1.5 spikes at t=3 -> 0, 0.5, 1.0, 1.5 spikes at t=6 -> 0.
    expected_source = [[0.3, 0.5], [0.6, 1.0], [0.9, 0.0], [0.0, 0.5], [0.3, 1.0], [0.6, 0.0]]
    # Target: the t=3 spike of neuron 1 (weight -1) arrives at t=4, the t=4 spike of neuron 0 (weight 2) at t=5.
    # t=1..3: u = v = 0.   t=4: u = 0*0.5 - 1 = -1;   v = 0*0.75 - 1 = -1.
    # t=5: u = -1*0.5 + 2 = 1.5;   v = -1*0.75 + 1.5 = 0.75.   t=6: u = 1.5*0.5 = 0.75;  v = 0.75*0.75 + 0.75 = 1.3125.
    expected_target = [0.0, 0.0, 0.0, -1.0, 0.75, 1.3125]
    np.testing.assert_allclose(got_source, expected_source, atol=1e-12)
    np.testing.assert_allclose(got_target, expected_target, atol=1e-12)


METRIC = {"url": "http://a/b", "tag": "c#d", "default": 0.5}


def _nni_message():
    """A final-metric message as it reaches the dispatcher: metric, trial report and message each serialised."""
    from nni.common.serializer import dump

    report = dump({"parameter_id": 0, "type": "FINAL", "value": dump(METRIC)})
    return {"trial_job_id": "abc", "content": report}


def test_nni_round_trip_is_lossy_without_the_workaround(monkeypatch):
    from nni.common import serializer

    monkeypatch.setitem(serializer.load.__kwdefaults__, "ignore_comments", True)
    message = _nni_message()
    with pytest.raises(ValueError, match="Unterminated string"):  # the line was cut at '//'
        serializer.load(serializer.dump(message))


def test_nni_round_trip_is_lossless_with_the_workaround(monkeypatch):
    from nni.common import serializer

    monkeypatch.setitem(serializer.load.__kwdefaults__, "ignore_comments", True)
    nni_compat.apply()
    assert nni_compat.is_applied()
    message = _nni_message()
    decoded = serializer.load(serializer.dump(message))
    assert decoded == message
    assert serializer.load(serializer.load(decoded["content"])["value"]) == METRIC


@pytest.mark.parametrize("fixed, after", [
    ("spawn", "fork"),  # a process that already used multiprocessing (e.g. generated data) can still load Lava
    (None, "None"),  # one that had not fixed it is left free to choose
])
def test_lava_imports_whatever_the_start_method_and_restores_what_it_can(fixed, after):
    code = (
        "import dataclasses, multiprocessing\n"
        f"if {fixed!r}: multiprocessing.set_start_method({fixed!r})\n"
        "originals = dataclasses.dataclass, multiprocessing.set_start_method\n"
        "from tnas_plugin.lava_compat import import_lava; import_lava()\n"
        "from lava.magma.core.run_configs import Loihi2SimCfg\n"
        "assert (dataclasses.dataclass, multiprocessing.set_start_method) == originals\n"
        "print(multiprocessing.get_start_method(allow_none=True))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == after


def test_importing_changes_nothing_until_an_adapter_that_needs_the_workaround_starts():
    code = (
        "import warnings\n"
        "filters = list(warnings.filters)\n"
        "import tnas_plugin\n"
        "assert warnings.filters == filters, 'import tnas_plugin installed a warnings filter'\n"
        "import tnas_plugin.jobs.cli, tnas_plugin.strategies.tuner, tnas_plugin.strategies.nas_strategy\n"
        "import tnas_plugin.strategies.evaluator, tnas_plugin.strategies.trial\n"
        "from tnas_plugin.strategies import TNASEvolutionTuner, nni_compat\n"
        "assert not nni_compat.is_applied(), 'applied on import'\n"
        "TNASEvolutionTuner(seed=0)\n"
        "print(nni_compat.is_applied())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "True", out.stdout + out.stderr


def test_every_adapter_that_decodes_nni_messages_applies_the_workaround_first(monkeypatch, tiny_see):
    import nni
    from nni.common import serializer

    from tnas_plugin.strategies import TNASEvaluator, TNASEvolution, TNASEvolutionTuner, trial

    for start in (lambda: TNASEvolution(seed=0), lambda: TNASEvolutionTuner(seed=0), lambda: TNASEvaluator(str(tiny_see))):
        monkeypatch.setitem(serializer.load.__kwdefaults__, "ignore_comments", True)
        start()
        assert nni_compat.is_applied()
    monkeypatch.setitem(serializer.load.__kwdefaults__, "ignore_comments", True)
    seen = []

    def next_parameter():  # the trial entry's first call into NNI's decoder: the workaround must be in place
        seen.append(nni_compat.is_applied())
        raise SystemExit(0)

    monkeypatch.setattr(nni, "get_next_parameter", next_parameter)
    with pytest.raises(SystemExit):
        trial.main(["--data", str(tiny_see)])
    assert seen == [True]
