"""``python -m devstack simulate`` against a test stack (the app served
threaded on DynamoDB Local and moto server, with its pump), small N: every
stage runs, every invariant holds, and the HTML report is self-contained and
renders in headless Chromium with every plot decoded."""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from chalicelib import switches
from devstack import simreport, simulate

pytestmark = pytest.mark.integration

CITIZENS = 40
PLOTS = 5
CHROMIUM_TIMEOUT_S = 60


def chromium() -> str:
    """The browser; `make test` installs the Debian package when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    return found


def headless(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-dev-shm-usage", *args], capture_output=True, text=True,
                          timeout=CHROMIUM_TIMEOUT_S, check=False)


@pytest.fixture
def outcome(local_api: str, local_pump: Any, local_aws: Any, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> simulate.Outcome:
    monkeypatch.setattr(switches, "SWITCH_CACHE_TTL_S", 0.5)
    options = simulate.Options(url=local_api, citizens=CITIZENS, seed=7, report=tmp_path / "report.html",
                               workers=4, waves=1, payments_per_citizen=1.0, burst_window_s=2.0, switch_settle_s=1.0,
                               first_wave_due_s=1.0, payout_wait_s=0,
                               sqs_endpoint=local_aws.sqs_endpoint, stage=local_aws.stage)
    return simulate.run(options, console=Console(width=120, force_terminal=False))


def test_a_small_launch_holds_every_invariant_and_its_report_renders_in_chromium(outcome, tmp_path):
    failed = [(c.name, c.value) for c in outcome.checks if not c.ok]
    assert outcome.ok and not failed, failed
    names = {c.name for c in outcome.checks}
    assert {"ledger balanced", "every rule violation refused", "no alert unexplained"} <= names
    assert [s[0] for s in outcome.stages] == ["setup", "registration", "activation", "round 1", "round 2",
                                              "cash-outs", "banks answer", "invariants"]
    ops = {c.op for c in outcome.calls}
    assert {"registration", "assisted registration", "QR payment", "merchant payment", "withdrawal",
            "switch"} <= ops
    assert any(c.status == 422 for c in outcome.calls)  # the planned violations were made
    assert outcome.summaries and outcome.queues  # sampled while it ran

    page = outcome.report_path.read_text()
    images = re.findall(r"<img class='plot' alt='[^']*' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>", page)
    assert len(images) == PLOTS
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert not re.search(r"(src|href)=['\"]https?:", page)  # self-contained
    assert "every invariant holds" in page

    dom = headless("--virtual-time-budget=5000", "--dump-dom", outcome.report_path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f"{PLOTS} of {PLOTS} plots rendered" in dom.stdout, dom.stdout[:500]
    shot = tmp_path / "report.png"
    taken = headless("--window-size=1200,2400", f"--screenshot={shot}", outcome.report_path.as_uri())
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    pixels = simreport.plt.imread(str(shot))
    assert pixels.shape[0] >= 2000 and len({tuple(p) for p in pixels[::40, ::40].reshape(-1, pixels.shape[2])}) > 20


def test_a_failed_invariant_makes_the_command_exit_non_zero(monkeypatch, tmp_path):
    failing = simulate.Outcome(ok=False, checks=[simulate.Check("ledger balanced", "funded 1", False)], calls=[],
                               summaries=[], queues=[], stages=[], notes=[],
                               options=simulate.Options(url="http://127.0.0.1:9"), started_at="", duration_s=0.0)
    monkeypatch.setattr(simulate, "run", lambda options, console=None: failing)
    parser = simulate.argparse.ArgumentParser()
    simulate.add_arguments(parser)  # the command line's own defaults
    args = parser.parse_args(["--url", "http://127.0.0.1:9", "--citizens", "10", "--seed", "1",
                              "--report", str(tmp_path / "r.html"), "--workers", "1", "--payments-per-citizen", "0.1"])
    assert simulate.main(args) == 1
    assert "AN INVARIANT FAILED" in simreport.render(failing)
