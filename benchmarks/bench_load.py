"""Several ``tnas-er search`` jobs started at once on a loaded machine (docs/ARCHITECTURE.md, "Reliability").

``--searches`` jobs (default 5) start at the same moment, each with its own ``--out`` and ``--port``, all
pinned to ``--cores`` CPU cores (default 2) together with ``--hogs`` CPU-bound processes (default 2,
``while True: pass``). Each job is a whole tiny search (tiny synthetic data, ``--budget`` trials, one
finalist retrained for one epoch, the Lava check and the baselines). Per job:

- ``status``: its exit status (0: completed, ``report.md`` written);
- ``to_nni_s``: from its start to "starting NNI experiment" (imports, data check);
- ``start_up_s``: from its start to its first "trial ... running" line (NNI's manager and tuner up, a
  trial submitted);
- ``manager_s``: NNI's launcher starting the manager to the manager answering and taking the experiment
  ("Creating experiment" to "Web portal URLs" on the job's output; NNI's own limit for the answer is 3 s,
  ``strategies/manager_start.py`` raises it to 60 s);
- ``tuner_s``: the manager's wait for the tuner to connect ("Setup tuner" to "Add event listeners" in
  ``nnimanager.log``, 1 s resolution; NNI's limit 10 s, raised to 300 s);
- ``total_s``: its wall time.

    python benchmarks/bench_load.py                          # 5 searches, 2 hogs, 2 cores
    python benchmarks/bench_load.py --searches 3 --hogs 1    # quicker

Results: ``results/bench_load.csv`` and ``results/bench_load.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402

TINY = ["--epochs", "3", "--final-epochs", "1", "--resolution", "16", "--finalists", "1", "--quiet"]
COLUMNS = ["search", "status", "to_nni_s", "start_up_s", "manager_s", "tuner_s", "total_s", "last_line"]
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] \w+ \((\w+)\) (.*)$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin(cores: set[int]):
    return lambda: os.sched_setaffinity(0, cores)


class Search:
    """One ``tnas-er search`` process; the times (from its start) at which it printed the lines that matter."""

    def __init__(self, number: int, data: Path, out: Path, budget: int, cores: set[int]):
        self.number, self.out = number, out
        argv = [sys.executable, "-m", "tnas_plugin.jobs.cli", "search", "--data", str(data), "--out", str(out),
                "--port", str(free_port()), "--budget", str(budget), *TINY]
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=pin(cores), start_new_session=True)
        self.seen: dict[str, float] = {}
        self.last_line = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            now = time.monotonic() - self.started
            if line.strip():
                self.last_line = line.strip()[-160:]
            for key, pattern in (("nni", r"^starting NNI experiment"), ("trial", r"^trial \d+ \(\w+\) running"),
                                 ("creating", r"Creating experiment"), ("portal", r"Web portal URLs")):
                if key not in self.seen and re.search(pattern, line):
                    self.seen[key] = now

    def row(self, timeout: float) -> dict:
        try:
            status = self.process.wait(timeout=max(1.0, timeout - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            status = "timeout"
        total = time.monotonic() - self.started
        self.reader.join(timeout=5)
        manager = self.seen["portal"] - self.seen["creating"] if {"portal", "creating"} <= set(self.seen) else None
        return {"search": self.number, "status": status, "to_nni_s": _round(self.seen.get("nni")),
                "start_up_s": _round(self.seen.get("trial")), "manager_s": _round(manager), "tuner_s": tuner_wait(self.out),
                "total_s": round(total, 1), "last_line": self.last_line}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def tuner_wait(out: Path) -> float | None:
    """Seconds from "Setup tuner" to "Add event listeners" (the tuner connected) in the run's ``nnimanager.log``."""
    logs = sorted(out.parent.glob(f"{out.name}*/nni/*/log/nnimanager.log"))
    times = {}
    for line in logs[-1].read_text(errors="replace").splitlines() if logs else []:
        match = STAMP.match(line)
        if match:
            key = next((key for key, text in (("setup", "Setup tuner"), ("tuner", "Add event listeners"))
                        if match.group(3).startswith(text)), None)
            if key and key not in times:
                times[key] = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    return (times["tuner"] - times["setup"]).total_seconds() if {"setup", "tuner"} <= set(times) else None


def markdown(rows: list[dict], settings: str) -> str:
    done = sum(row["status"] == 0 for row in rows)
    lines = [f"# {len(rows)} searches at once on a loaded machine", "", settings, "",
             f"**{done} of {len(rows)} completed.**", "",
             "| search | exit | to NNI (s) | start-up (s) | manager hand-shake (s) | tuner hand-shake (s) | total (s) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [row[key] if row[key] is not None else "-" for key in COLUMNS[:-1]]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the searches")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores everything is pinned to")
    parser.add_argument("--budget", type=int, default=2, help="trials per search")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds a search may take")
    parser.add_argument("--data", type=Path, help="SEE tree (default: a tiny synthetic one, generated)")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    cores = set(sorted(os.sched_getaffinity(0))[:args.cores])
    work = Path(tempfile.mkdtemp(prefix="bench_load-"))
    data = args.data
    if data is None:
        from tnas_plugin.data import SynthConfig, synthesize
        data = work / "see"
        synthesize(data, SynthConfig(subjects=8, size=(16, 16), sequences_per_subject=14, frames=(12, 16)))
    settings = (f"{args.searches} searches (budget {args.budget}, tiny synthetic data), {args.hogs} CPU hogs, all pinned "
                f"to {len(cores)} core(s); {describe()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(settings, flush=True)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin(cores)) for _ in range(args.hogs)]
    try:
        searches = [Search(number, data, work / f"out{number}", args.budget, cores) for number in range(args.searches)]
        rows = [search.row(args.timeout) for search in searches]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    args.results.mkdir(parents=True, exist_ok=True)
    with (args.results / "bench_load.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows, settings)
    (args.results / "bench_load.md").write_text(table)
    print(table)
    return 0 if all(row["status"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
