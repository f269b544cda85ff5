"""Which address NNI's manager listens on: 127.0.0.1 unless asked otherwise.

NNI 3.0's manager (the Node program ``nni_node/main.js`` that ``nnictl`` and ``NasExperiment`` start)
binds its REST API and web UI with ``app.listen(port)``, and its other servers (the WebSocket command
channel of the reusable training services) the same way: on every network interface, without
authentication, although that API can stop the experiment and read its logs. ``listen_host.js``, next
to this module, is a Node preload that gives every such ``listen`` a host; this module switches it on
through two environment variables that the manager inherits (NNI starts it with ``subprocess.Popen``
and the parent's environment)::

    NODE_OPTIONS="--require <this folder>/listen_host.js"   TNAS_MANAGER_LISTEN=127.0.0.1

From Python, around whatever starts a manager (``run``, ``start``, ``resume``, ``view``)::

    from tnas_plugin.strategies.manager_listen import manager_listening_on
    with manager_listening_on("127.0.0.1"):
        experiment.run(port=8080)

For ``nnictl``, in the shell that runs it::

    eval "$(python -m tnas_plugin.strategies.manager_listen)"           # 127.0.0.1
    eval "$(python -m tnas_plugin.strategies.manager_listen 0.0.0.0)"   # every interface (prints the warning)
    nnictl create --config examples/see_search.yml --port 8080

Remote workers connect back to the manager at the experiment's ``nniManagerIp``: listen on an address
they can reach and give the same one as ``nniManagerIp``.
"""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import re
import shlex
import socket
import sys
from pathlib import Path
from typing import Iterator, Mapping

DEFAULT_LISTEN = "127.0.0.1"
PRELOAD = Path(__file__).resolve().with_name("listen_host.js")
HOST_VARIABLE = "TNAS_MANAGER_LISTEN"
# RFC 1123 host names; the last label is not all digits, so "999.1.1.1" is a bad IP address, not a name.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!(?:[0-9]+\.)*[0-9]+$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")

SECURITY_WARNING = (
    "WARNING: NNI's manager will listen on {address}, which other machines may reach. Its REST API and "
    "web UI have no authentication: whoever can connect to them can read the experiment's logs and trial "
    "output and stop or change the experiment. Use this on a trusted network only, or keep the default "
    "127.0.0.1 and open the web UI through an SSH tunnel (ssh -L 8080:127.0.0.1:8080 THIS_HOST)."
)


def check_address(address: str) -> str:
    """``address`` (an IP address or a host name) stripped; ValueError if it is neither."""
    address = str(address).strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    if not _HOSTNAME.match(address):
        raise ValueError(f"not an IP address or host name: {address!r}")
    return address


def bind_problem(address: str, port: int = 0) -> str | None:
    """Why a listening TCP socket cannot be bound to ``(address, port)`` here (``None``: it can).

    The socket is bound and closed: nothing is sent. A host name is resolved by the system's resolver
    first (an IP address is used as it is).
    """
    try:
        family, _, _, _, where = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        return f"cannot resolve it: {getattr(error, 'strerror', None) or error}"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free for a new listener
        try:
            probe.bind(where)
        except OSError as error:
            return error.strerror or str(error)
    return None


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    address = check_address(address)
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def security_warning(address: str) -> str | None:
    """The warning to print when the manager is to listen on ``address``; None for loopback."""
    return None if is_loopback(address) else SECURITY_WARNING.format(address=check_address(address))


def web_ui_url(address: str, port: int) -> str:
    """The URL to open the web UI at on this machine when the manager listens on ``address``."""
    address = check_address(address)
    if address in ("0.0.0.0", "::"):  # every interface: loopback among them
        address = "127.0.0.1"
    return f"http://[{address}]:{port}" if ":" in address else f"http://{address}:{port}"


def _node_option_require() -> str:
    quoted = str(PRELOAD).replace("\\", "\\\\").replace('"', '\\"')
    return f'--require "{quoted}"'


def manager_environment(address: str = DEFAULT_LISTEN, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The two variables that make a manager started with ``environ`` (default ``os.environ``) listen on
    ``address``; an existing ``NODE_OPTIONS`` is kept."""
    environ = os.environ if environ is None else environ
    require = _node_option_require()
    options = environ.get("NODE_OPTIONS", "").strip()
    if require not in options:
        options = f"{options} {require}".strip()
    return {"NODE_OPTIONS": options, HOST_VARIABLE: check_address(address)}


@contextlib.contextmanager
def manager_listening_on(address: str = DEFAULT_LISTEN) -> Iterator[dict[str, str]]:
    """Within the block, NNI managers started by this process listen on ``address`` only; the
    environment is restored afterwards (a manager that is running keeps its address)."""
    updates = manager_environment(address)
    saved = {name: os.environ.get(name) for name in updates}
    os.environ.update(updates)
    try:
        yield updates
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def shell_exports(address: str = DEFAULT_LISTEN) -> str:
    """``export`` lines for a POSIX shell (``eval "$(python -m tnas_plugin.strategies.manager_listen)"``)."""
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in manager_environment(address).items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tnas_plugin.strategies.manager_listen",
        description="Print the shell exports that make NNI managers started from this shell (nnictl create, "
                    "resume, view) listen on ADDRESS only.",
        epilog='Example: eval "$(python -m tnas_plugin.strategies.manager_listen)" && '
               "nnictl create --config examples/see_search.yml --port 8080",
    )
    parser.add_argument("address", nargs="?", default=DEFAULT_LISTEN,
                        help=f"IP address or host name to listen on (default {DEFAULT_LISTEN}; 0.0.0.0 = every IPv4 interface)")
    args = parser.parse_args(argv)
    try:
        exports = shell_exports(args.address)
    except ValueError as error:
        parser.error(str(error))
    warning = security_warning(args.address)
    if warning:
        print(warning, file=sys.stderr)
    print(exports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
