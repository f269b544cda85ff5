"""Bad options, files and data fail early with one clear line: exit 2 for usage errors, 1 for bad data or
files, never a traceback, nothing half written (issue 14). All in-process and fast: none starts NNI."""
import json
import shutil
import socket
import subprocess
import sys

import psutil
import pytest
from PIL import Image

from nni_helpers import free_port
from tnas_plugin.data.preflight import check_tree
from tnas_plugin.jobs.cli import main

ARCH = {"modality": "event", "frames": 2, "steps_per_window": 4, "resolution": 16,
        "stages": [{"channels": 4, "kernel": 3, "pool": "max"}], "classifier_width": 8, "num_classes": 7}


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def see_copy(tiny_see, tmp_path):
    """A private copy of the tiny SEE tree (without its cache) to damage."""
    return shutil.copytree(tiny_see, tmp_path / "see", ignore=shutil.ignore_patterns(".cache"))


def _first_frame(root, folder):
    return sorted((root / folder).glob("*/*/00000.jpg"))[0]


@pytest.mark.parametrize("argv, words", [
    (["search", "--budget", "0"], "--budget: must be an integer in [1, 100000], got 0"),
    (["search", "--budget", "-1"], "--budget: must be an integer in [1, 100000], got -1"),
    (["search", "--finalists", "0"], "--finalists: must be an integer in [1, 100]"),
    (["search", "--port", "0"], "--port: must be an integer in [1, 65535], got 0"),
    (["search", "--port", "70000"], "--port: must be an integer in [1, 65535], got 70000"),
    (["search", "--resolution", "0"], "--resolution: must be an integer in [8, 1024]"),
    (["search", "--population", "0"], "--population: must be an integer in [2, 10000]"),
    (["search", "--epochs", "x"], "--epochs: must be an integer in [1, 10000], got 'x'"),
    (["synops", "m.pt", "--data", "d", "--samples", "0"], "--samples: must be an integer in [1, 100000]"),
    (["synops", "m.pt", "--data", "d", "--steps-per-window", "0"], "--steps-per-window: must be an integer in [1, 4096]"),
    (["synops", "m.pt", "--data", "d", "--step-ms", "-1"], "--step-ms: must be a number > 0"),
    (["export-lava", "m.pt", "--data", "d", "--samples-per-run", "0"], "--samples-per-run: must be an integer in [1, 1000]"),
    (["train", "a.json", "--epochs", "0"], "--epochs: must be an integer in [1, 10000]"),
    (["evaluate", "m.pt", "--eval-starts", "0"], "--eval-starts: must be an integer in [1, 1000]"),
    (["data", "synth", "--out", "x", "--subjects", "0"], "--subjects: must be an integer in [2, 10000], got 0"),
    (["data", "synth", "--out", "x", "--workers", "0"], "--workers: must be an integer in [1, 256], got 0"),
    (["data", "synth", "--out", "x", "--size", "0x0"], "--size: size must be HxW with both at least 1"),
    (["data", "check", "x", "--size", "16"], "--size: size must be HxW"),
])
def test_option_out_of_range_is_a_usage_error_naming_the_range(capsys, argv, words):
    code, _, err = run(capsys, *argv)
    assert code == 2 and words in err and "Traceback" not in err


def test_busy_port_is_refused_before_anything_starts(capsys, tiny_see, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "search", "--data", tiny_see, "--out", tmp_path / "r", "--port", port)
    assert err == f"tnas-er search: port {port} is busy (Address already in use); choose another with --port\n"
    assert code == 2 and not any(tmp_path.iterdir())  # neither r, r.partial nor the lock r.lock


@pytest.mark.parametrize("address", ["999.1.1.1", "10.255.255.1"])
def test_listen_on_an_address_this_machine_does_not_have_exits_2_before_nni_starts(capsys, tiny_see, tmp_path, address):
    """Checked by binding a socket to it (nothing is sent); 999.1.1.1 is neither an IP address nor a host name."""
    own = {entry.address.split("%")[0] for entries in psutil.net_if_addrs().values() for entry in entries}
    if address in own:
        pytest.skip(f"{address} is an address of this machine")
    code, out, err = run(capsys, "search", "--data", tiny_see, "--out", tmp_path / "r", "--listen", address)
    assert code == 2 and address in err.splitlines()[-1] and "Traceback" not in err
    assert "starting NNI" not in out and not any(tmp_path.iterdir())


def test_an_earlier_run_is_never_overwritten_without_overwrite(capsys, tiny_see, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.md").write_text("the earlier run\n")
    code, _, err = run(capsys, "search", "--data", tiny_see, "--out", out, "--port", free_port())
    assert code == 2 and "--overwrite" in err
    assert (out / "report.md").read_text() == "the earlier run\n" and len(list(out.iterdir())) == 1
    (tmp_path / "s.partial").mkdir()  # a stopped run of --out s
    code, _, err = run(capsys, "search", "--data", tiny_see, "--out", tmp_path / "s", "--port", free_port())
    assert code == 2 and f"--resume {tmp_path / 's'}" in err


def test_resume_takes_the_stopped_runs_options(capsys, tmp_path):
    code, _, err = run(capsys, "search", "--resume", tmp_path / "r", "--budget", "3")
    assert code == 2 and "--budget cannot be given" in err
    code, _, err = run(capsys, "search", "--resume", tmp_path / "r")
    assert code == 1 and "search-run.json: no stopped search to resume here" in err


def test_a_corrupt_frame_in_a_modality_no_trial_has_read_yet_stops_the_search_before_nni(capsys, see_copy, tmp_path):
    bad = _first_frame(see_copy, "frame")  # intensity frames: the space can pick them, the first trials may not
    bad.write_bytes(b"not a jpeg")
    code, out, err = run(capsys, "search", "--data", see_copy, "--out", tmp_path / "r", "--port", free_port())
    assert code == 1 and "Traceback" not in err
    assert f"bad: {bad}: corrupt JPEG" in out  # the line `tnas-er data check` prints
    assert "1 problem(s)" in err and "--skip-bad" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.partial").exists()
    assert run(capsys, "data", "check", see_copy)[0] == 1


def test_a_mixed_size_sequence_is_an_error_even_when_resized(see_copy):
    frame = sorted((see_copy / "event").glob("*/*/00003.jpg"))[0]
    Image.new("L", (20, 20), 128).save(frame)
    for size in (None, (16, 16), (8, 8)):
        problems = check_tree(see_copy, size=size, cache_dir=see_copy / f".cache-{size}").problems
        assert [str(p) for p in problems] == [f"{frame}: frame size (20, 20) differs from the sequence's (16, 16)"], size


def test_absurd_architecture_or_missing_files_give_one_line_and_exit_1(capsys, tiny_see, tmp_path):
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({**ARCH, "resolution": 10**6}))
    code, _, err = run(capsys, "train", huge, "--data", tiny_see, "--out", tmp_path / "m.pt")
    assert code == 1 and err.strip() == (f"tnas-er train: {huge}: not a valid architecture "
                                         "(ValueError: resolution must be an integer in [1, 1024], got 1000000)")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    missing = tmp_path / "missing.pt"
    for argv in (["train", broken, "--data", tiny_see], ["train", tmp_path / "none.json", "--data", tiny_see],
                 ["evaluate", missing, "--data", tiny_see], ["report", tmp_path / "nothing"]):
        code, _, err = run(capsys, *argv)
        assert code == 1 and len(err.strip().splitlines()) == 1 and str(argv[1]) in err, (argv, err)
    partial = tmp_path / "partial-results"
    partial.mkdir()
    (partial / "trials.csv").write_text("trial,status\n")
    code, _, err = run(capsys, "report", partial)
    assert code == 1 and err.strip() == f"tnas-er report: {partial / 'pareto.csv'}: missing; give a results folder written by tnas-er search"


def test_train_checks_its_output_before_training(capsys, tiny_see, tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(ARCH))
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = run(capsys, "train", arch, "--data", tiny_see, "--out", blocker / "model.pt")
    assert code == 1 and f"{blocker}: cannot write here" in err and "checkpoint" not in out
    existing = tmp_path / "model.pt"
    existing.write_bytes(b"earlier")
    code, _, err = run(capsys, "train", arch, "--data", tiny_see, "--out", existing)
    assert code == 2 and "--overwrite" in err and existing.read_bytes() == b"earlier"


def _read_only_mount_works() -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro / /mnt && ! touch /mnt/tmp/.ro-probe"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not shutil.which("unshare") or not _read_only_mount_works(),
                    reason="needs a private mount namespace for a read-only bind mount")
def test_read_only_data_trains_with_the_cache_in_the_user_cache_folder(see_copy, tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(ARCH))
    user_cache = tmp_path / "user-cache"
    command = (f"mount --bind -o ro {see_copy} {see_copy} && "
               f"XDG_CACHE_HOME={user_cache} {sys.executable} -m tnas_plugin.jobs.cli train {arch} --data {see_copy} "
               f"--epochs 1 --out {tmp_path / 'model.pt'}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "model.pt").is_file() and not (see_copy / ".cache").exists()
    assert list((user_cache / "tnas-er" / "frames").glob("see-*/event/16x16/*.npy"))


def test_a_second_run_with_overwrite_replaces_the_first_whole(tmp_path):
    """What `make demo` does twice: each run is written aside and moved in complete; nothing else is left."""
    from tnas_plugin.jobs.results import ResultsFolder, UsageError

    out = tmp_path / "demo"
    first = ResultsFolder.create(out)
    (first.work / "report.md").write_text("first\n")
    (first.work / "only-in-first.csv").write_text("x\n")
    first.publish()
    with pytest.raises(UsageError, match="--overwrite"):
        ResultsFolder.create(out)
    second = ResultsFolder.create(out, overwrite=True)
    assert (out / "report.md").read_text() == "first\n"  # untouched while the second run is written
    (second.work / "report.md").write_text("second\n")
    second.publish()
    assert sorted(p.name for p in out.iterdir()) == ["report.md"] and (out / "report.md").read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
