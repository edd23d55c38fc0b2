"""Where the running local stack is: ``.devstack/stack.json``.

``make run`` writes it once everything listens and removes it on stop, so
that every devstack command (token, scenario, bank, dlq, clock, metrics...)
finds the stack it talks to, says which one, and fails with a clear message
when none runs, instead of guessing ``http://127.0.0.1:8000``.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.paths import state_dir

__all__ = [
    "StackState", "NoStackError", "state_path", "write", "read", "running", "remove", "DEFAULT_API_URL"]

_FILE = "stack.json"
DEFAULT_API_URL = "http://127.0.0.1:8000"


class NoStackError(RuntimeError):
    """No local stack is running (no state file, or its process is gone)."""


@dataclass(frozen=True)
class StackState:
    api_url: str
    stage: str
    dynamodb_endpoint: str
    aws_endpoint: str
    pid: int
    schedule_rate_s: int
    # The stack's movable clock (``python -m devstack clock``); "" for a
    # state file written before the stack had one.
    clock_file: str = ""
    # The app's structured log stream (JSON lines: Powertools logs and EMF
    # metrics), read by ``python -m devstack metrics``; "" before it had one.
    app_log: str = ""

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def state_path() -> Path:
    """``.devstack/stack.json``, or the file ``WALLET_DEVSTACK_STATE`` names
    (a second stack, e.g. a test's, beside a running one, whose file stays)."""
    named = os.environ.get("WALLET_DEVSTACK_STATE")
    return Path(named) if named else state_dir() / _FILE


def write(state: StackState) -> Path:
    path = state_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read() -> StackState:
    """The running stack; NoStackError when there is none."""
    path = state_path()
    try:
        data = json.loads(path.read_text())
        state = StackState(**data)
    except FileNotFoundError as exc:
        raise NoStackError(f"no local stack is running (no {path}); start one with `make run`") from exc
    except (ValueError, TypeError) as exc:
        raise NoStackError(f"{path} is unreadable; restart the stack with `make run`") from exc
    if not state.alive():
        raise NoStackError(f"the stack of {path} (pid {state.pid}) is gone; start one with `make run`")
    return state


def remove(pid: int) -> None:
    """Remove the state file if it is this process's (a second stack's file stays)."""
    path = state_path()
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (FileNotFoundError, ValueError):
        pass


def running() -> StackState | None:
    """The running stack, or None after saying on stderr why there is none
    and how to start one (what every devstack command does first)."""
    try:
        return read()
    except NoStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
