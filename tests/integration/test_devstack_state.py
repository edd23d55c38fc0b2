"""The stack's state file: devstack commands find the running stack there."""
from __future__ import annotations

import os

import pytest

from devstack import state


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    return tmp_path


def _state(pid: int) -> state.StackState:
    return state.StackState(api_url="http://127.0.0.1:8123", stage="local", dynamodb_endpoint="http://127.0.0.1:1",
                            aws_endpoint="http://127.0.0.1:2", pid=pid, schedule_rate_s=5)


def test_a_written_state_is_read_back_while_its_process_lives(state_dir):
    state.write(_state(os.getpid()))
    assert state.read().api_url == "http://127.0.0.1:8123"


def test_no_state_file_says_how_to_start_a_stack(state_dir):
    with pytest.raises(state.NoStackError, match="make run"):
        state.read()


def test_a_state_left_by_a_dead_process_is_not_trusted(state_dir):
    state.write(_state(2**22 + 12345))  # above Linux's default pid_max: no such process
    with pytest.raises(state.NoStackError, match="is gone"):
        state.read()


def test_remove_leaves_another_stacks_state_alone(state_dir):
    state.write(_state(os.getpid()))
    state.remove(os.getpid() + 1)
    assert state.state_path().exists()
    state.remove(os.getpid())
    assert not state.state_path().exists()


def test_the_clock_command_names_the_stack_and_moves_its_clock(state_dir, capsys):
    from chalicelib import clock as app_clock
    from devstack import __main__ as cli
    from devstack.clock import clock_path

    path = clock_path("local")
    state.write(state.StackState(api_url="http://127.0.0.1:8123", stage="local",
                                 dynamodb_endpoint="http://127.0.0.1:1", aws_endpoint="http://127.0.0.1:2",
                                 pid=os.getpid(), schedule_rate_s=5, clock_file=str(path)))
    assert cli.main(["clock", "advance", "30d"]) == 0
    out = capsys.readouterr()
    assert "http://127.0.0.1:8123" in out.err and "30d 00:00:00 ahead of real time" in out.out
    assert app_clock.read_offset(str(path)) == 30 * 86400
    assert cli.main(["clock", "set", "2031-04-01T02:00:00Z"]) == 0
    assert "stack time 2031-04-01T02:00:0" in capsys.readouterr().out
    assert cli.main(["clock", "reset"]) == 0
    assert "real time" in capsys.readouterr().out
    assert app_clock.read_offset(str(path)) == 0
    assert cli.main(["clock", "advance", "3w"]) == 2


def test_the_clock_command_without_a_stack_says_so(state_dir, capsys):
    from devstack import __main__ as cli

    assert cli.main(["clock", "show"]) == 1
    assert "make run" in capsys.readouterr().err


def test_make_runs_port_check_names_a_taken_port_and_another_to_try():
    import socket
    import subprocess
    import sys

    from devstack.paths import REPO_ROOT
    from devstack.procs import free_port

    port = free_port()
    assert subprocess.run([sys.executable, str(REPO_ROOT / "devstack" / "portcheck.py"), str(port)]).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run([sys.executable, str(REPO_ROOT / "devstack" / "portcheck.py"), str(port)],
                              capture_output=True, text=True)
    assert done.returncode == 1
    assert f"127.0.0.1:{port} is taken" in done.stderr and f"make run PORT={port + 10}" in done.stderr
