"""Several searches on one busy machine: one owner per results folder and per port, checked options, start-up
that survives load, and a stop during NNI's start-up that can be resumed (docs/ARCHITECTURE.md, "Reliability").

Nothing here connects to an address other than 127.0.0.1: addresses are tested by binding a socket.
"""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from job_helpers import Job
from nni_helpers import free_port, manager_pids, no_orphan_managers, wait_for_no_new_managers
from tnas_plugin.jobs import claims
from tnas_plugin.jobs.claims import Claim, Held, claim_folder, claim_port
from tnas_plugin.jobs.results import UsageError
from tnas_plugin.jobs.search_job import manager_error

TINY = ["--budget", "2", "--epochs", "10", "--final-epochs", "1", "--resolution", "16", "--finalists", "1", "--quiet"]
HOLD = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); " \
       "os.write(fd, str(os.getpid()).encode()); print('held', flush=True); time.sleep(600)"


def search(data, out, *extra, timeout: float = 900.0) -> Job:
    return Job("search", "--data", data, "--out", out, *TINY, *extra, timeout=timeout)


def stderr_lines(job: Job) -> list[str]:
    """The job's own error lines (``tnas-er search: ...``; its output is one stream)."""
    return [line for line in job.lines if line.startswith("tnas-er search:")]


@pytest.fixture
def holder(tmp_path):
    """A live process holding the lock file it is given."""
    processes = []

    def hold(path):
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "held"
        processes.append(process)
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_a_held_claim_names_its_live_owner_and_a_dead_owners_claim_is_taken_over(tmp_path, holder):
    lock = tmp_path / "r.lock"
    owner = holder(lock)
    with pytest.raises(Held) as held:
        Claim.take(lock)
    assert held.value.pid == owner.pid
    with pytest.raises(UsageError, match=rf"r: a search is running in this folder \(pid {owner.pid}\); wait for it"):
        claim_folder(tmp_path / "r")
    owner.kill()
    owner.wait()
    assert lock.read_text() == str(owner.pid)  # the dead owner's file is still there: stale
    claim = claim_folder(tmp_path / "r")
    assert lock.read_text().strip() == str(os.getpid())
    claim.release()
    assert not lock.exists()


def test_a_busy_port_is_refused_when_chosen_and_skipped_when_not(monkeypatch, tmp_path, holder):
    monkeypatch.setattr(claims.tempfile, "gettempdir", lambda: str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=rf"^port {port} is busy \(Address already in use\); choose another with --port$"):
            claim_port(port, "127.0.0.1")
        monkeypatch.setattr(claims, "DEFAULT_PORT", port)
        taken, claim = claim_port(None, "127.0.0.1")
        assert taken > port
        claim.release()
    owner = holder(claims.port_lock(port))  # another tnas-er job holds the port's lock
    with pytest.raises(UsageError, match=rf"^port {port} is in use by another tnas-er job \(pid {owner.pid}\)"):
        claim_port(port, "127.0.0.1")
    taken, claim = claim_port(None, "127.0.0.1")
    assert taken == port + 1 or taken > port
    claim.release()


@pytest.mark.slow
def test_two_searches_on_one_port_and_one_folder_beside_two_cpu_hogs(tiny_see, tmp_path):
    """Two searches on one --port started together: one is refused in one line, the other completes while two
    CPU-bound processes run beside it; a third one on the winner's --out is refused naming its pid."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    port = free_port()
    try:
        with no_orphan_managers() as before:
            jobs = [search(tiny_see, tmp_path / name, "--port", port) for name in ("a", "b")]
            while all(job.process.poll() is None for job in jobs):
                time.sleep(0.5)
            loser = next(job for job in jobs if job.process.poll() is not None)
            winner = jobs[1 - jobs.index(loser)]
            assert loser.wait() == 2, loser.output[-3000:]
            assert [line.split(" (pid")[0] for line in stderr_lines(loser)] == \
                [f"tnas-er search: port {port} is in use by another tnas-er job"], loser.output[-3000:]
            assert "Traceback" not in loser.output and not any((tmp_path / f"{n}.partial").exists() and
                                                                job is loser for n, job in zip("ab", jobs))
            out = tmp_path / "ab"[jobs.index(winner)]
            winner.wait_for(r"^trial \d+ \(\w+\) running")  # NNI's tuner connected although the machine is busy
            third = search(tiny_see, out, "--port", free_port())
            assert third.wait() == 2, third.output[-3000:]
            assert stderr_lines(third) == [f"tnas-er search: {out}: a search is running in this folder "
                                           f"(pid {winner.process.pid}); wait for it, or choose another --out\n"]
            assert winner.wait(timeout=1200) == 0, winner.output[-3000:]
            assert (out / "report.md").is_file() and not (tmp_path / f"{out.name}.lock").exists()
            assert "Traceback" not in winner.output
            assert wait_for_no_new_managers(before)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.slow
def test_sigint_during_nni_start_up_exits_at_once_and_resume_completes(tiny_see, tmp_path):
    out = tmp_path / "r"
    with no_orphan_managers() as before:
        job = search(tiny_see, out, "--port", free_port())
        job.wait_for(r"Web portal URLs")  # NNI's manager is up; its tuner is starting
        started = time.monotonic()
        code = job.send(signal.SIGINT)
        took = time.monotonic() - started
        assert code == 130 and took < 10, (code, took, job.output[-3000:])
        assert "Traceback" not in job.output and not job.left_behind(), job.output[-3000:]
        assert (tmp_path / "r.partial" / "search-run.json").is_file() and not out.exists()
        resumed = Job("search", "--resume", out, "--port", free_port(), timeout=900)
        assert resumed.wait(timeout=900) == 0, resumed.output[-3000:]
        assert (out / "report.md").is_file() and "Traceback" not in resumed.output
        assert wait_for_no_new_managers(before)


# Python runs sitecustomize at start-up: here it holds back the tuner (NNI's dispatcher, ``python -m nni``) only.
SLOW_TUNER = "import sys, time\nif sys.orig_argv[1:3] == ['-m', 'nni']:\n    time.sleep(10)\n"


def test_a_tuner_that_does_not_connect_in_time_fails_in_one_line_and_leaves_nothing(tiny_see, tmp_path, monkeypatch):
    """NNI's manager waits TNAS_TUNER_CONNECT_S seconds (here 1); the tuner takes 10 s to start, on any machine."""
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "sitecustomize.py").write_text(SLOW_TUNER)
    monkeypatch.setenv("TNAS_TUNER_CONNECT_S", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path / "slow"), os.environ.get("PYTHONPATH")])))
    with no_orphan_managers() as before:
        job = search(tiny_see, tmp_path / "r", "--port", free_port())
        code = job.wait()
        assert wait_for_no_new_managers(before), (manager_pids(), job.output[-3000:])
    assert code == 1 and "Traceback" not in job.output, job.output[-3000:]
    assert stderr_lines(job) == ["tnas-er search: NNI ended the search before its first trial (tuner_command_channel: Tuner "
                                 "did not connect in 1 seconds. Please check tuner (dispatcher) log.); nothing was kept: "
                                 "run the same command again\n"], job.output[-3000:]
    assert [path.name for path in tmp_path.iterdir()] == ["slow"]  # neither r, r.partial nor r.lock: the same command can run again


def test_the_reason_given_is_the_managers_first_error_that_nni_does_not_retry(tmp_path):
    """NNI logs a lock met on its experiment list as an ERROR and retries it (another search or nnictl on the
    machine); the reason the job gives is the error that ended the experiment."""
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "nnimanager.log").write_text(
        "[2026-12-04 03:48:57] INFO (main) Start NNI manager\n"
        "[2026-12-04 03:48:58] ERROR (experiments_manager) Error: File has been locked.\n"
        "    at withLockNoWait (nni_node/extensions/experiments_manager/utils.js:45:15)\n"
        "[2026-12-04 03:48:58] ERROR (tuner_command_channel) Error: tuner_command_channel: Tuner did not connect in 1 seconds.\n")
    assert manager_error(tmp_path) == "tuner_command_channel: Tuner did not connect in 1 seconds."
    (tmp_path / "log" / "nnimanager.log").write_text("[2026-12-04 03:48:58] ERROR (experiments_manager) Error: File has been locked.\n")
    assert manager_error(tmp_path) == f"no error in {tmp_path / 'log' / 'nnimanager.log'}"
