"""``tnas-er front`` on NNI's records without starting NNI: an experiment folder's database written with
NNI's own schema (nni_node/core/sqlDatabase.js), three objectives, swapped parameters, bad input."""
import argparse

import pandas as pd
import pytest

from nni_helpers import write_experiment
from tnas_plugin.jobs import front
from tnas_plugin.jobs.cli import main as tnas_er
from tnas_plugin.strategies import nni_records
from tnas_plugin.strategies.nni_records import TrialRecord, database_path

RESULTS = [
    ("t0", 0, 0, 0, {"lr": 0.1, "kind": "a"}, {"default": 0.5, "acc": 0.50, "size": 10, "ms": 3.0}),
    ("t1", 1, 1, 1, {"lr": 0.2, "kind": "b"}, None),  # failed
    ("t2", 2, 2, 3, {"lr": 0.3, "kind": "c"}, {"default": 0.9, "acc": 0.90, "size": 40, "ms": 1.0}),  # swapped
    ("t3", 3, 3, 2, {"lr": 0.4, "kind": "d"}, {"default": 0.7, "acc": 0.70, "size": 20, "ms": 2.0}),  # with t2
    ("t4", 4, 4, 4, {"lr": 0.5, "kind": "e"}, {"default": 0.4, "acc": 0.40, "size": 30, "ms": 4.0}),  # dominated
    ("t5", 5, 5, 5, {"lr": 0.6, "kind": "f"}, {"default": 0.6, "acc": 0.60}),  # no "size": left out
]


def test_front_from_an_experiment_folder(tmp_path, capsys):
    write_experiment(tmp_path / "exp", RESULTS)
    out = tmp_path / "out"
    assert tnas_er(["front", "abc", "--objectives", "acc:max,size:min", "--experiment-dir", str(tmp_path / "exp"),
                    "--out", str(out), "--reference-point", "0,50"]) == 0
    printed = capsys.readouterr().out
    assert "6 trials read from" in printed and "4 with every objective; Pareto front of 3" in printed
    table = pd.read_csv(out / "front.csv")
    assert list(table["trial"]) == [2, 3, 0] and list(table["acc"]) == [0.9, 0.7, 0.5]
    # each result with the parameters its trial ran (the metric's parameter id), not NNI's swapped record
    assert list(table["param:lr"]) == [0.3, 0.4, 0.1] and list(table["metric:ms"]) == [1.0, 2.0, 3.0]
    curve = pd.read_csv(out / "hypervolume.csv")
    # reference (acc 0, size 50): 0.5 * 40 = 20; (0.9, 40) adds 0.4 * 10; (0.7, 20) adds 0.2 * 20; t4 is dominated
    assert list(curve["trial"]) == [0, 2, 3, 4] and curve["hypervolume"].tolist() == pytest.approx([20, 24, 28, 28])
    assert (out / "front.png").stat().st_size > 0 and (out / "hypervolume.png").stat().st_size > 0


def test_after_a_resume_a_parameter_id_names_the_latest_parameters_issued_before_the_result(tmp_path):
    """NNI numbers parameters afresh in each run of its dispatcher: after ``nnictl resume`` the new trials'
    ids repeat those of finished ones."""
    write_experiment(tmp_path / "exp", RESULTS)
    write_experiment(tmp_path / "exp", [("r2", 6, 2, 2, {"lr": 0.7, "kind": "g"}, {"default": 0.8, "acc": 0.8, "size": 5, "ms": 9.0}),
                                        ("r3", 7, 3, 3, {"lr": 0.8, "kind": "h"}, None)], first_time=1000)
    ran = {trial.trial_id: trial.params for trial in nni_records.trials_from_database(database_path(tmp_path / "exp"))}
    assert ran["t2"] == {"lr": 0.3, "kind": "c"} and ran["t3"] == {"lr": 0.4, "kind": "d"}  # before the resume
    assert ran["r2"] == {"lr": 0.7, "kind": "g"} and ran["r3"] == {"lr": 0.8, "kind": "h"}  # after it
    assert nni_records.parameters_each_result_ran(database_path(tmp_path / "exp"))["t2"] == {"lr": 0.3, "kind": "c"}


def test_three_objectives_and_the_default_reference_point(tmp_path):
    trials = [TrialRecord(i, f"t{i}", "SUCCEEDED", {"i": i}, {"a": a, "b": b, "c": c})
              for i, (a, b, c) in enumerate([(1, 1, 1), (2, 0, 1), (0, 2, 1), (0, 0, 0), (1, 1, 0.5)])]
    result = front.compute_front(trials, {"a": "max", "b": "max", "c": "min"})
    assert sorted(t.sequence for t in result.front) == [1, 2, 3, 4]  # (1, 1, 1) loses to (1, 1, 0.5)
    assert result.reference == pytest.approx([-0.2, -0.2, 1.1])  # worst, 10% of the range further out
    written = front.write_outputs(result, tmp_path)
    assert all(path.stat().st_size > 0 for path in written)


def test_bad_input_is_one_line_not_a_traceback(tmp_path, capsys):
    write_experiment(tmp_path / "exp", RESULTS)
    assert tnas_er(["front", "abc", "--objectives", "nope:max", "--experiment-dir", str(tmp_path / "exp")]) == 1
    assert "no trial has a final metric with every objective key ['nope']" in capsys.readouterr().err
    assert tnas_er(["front", "abc", "--objectives", "acc:max", "--experiment-dir", str(tmp_path / "none")]) == 1
    assert "no running manager answers for it and no database in" in capsys.readouterr().err
    assert tnas_er(["front", "abc", "--objectives", "acc:max,size:min", "--experiment-dir", str(tmp_path / "exp"),
                    "--reference-point", "1"]) == 2  # a usage error
    assert "--reference-point has 1 value(s) for 2 objective(s)" in capsys.readouterr().err
    for text in ("acc", "acc:up", "acc:max,acc:min", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            front.parse_objectives(text)
    with pytest.raises(SystemExit):
        tnas_er(["front", "abc", "--objectives", "acc:best"])
