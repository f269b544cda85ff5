"""The layers hold: core < hardware < measurement < NNI adapters < jobs, and the core never loads NNI.

import-linter reads the package from disk. The editable install maps ``search_spaces/``, ``strategies/``
and ``hardware/`` into ``tnas_plugin`` from outside its folder, where the linter would not see them, so
the check runs on a copy of the tree laid out as it installs (each plugin folder under ``tnas_plugin/``).
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FOLDERS = ("search_spaces", "strategies", "hardware")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _installed_layout(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tnas_plugin", target / "tnas_plugin", ignore=ignore)
    for folder in PLUGIN_FOLDERS:
        shutil.copytree(ROOT / folder, target / "tnas_plugin" / folder, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", target / ".importlinter")
    return target


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / ".importlinter"), "--no-cache"],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold(tmp_path):
    result = _lint(_installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


# One planted violation per contract (the import, and the edge import-linter reports for it), all in one
# copy of the tree, linted once: every contract must break, each on its planted import.
PLANTED = [
    ("hardware/energy.py", "import nni", "tnas_plugin.hardware.energy -> nni"),  # hardware must not touch NNI
    ("tnas_plugin/trainer.py", "from tnas_plugin.search_spaces import TTFSEyeSpace",  # core must not import adapters
     "tnas_plugin.trainer -> tnas_plugin.search_spaces"),
    ("strategies/evaluator.py", "from tnas_plugin.jobs import report",  # adapters must not import jobs
     "tnas_plugin.strategies.evaluator -> tnas_plugin.jobs.report"),
]


def test_a_planted_violation_breaks_each_contract(tmp_path):
    tree = _installed_layout(tmp_path)
    for module, statement, _ in PLANTED:
        folder, _, name = module.partition("/")
        path = tree / "tnas_plugin" / name if folder == "tnas_plugin" else tree / "tnas_plugin" / folder / name
        path.write_text(path.read_text() + f"\n{statement}  # planted\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout
    assert "Contracts: 0 kept, 3 broken" in result.stdout, result.stdout
    for _, _, edge in PLANTED:
        assert edge in result.stdout, edge


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_the_command_line_and_training_never_load_nni(argv):
    code = ("import sys\nfrom tnas_plugin.jobs.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "import tnas_plugin.measurement, tnas_plugin.checkpoint, tnas_plugin.jobs.hardware_commands\n"
            "print('NNI-LOADED' if any(m == 'nni' or m.startswith(('nni.', 'pytorch_lightning')) for m in sys.modules) else 'NNI-FREE')")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().endswith("NNI-FREE"), result.stdout + result.stderr
