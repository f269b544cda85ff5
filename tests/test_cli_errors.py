"""Every ``tnas-er`` command: a bad file exits 1, a bad option 2, a missing network (or input) 1, each in one
line naming what is wrong, never a traceback (docs/ARCHITECTURE.md, "Reliability"). In-process; none starts NNI."""
import json

import pytest

from tnas_plugin.jobs.cli import build_parser, main

ARCH = {"modality": "event", "frames": 2, "steps_per_window": 4, "resolution": 16,
        "stages": [{"channels": 4, "kernel": 3, "pool": "max"}], "classifier_width": 8, "num_classes": 7}

# command -> {case: argv}; in argv, GARBAGE is a file of text, ARCH an architecture JSON, DATA the tiny SEE tree,
# TAKEN an existing file, NONE a path where nothing exists, OUT a results folder to be. Cases that do not apply to a command are absent.
CASES = {
    "search": {"bad file": ["search", "--data", "GARBAGE", "--out", "NONE"],
               "bad option": ["search", "--resume", "NONE", "--budget", "3"],
               "missing": ["search", "--data", "NONE", "--out", "OUT"]},
    "nnictl-config": {"bad file": ["nnictl-config", "--data", "GARBAGE", "--out", "NONE"],
                      "bad option": ["nnictl-config", "--data", "DATA", "--out", "TAKEN"],
                      "missing": ["nnictl-config", "--data", "NONE", "--out", "NONE"]},
    "train": {"bad file": ["train", "GARBAGE", "--data", "DATA"],
              "bad option": ["train", "ARCH", "--data", "DATA", "--out", "TAKEN"],
              "missing": ["train", "NONE", "--data", "DATA"]},
    "evaluate": {"bad file": ["evaluate", "GARBAGE", "--data", "DATA"],
                 "bad option": ["evaluate", "GARBAGE", "--data", "DATA", "--eval-starts", "0"],
                 "missing": ["evaluate", "NONE", "--data", "DATA"]},
    "report": {"bad file": ["report", "GARBAGE"],
               "bad option": ["report", "NONE", "--overwrite"],
               "missing": ["report", "NONE"]},
    "front": {"bad file": ["front", "X", "--objectives", "a:max", "--experiment-dir", "DB"],
              "bad option": ["front", "X", "--objectives", "a:up"],
              "missing": ["front", "X", "--objectives", "a:max", "--experiment-dir", "NONE"]},
    "data synth": {"bad file": ["data", "synth", "--out", "GARBAGE/x"],
                   "bad option": ["data", "synth", "--out", "DATA"]},
    "data check": {"bad file": ["data", "check", "GARBAGE"],
                   "bad option": ["data", "check", "DATA", "--modality", "x"],
                   "missing": ["data", "check", "NONE"]},
    "synops": {"bad file": ["synops", "NONE", "--data", "DATA", "--profile", "GARBAGE"],  # a profile that is no YAML mapping
               "bad option": ["synops", "NONE", "--data", "DATA", "--profile", "cmos45nm", "--latency-model", "core_time"],
               "missing": ["synops", "NONE", "--data", "DATA"]},
    "export-lava": {"bad file": ["export-lava", "GARBAGE", "--data", "DATA"],
                    "bad option": ["export-lava", "NONE", "--data", "DATA", "--samples-per-run", "0"],
                    "missing": ["export-lava", "NONE", "--data", "DATA"]},
}
EXIT = {"bad file": 1, "bad option": 2, "missing": 1}


def test_every_command_has_its_cases():
    commands = build_parser()._subparsers._group_actions[0].choices
    named = {f"data {action}" if name == "data" else name for name, parser in commands.items()
             for action in (parser._subparsers._group_actions[0].choices if name == "data" else [None])}
    assert named == set(CASES)


@pytest.mark.parametrize("command, case", [(command, case) for command, cases in CASES.items() for case in cases])
def test_an_error_exits_with_its_status_in_one_line(command, case, tiny_see, tmp_path, capsys):
    garbage = tmp_path / "garbage"
    garbage.write_text("not what was asked for\n")
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "nni.sqlite").write_text("not a database\n")
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    (tmp_path / "taken").write_text("")
    paths = {"GARBAGE": garbage, "ARCH": tmp_path / "arch.json", "DATA": tiny_see, "TAKEN": tmp_path / "taken",
             "NONE": tmp_path / "none", "DB": tmp_path, "OUT": tmp_path / "out"}
    argv = [str(paths[word.split("/")[0]]) + word[len(word.split("/")[0]):] if word.split("/")[0] in paths else word
            for word in CASES[command][case]]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == EXIT[case] and len(lines) == 1 and lines[0].startswith("tnas-er"), captured
    assert "Traceback" not in captured.err + captured.out
    named = {"bad file": garbage, "missing": tmp_path / "none"}.get(case)
    assert named is None or str(named) in lines[0] or command == "front" and "nni.sqlite" in lines[0], lines[0]
