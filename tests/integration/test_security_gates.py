"""Static gates of the security review, run by ``make test``: bandit finds
nothing of high severity in what is deployed or runs locally, and the
dependency audit (``make audit``) passes, or, where no advisory service
answers, is reported as skipped, never as passed."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devstack import depaudit
from devstack.paths import REPO_ROOT

pytestmark = pytest.mark.integration

SCANNED = ("chalicelib", "app.py", "devstack", "infra")


def test_bandit_finds_nothing_of_high_severity() -> None:
    done = subprocess.run([sys.executable, "-m", "bandit", "-r", *SCANNED, "-q", "-f", "json",
                           "--severity-level", "high"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    assert report["results"] == [], [(r["filename"], r["line_number"], r["issue_text"]) for r in report["results"]]
    assert report["metrics"]["_totals"]["loc"] > 1000  # it did scan the code


def test_every_deployed_dependency_is_pinned_exactly() -> None:
    lines = depaudit.pinned_lines(REPO_ROOT / "requirements.txt")
    names = {line.split("==")[0].split("[")[0].lower() for line in lines}
    assert {"boto3", "cryptography", "pynamodb"} <= names
    # Chalice's packager copies its runtime module into the package, none of its
    # command line: its exact pin is in requirements-dev.txt (audited too).
    dev = {line.split("==")[0].lower() for line in depaudit.pinned_lines(REPO_ROOT / "requirements-dev.txt")}
    assert "chalice" in dev


def test_a_requirement_not_pinned_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "r.txt").write_text("boto3>=1.35,<2\n")
    with pytest.raises(ValueError, match="not pinned"):
        depaudit.pinned_lines(tmp_path / "r.txt")


def test_the_dependency_audit_passes_or_says_it_could_not_run(capsys: pytest.CaptureFixture[str]) -> None:
    code = depaudit.main([])
    said = capsys.readouterr().out
    if code == depaudit.EXIT_SKIPPED:
        assert "SKIPPED" in said and "no advisory service answered" in said
        pytest.skip(said.strip())
    assert code == 0, said


def test_a_clean_answer_without_a_service_is_never_a_pass(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The false green: pip-audit says "No known vulnerabilities found" when
    no service answered; the canary tells that apart."""
    monkeypatch.setattr(depaudit, "_audit", lambda requirements, ignored: (0, [], "No known vulnerabilities found"))
    assert depaudit.main([]) == depaudit.EXIT_SKIPPED
    assert "SKIPPED" in capsys.readouterr().out
