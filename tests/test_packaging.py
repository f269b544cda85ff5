"""The built wheel installs the plugin folders under ``tnas_plugin.`` only (docs/ARCHITECTURE.md, "Layers")."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "tnas_plugin", "search_spaces", "strategies", "hardware")


def test_wheel_installs_plugins_only_under_tnas_plugin(tmp_path):
    source = tmp_path / "source"  # a copy, so that setuptools' build/ folder stays out of the work tree
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        check=True,
    )
    (wheel,) = tmp_path.glob("tnas_er-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"tnas_plugin"}
    for plugin in ("search_spaces", "strategies", "hardware"):
        assert f"tnas_plugin/{plugin}/__init__.py" in names
    assert "tnas_plugin/strategies/listen_host.js" in names  # the Node preload of strategies/manager_listen.py
    assert "tnas_plugin/strategies/tuner_connect.js" in names  # the Node preload of strategies/manager_start.py
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tnas-er = tnas_plugin.jobs.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
