"""The built wheel installs the plugin folders under ``tnas_plugin.`` only (DESIGN.md section 2)."""
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_plugins_only_under_tnas_plugin(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
    )
    (wheel,) = tmp_path.glob("tnas_er-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"tnas_plugin"}
    for plugin in ("search_spaces", "strategies", "hardware"):
        assert f"tnas_plugin/{plugin}/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tnas-er = tnas_plugin.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
