"""The README's Python recipe for a resumable NAS search works as written: run, stop, resume in a new
process under the same experiment ID, with the first search's records kept (issue 14)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nni_helpers import free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def recipe_blocks() -> tuple[str, str]:
    """The two Python blocks of README's "Searching from Python": the search, and the resume."""
    text = README.read_text().split("## Searching from Python", 1)[1]
    search, resume = re.findall(r"```python\n(.*?)```", text, flags=re.S)[:2]
    return search, resume


def tiny(code: str, data: Path, port: int, trials: int) -> str:
    """The recipe on tiny data: fewer epochs and trials, a free port, the test's data tree."""
    for old, new in (('"data/synthetic-see"', repr(str(data))), ("epochs=15", "epochs=1"),
                     ("TTFSEyeSpace()", "TTFSEyeSpace(resolution=16)"), ("max_trial_number = 30", f"max_trial_number = {trials}"),
                     ("port=8080", f"port={port}")):
        code = code.replace(old, new)
    return code


def run_python(code: str, home: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HOME": str(home)})  # NNI's experiments and registry under HOME
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def printed_history(stdout: str) -> list:
    return json.loads(stdout.split("HISTORY ", 1)[1].splitlines()[0])


@pytest.mark.slow  # two NAS experiments whose trials load PyTorch Lightning: ~1.5-2 min (pytest -m slow)
def test_the_readme_python_recipe_runs_stops_and_resumes(tiny_see, tmp_path):
    search, resume = recipe_blocks()
    definitions = search.split("\nexperiment = make_experiment()")[0]
    history = "\nprint('HISTORY', json.dumps(experiment.strategy.core.history()))\nimport json\n"
    search_code = tiny(search, tiny_see, free_port(), 1)
    assert str(tiny_see) in search_code and "max_trial_number = 1" in search_code
    first = run_python("import json\n" + search_code + history, tmp_path)
    experiment_id = first.split("HISTORY")[0].strip().splitlines()[-1]
    before = printed_history(first)
    assert len(before) == 1

    code = "import json\n" + tiny(definitions + "\n" + resume.replace('"<ID>"', repr(experiment_id)), tiny_see, free_port(), 2)
    second = run_python(code + history, tmp_path)
    after = printed_history(second)
    assert len(after) == 2 and after[0] == before[0]  # the stopped search's record kept, one more trial run
    state = tmp_path / "nni-experiments" / experiment_id / "checkpoint" / "strategy-state.json"
    assert len(json.loads(state.read_text())["core"]["records"]) == 2
