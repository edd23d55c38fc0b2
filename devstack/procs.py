"""Child processes of the local stack: start, wait until ready, stop for sure."""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ChildProcess", "StartupError", "free_port", "file_lock", "start_child",
           "stop_with_parent", "LOOPBACK"]

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.1
STOP_GRACE_S = 10.0
LOG_TAIL_BYTES = 4000
_PR_SET_PDEATHSIG = 1

log = logging.getLogger("devstack")


class StartupError(RuntimeError):
    """A child process did not come up; the message carries its log tail."""


def free_port() -> int:
    """A TCP port that is free on the loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock across processes (parallel test runs share .devstack)."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Loaded here, not in the forked child: dlopen after fork can deadlock.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGTERM the child
    # when the thread that started it dies, even by SIGKILL, so no java or
    # moto server outlives the stack or a test run.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_with_parent() -> None:
    """SIGTERM this process when its parent dies (``make run`` killed): the
    stack then stops its own children instead of leaving them behind."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ChildProcess:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path
    _log_handle: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self) -> str:
        try:
            data = self.log_path.read_bytes()[-LOG_TAIL_BYTES:]
        except OSError:
            return ""
        return data.decode(errors="replace")

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until the child answers HTTP on its URL (any status is fine)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise StartupError(f"{self.name} exited with code {self.popen.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                urllib.request.urlopen(self.url, timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # it answered, if only to say the request is bad
            except (urllib.error.URLError, OSError):
                time.sleep(READY_POLL_S)
        self.stop()
        raise StartupError(f"{self.name} did not answer on {self.url} within {timeout_s:.0f} s:\n"
                           f"{self.log_tail()}")

    def stop(self, grace_s: float = STOP_GRACE_S, remove_log: bool = False) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; always reaps the process."""
        if self.running():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, self.pid)
                self.popen.kill()
                self.popen.wait()
        if self._log_handle is not None:
            self._log_handle.close()  # type: ignore[attr-defined]
            self._log_handle = None
        if remove_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()


def start_child(name: str, argv: Sequence[str], url: str, log_path: Path,
                cwd: Path | None = None, env: dict[str, str] | None = None) -> ChildProcess:
    """Start ``argv`` with its output in ``log_path``; it does not see the
    terminal's Ctrl-C (own session): the stack stops it in order."""
    handle = open(log_path, "wb")  # noqa: SIM115  (the child writes to it until it stops; closed by ChildProcess)
    popen = subprocess.Popen(
        list(argv), cwd=cwd, env=env if env is not None else os.environ.copy(),
        stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_die_with_parent,
    )
    return ChildProcess(name=name, popen=popen, url=url, log_path=log_path, _log_handle=handle)
