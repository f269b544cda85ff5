"""Every command of README.md runs, so none goes stale: each ``tnas-er`` command parses, ``make``'s targets exist,
and (``-m slow``) every ``bash`` block runs on the tiny test tree. The Python blocks run in
test_search_job_resume_recipe.py."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nni_helpers import free_port, no_orphan_managers, wait_for_no_new_managers
from tnas_plugin.jobs.cli import build_parser
from tnas_plugin.jobs.search_job import SearchOptions

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
BASH_LINES = [line.strip() for block in BASH_BLOCKS for line in block.splitlines() if line.strip()]
INLINE = re.findall(r"`((?:\.venv/bin/)?tnas-er [^`]*--[^`]+)`", README)  # inline commands with options
TINY_SEARCH = "--resolution 16 --budget 2 --epochs 10 --final-epochs 1 --finalists 1"


def _argv(line: str) -> list[str]:
    """A command line as argv, without its comment, placeholders filled."""
    return shlex.split(line.replace("<ID>", "abcd1234"), comments=True)


def test_the_readme_shows_the_commands_a_newcomer_needs():
    assert {"make demo", "make test", "source .venv/bin/activate"} <= {" ".join(_argv(line)) for line in BASH_LINES}
    assert any(line.startswith("tnas-er search --quick") for line in BASH_LINES)
    assert len(README.splitlines()) < 200


@pytest.mark.parametrize("line", sorted({line for line in BASH_LINES if line.startswith("tnas-er ")} | set(INLINE)))
def test_every_tnas_er_command_of_the_readme_parses(line):
    argv = _argv(line)
    args = build_parser().parse_args(argv[1:])  # a stale option or subcommand exits with status 2
    assert args.func is not None


@pytest.mark.parametrize("module", sorted(set(re.findall(r"`python -m ([\w.]+) --help`", README))))
def test_every_python_module_command_of_the_readme_runs(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr


@pytest.mark.parametrize("target", ["demo", "test"])
def test_the_make_targets_of_the_readme_exist(target):
    done = subprocess.run(["make", "-n", "-C", str(REPO), target], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def tiny_script(tmp_path: Path, tiny_see: Path) -> str:
    """The README's bash blocks as one script on the tiny tree. What changes, and why:

    * ``make demo`` / ``make test``: dry runs (``make -n``), the whole job and suite being far too long;
    * ``source .venv/bin/activate``: the environment running this test;
    * ``tnas-er data synth --out data/synthetic-see``: the tiny tree stands in (``data/`` links to it);
    * ``tnas-er search``: tiny options; port 8080: a free port; ``~``: a folder of the test;
    * ``examples/see_search.yml``: a copy with one trial, the hand-crafted network for 3 epochs at 16x16 pixels;
    * ``<ID>``: the ID ``nnictl create`` printed; ``tnas-er front`` waits for the first result.
    """
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "synthetic-see").symlink_to(tiny_see)
    (tmp_path / "examples").mkdir()
    config = yaml.safe_load((REPO / "examples" / "see_search.yml").read_text())
    config.update(maxTrialNumber=1, trialCodeDirectory=str(tmp_path))
    config["trialCommand"] += """ --space-args '{"resolution": 16}' --evaluator-args '{"epochs": 3, "eval_starts": 1}'"""
    config["tuner"]["codeDirectory"] = str(tmp_path)
    # the hand-crafted network first: it learns in 3 epochs on the tiny tree (a collapsed trial has no result)
    config["tuner"]["classArgs"]["initial_population"] = [SearchOptions(resolution=16).handcrafted_sample()]
    (tmp_path / "examples" / "see_search.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "examples" / "see_search_space.json").write_text((REPO / "examples" / "see_search_space.json").read_text())
    lines = ["set -euo pipefail", f"cd {shlex.quote(str(tmp_path))}", f"export HOME={shlex.quote(str(tmp_path / 'home'))}"]
    for line in BASH_LINES:
        line = line.replace("8080", str(free_port())).replace("~/", "$HOME/").replace("<ID>", "$ID")
        if line.startswith("make "):
            line = line.replace("make ", f"make -n -C {shlex.quote(str(REPO))} ", 1)
        elif line.startswith("source .venv/bin/activate"):
            line = f"source {shlex.quote(sys.prefix)}/bin/activate"
        elif line.startswith("tnas-er data synth --out data/synthetic-see"):
            line = "test -f data/synthetic-see/emotion.json"
        elif line.startswith("tnas-er search"):
            line = line.split("#")[0] + f" {TINY_SEARCH} --port {free_port()} --quiet"
        elif line.startswith("nnictl create"):
            line = (line.split("#")[0] + " | tee create.log\n"
                    "ID=$(sed 's/\\x1b\\[[0-9;]*m//g' create.log | grep -o 'Experiment ID: [a-z0-9]*' | head -1 | cut -d' ' -f3)")
        elif line.startswith("tnas-er front"):
            line = f"for try in $(seq 120); do {line.split('#')[0]} && break; sleep 5; done; [ $try -lt 120 ]"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.slow  # a tiny tnas-er search and a one-trial nnictl experiment: ~3 min (pytest -m slow)
def test_the_readme_bash_blocks_run_on_the_tiny_tree(tiny_see, tmp_path):
    script = tiny_script(tmp_path, tiny_see)
    env = {**os.environ, "NNI_CONFIG_DIR": str(tmp_path / "nni-config")}  # nnictl's registry: this test's experiments only
    with no_orphan_managers() as before:
        try:
            done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=900, env=env)
        finally:
            subprocess.run(["bash", "-c", f"source {sys.prefix}/bin/activate; HOME={tmp_path / 'home'} nnictl stop --all"],
                           capture_output=True, timeout=120, env=env)
        assert done.returncode == 0, script + done.stdout[-4000:] + done.stderr[-4000:]
        assert wait_for_no_new_managers(before)
    assert (tmp_path / "results" / "quick" / "report.md").read_text().splitlines()[2].startswith("**Verdict.**")
    assert "Pareto front of" in done.stdout and (tmp_path / "home" / "see_search.yml").is_file()
