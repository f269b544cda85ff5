"""One owner per results folder and per port (docs/ARCHITECTURE.md, "Reliability").

A :class:`Claim` is an exclusive ``flock`` on a lock file that records its owner's PID. The kernel drops
the lock when its owner exits, however it exits (``SIGKILL`` included), so a lock file whose lock is free
is stale and is taken over; a held one names the live owner. The owner removes the file while still
holding the lock; a process that locked a file just removed (its inode no longer at the path) tries again.

* ``OUT.lock`` (:func:`claim_folder`) is held by a search for as long as it runs, so a second search or
  ``--resume`` on the same ``--out`` is refused with "is running (pid N)" before it looks at the folder.
* ``tnas-er-port-N.lock`` in the temporary folder (:func:`claim_port`) is held while the job's NNI manager
  owns port N: two jobs never start a manager on the same port. A port that a lock or another program
  holds is refused (the user's ``--port``) or skipped for the next one (the default).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tnas_plugin.errors import InputError, UsageError
from tnas_plugin.strategies.manager_listen import bind_problem

DEFAULT_PORT = 8080  # the first port tried when --port is not given
PORTS_TRIED = 100  # ports tried from DEFAULT_PORT on before giving up


class Held(Exception):
    """The lock file ``path`` is locked by the live process ``pid`` (``None`` when it has not written it yet)."""

    def __init__(self, path: Path, pid: int | None):
        self.path, self.pid = path, pid
        super().__init__(f"{path}: held by pid {pid}")


@dataclass
class Claim:
    """An exclusive lock on ``path`` held through the open descriptor ``fd``; :meth:`release` gives it up."""

    path: Path
    fd: int

    @classmethod
    def take(cls, path: Path) -> "Claim":
        """Lock ``path`` (created if needed) and write this process's PID in it; :class:`Held` if a live process holds it."""
        path = Path(path)
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:  # another user's lock file in a shared folder: lockable, not writable
                fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise Held(path, _read_pid(path)) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                return cls(path, fd)
            os.close(fd)  # its owner removed it between our open and our lock: take the new file

    def release(self) -> None:
        """Remove the lock file while still holding it, then unlock (idempotent)."""
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = -1


def _read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return None


def folder_lock(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


def claim_folder(out: Path) -> Claim:
    """The lock of the results folder ``out`` (``OUT.lock``, next to it); ``UsageError`` while a live search holds it."""
    with contextlib.suppress(OSError):  # a folder that cannot be made fails below, naming the lock file
        out.parent.mkdir(parents=True, exist_ok=True)
    try:
        return Claim.take(folder_lock(out))
    except Held as held:
        owner = f"pid {held.pid}" if held.pid else "its pid not written yet"
        raise UsageError(f"{out}: a search is running in this folder ({owner}); wait for it, or choose another --out") from None
    except OSError as error:
        raise InputError(f"{folder_lock(out)}: cannot lock the results folder ({error.strerror or error})") from None


def port_lock(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"tnas-er-port-{port}.lock"


def claim_port(port: int | None, address: str) -> tuple[int, Claim]:
    """``(port, claim)``: ``port`` (the user's; ``UsageError`` when busy) or, for ``None``, the first of
    ``DEFAULT_PORT``, ``DEFAULT_PORT + 1``, ... that no tnas-er job holds and that binds on ``address``."""
    candidates = [port] if port is not None else range(DEFAULT_PORT, DEFAULT_PORT + PORTS_TRIED)
    for candidate in candidates:
        try:
            claim = Claim.take(port_lock(candidate))
        except Held as held:
            if port is not None:
                raise UsageError(f"port {port} is in use by another tnas-er job (pid {held.pid}); "
                                 "choose another with --port") from None
            continue
        problem = bind_problem(address, candidate)
        if problem is None:
            return candidate, claim
        claim.release()
        if port is not None:
            raise UsageError(f"port {port} is busy ({problem}); choose another with --port") from None
    raise UsageError(f"ports {DEFAULT_PORT} to {DEFAULT_PORT + PORTS_TRIED - 1} are all busy; choose one with --port")

