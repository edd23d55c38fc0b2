"""The whole local stack as ``make run`` starts it, on free ports (so that it
does not clash with a running ``make run``): it serves /v1/health, accepts a
token of the local issuer, and stops cleanly on Ctrl-C and on SIGTERM with
every child process (java, moto server) gone."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devstack.paths import REPO_ROOT
from devstack.procs import free_port

STARTUP_LIMIT_S = 60.0
STOP_LIMIT_S = 30.0
CITIZEN_CLAIMS = ["cid=1101700230708", "birth_date=1990-01-01", "district=1001",
                  "nationality=TH"]


def _pid_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie has exited; init reaps it


def _wait_healthy(url: str, stack: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            pytest.fail(f"the stack exited with {stack.returncode}:\n{log.read_text()}")
        try:
            response = requests.get(f"{url}/v1/health", timeout=2)
            if response.status_code == 200:
                assert response.json() == {"status": "ok"}
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or still starting on a loaded machine: ask again until the deadline
        time.sleep(0.25)
    pytest.fail(f"no /v1/health within {STARTUP_LIMIT_S:.0f} s:\n{log.read_text()}")


def _mint(role: str, claims: list[str]) -> str:
    argv = [sys.executable, "-m", "devstack", "token", "--role", role]
    for claim in claims:
        argv += ["--claim", claim]
    out = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                         timeout=60)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_stack_serves_the_api_and_stops_with_every_child_gone(tmp_path, stop_signal):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "stack.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLET_")}
    # Its own state file: a `make run` stack of this checkout keeps its own.
    env["WALLET_DEVSTACK_STATE"] = str(tmp_path / "stack.json")
    with open(log, "wb") as out:
        # Own session: the signal below reaches the stack only, as Ctrl-C
        # reaches `make run` in a terminal.
        stack = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run", "--port", str(port),
             "--schedule-rate-s", "1"],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(url, stack, log)
        token = _mint("citizen", CITIZEN_CLAIMS)
        anonymous = requests.get(f"{url}/v1/me", timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthenticated"
        authorised = requests.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {token}"},
                                  timeout=10)
        assert authorised.status_code == 200, authorised.text
        # what the dashboard would show, from the stack's log stream
        shown = subprocess.run([sys.executable, "-m", "devstack", "metrics", "--json"], cwd=REPO_ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert url in shown.stderr  # it says which stack
        series = {(s["name"], tuple(sorted(s["dimensions"].items()))): s for s in json.loads(shown.stdout)}
        assert series[("Requests", (("UseCase", "GET /v1/me"),))]["sum"] == 2
        assert series[("Rejections", (("Code", "unauthenticated"), ("UseCase", "GET /v1/me")))]["sum"] == 1
        latency = series[("LatencyMs", (("UseCase", "GET /v1/me"),))]
        assert latency["count"] == 2 and 0 < latency["p50"] <= latency["p99"]
        text = log.read_text()
        assert '"_aws"' not in text  # JSON lines go to the app log, not the terminal
        pids = [int(p) for p in re.findall(r"ready on \S+ \(pid (\d+)\)", text)]
        assert len(pids) == 2, text  # DynamoDB Local and moto server
        assert url in text and "devstack token --role" in text
    finally:
        stack.send_signal(stop_signal)
        try:
            code = stack.wait(timeout=STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            stack.kill()
            stack.wait()
            pytest.fail(f"the stack did not stop within {STOP_LIMIT_S:.0f} s:\n{log.read_text()}")

    assert code == 0, log.read_text()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(_pid_gone(p) for p in pids):
        time.sleep(0.1)
    assert all(_pid_gone(p) for p in pids), f"children left running: {pids}"
    assert "stack stopped" in log.read_text()
    assert not (tmp_path / "stack.json").exists()  # its own state file, removed at the stop
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v1/health", timeout=2)
