"""NNI's manager waits TNAS_TUNER_CONNECT_S seconds for its tuner (strategies/tuner_connect.js, manager_start.py).

NNI's own ``core/tuner_command_channel.js`` and ``common/deferred.js`` run under Node in a copy of NNI's
folder layout, with its WebSocket server and logger stubbed, so the wait is measured on NNI's code without
starting a manager.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import nni_node

from tnas_plugin.strategies.manager_start import PRELOAD, SECONDS_VARIABLE, patient_manager_start

NNI = Path(nni_node.__path__[0])
STUBS = {
    "common/log.js": "exports.getLogger = () => ({debug() {}, info() {}, warning() {}, error() {}});",
    "common/command_channel/websocket.js": "exports.WsChannelServer = class { onConnection() {} start() {} async shutdown() {} };",
}
MAIN = """
const started = Date.now();
require('./core/tuner_command_channel').getTunerServer().init().then(
  () => console.log(JSON.stringify({connected: true})),
  error => console.log(JSON.stringify({message: error.message, seconds: (Date.now() - started) / 1000})));
"""


def fake_manager(root: Path) -> Path:
    for name, text in STUBS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    shutil.copy(NNI / "common" / "deferred.js", root / "common" / "deferred.js")
    (root / "nni_node" / "core").mkdir(parents=True)
    shutil.copy(NNI / "core" / "tuner_command_channel.js", root / "nni_node" / "core")
    (root / "nni_node" / "main.js").write_text(MAIN)
    return root / "nni_node" / "main.js"


def test_nni_still_waits_10_s_where_the_preload_expects_it():
    source = (NNI / "core" / "tuner_command_channel.js").read_text()
    assert "Tuner did not connect in 10 seconds" in source and "}, 10000);" in source and "init() {" in source


def test_the_manager_waits_the_configured_time_for_its_tuner(tmp_path):
    main = fake_manager(tmp_path)
    with patient_manager_start(seconds=1):
        environment = {**os.environ, "NODE_PATH": str(tmp_path)}
        assert environment[SECONDS_VARIABLE] == "1" and str(PRELOAD) in environment["NODE_OPTIONS"]
        done = subprocess.run([str(NNI / "node"), str(main)], capture_output=True, text=True, env=environment, timeout=60)
    assert SECONDS_VARIABLE not in os.environ and str(PRELOAD) not in os.environ.get("NODE_OPTIONS", "")
    result = json.loads(done.stdout)
    assert result["message"] == "tuner_command_channel: Tuner did not connect in 1 seconds. Please check tuner (dispatcher) log."
    assert 0.9 <= result["seconds"] < 5  # NNI alone: 10 s
