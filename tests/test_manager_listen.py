"""NNI's manager listens on 127.0.0.1 unless asked otherwise (strategies/manager_listen.py + listen_host.js).

Bindings are read from the socket table (psutil, as ``ss -ltn`` shows it); nothing here connects to an
address other than 127.0.0.1. The managers that ``nnictl create`` (with the exports) and ``tnas-er search``
start are checked on their end-to-end runs: tests/test_tuner_nnictl.py and tests/test_search_job_signals.py.
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import nni_node
import pytest

from nni_helpers import free_port, manager_processes, manager_sockets
from tnas_plugin.strategies import manager_listen
from tnas_plugin.strategies.manager_listen import (
    DEFAULT_LISTEN, HOST_VARIABLE, PRELOAD, manager_environment, manager_listening_on, security_warning)

NODE = Path(nni_node.__path__[0]) / "node"

# Every form of listen that Node accepts without a host, and one with a host of its own.
LISTEN_FORMS = """
const http = require('http'), net = require('net');
const forms = {
  port: s => s.listen(0), portCallback: s => s.listen(0, () => {}), stringPort: s => s.listen('0'),
  options: s => s.listen({port: 0}), noArguments: s => s.listen(), callbackOnly: s => s.listen(() => {}),
  emptyHost: s => s.listen(0, ''), undefinedHost: s => s.listen(0, undefined), emptyOptionHost: s => s.listen({port: 0, host: ''}),
  ownHost: s => s.listen(0, '127.0.0.2'),
};
const result = {};
const names = Object.keys(forms);
names.forEach(name => {
  const server = name === 'port' ? http.createServer() : net.createServer();
  server.on('listening', () => {
    result[name] = server.address().address;
    server.close();
    if (Object.keys(result).length === names.length) console.log(JSON.stringify(result));
  });
  forms[name](server);
});
"""


def run_node(script: Path, env: dict) -> dict:
    out = subprocess.run([str(NODE), str(script)], capture_output=True, text=True, env=env, timeout=30, check=True)
    return json.loads(out.stdout)


@pytest.fixture
def fake_manager(tmp_path):
    """The listen forms as a script at .../nni_node/main.js (where the preload acts) and elsewhere."""
    manager = tmp_path / "nni_node" / "main.js"
    manager.parent.mkdir()
    manager.write_text(LISTEN_FORMS)
    other = tmp_path / "other.js"  # reports whether the preload patched listen there; binds nothing
    other.write_text("console.log(JSON.stringify({patched: 'tnasListenHost' in require('net').Server.prototype.listen}));")
    return manager, other


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("address", ["127.0.0.1", pytest.param("::1", marks=pytest.mark.skipif(
    not ipv6_loopback(), reason="no IPv6 loopback on this machine"))])
def test_preload_gives_every_hostless_listen_of_the_manager_the_address(fake_manager, address):
    manager, other = fake_manager
    env = dict(os.environ, **manager_environment(address))
    bound = run_node(manager, env)
    assert bound.pop("ownHost") == "127.0.0.2"  # a listen that names its host keeps it
    assert set(bound.values()) == {address}, bound
    assert run_node(other, env) == {"patched": False}  # other Node programs in that environment: untouched


def test_environment_keeps_existing_node_options_and_is_restored():
    env = manager_environment("127.0.0.1", {"NODE_OPTIONS": "--max-old-space-size=512"})
    assert env[HOST_VARIABLE] == "127.0.0.1"
    assert env["NODE_OPTIONS"] == f'--max-old-space-size=512 --require "{PRELOAD}"'
    assert manager_environment("127.0.0.1", env)["NODE_OPTIONS"] == env["NODE_OPTIONS"]  # no second --require
    assert PRELOAD.is_file()
    before = {name: os.environ.get(name) for name in ("NODE_OPTIONS", HOST_VARIABLE)}
    with manager_listening_on("::1") as updates:
        assert os.environ[HOST_VARIABLE] == "::1" and os.environ["NODE_OPTIONS"] == updates["NODE_OPTIONS"]
    assert {name: os.environ.get(name) for name in before} == before


def test_warning_only_off_loopback_and_bad_addresses_refused():
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert security_warning(loopback) is None
    for other in ("0.0.0.0", "::", "192.0.2.1", "worker.example.org"):
        assert "no authentication" in security_warning(other)
    for bad in ("", "a b", "1.2.3.4; rm -rf /", '"x"'):
        with pytest.raises(ValueError):
            manager_environment(bad)


def test_shell_exports_for_nnictl_users(capsys):
    assert manager_listen.main([]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    exported = dict(line.removeprefix("export ").split("=", 1) for line in captured.out.splitlines())
    assert {name: shlex.split(value)[0] for name, value in exported.items()} == manager_environment(DEFAULT_LISTEN)
    assert manager_listen.main(["0.0.0.0"]) == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "0.0.0.0" in captured.err and "TNAS_MANAGER_LISTEN=0.0.0.0" in captured.out
    # What a user types: eval "$(python -m tnas_plugin.strategies.manager_listen)" in a POSIX shell.
    script = f'eval "$({shlex.quote(sys.executable)} -m tnas_plugin.strategies.manager_listen)" && env'
    shown = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert f"{HOST_VARIABLE}=127.0.0.1" in shown and f'--require "{PRELOAD}"' in shown


def test_nas_experiment_manager_listens_on_loopback_only(tmp_path):
    """``NasExperiment`` (what ``tnas-er search`` runs) started inside ``manager_listening_on``."""
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.experiment import NasExperiment
    from nni.nas.strategy import Random

    from tnas_plugin.search_spaces import TTFSEyeSpace

    def no_training(model):  # never called: the experiment stops before any trial would report
        raise AssertionError("no trial expected")

    experiment = NasExperiment(TTFSEyeSpace(resolution=8), FunctionalEvaluator(no_training), Random(seed=0))
    experiment.config.max_trial_number = 1
    experiment.config.experiment_working_directory = str(tmp_path / "experiments")
    port = free_port()
    try:
        with manager_listening_on("127.0.0.1"):
            experiment.start(port=port)
        sockets = manager_sockets(port)
        print("NasExperiment manager listens on", sorted(sockets))
        assert sockets and {address for address, _ in sockets} == {"127.0.0.1"}, sockets
    finally:
        experiment.stop()
        leftover = manager_processes(port)
        for proc in leftover:
            proc.kill()
    assert not leftover, "experiment.stop() left the NNI manager running"
    assert HOST_VARIABLE not in os.environ


def test_search_command_takes_listen():
    from tnas_plugin.jobs.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["search"]).listen == "127.0.0.1"
    assert parser.parse_args(["search", "--listen", "0.0.0.0"]).listen == "0.0.0.0"
    with pytest.raises(SystemExit):
        parser.parse_args(["search", "--listen", "not an address"])
