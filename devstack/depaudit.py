"""``make audit``: pip-audit --strict on both requirements files, without a false green.

pip-audit asks an advisory service (PyPI's JSON API, or OSV) about each
pinned requirement. Where no service answers (this network: PyPI's JSON API
is not reachable, OSV does not resolve), pip-audit prints "No known
vulnerabilities found" and exits 0, or fails on "not found" under --strict:
neither says anything about vulnerabilities. So a canary first: a
requirement with known advisories (``CANARY``) must come back vulnerable;
if it does not, no service answered, and the audit says so and is SKIPPED
(exit 3), never passed. Otherwise both files are audited with --strict
--no-deps --disable-pip (every deployed dependency is pinned exactly), and
each vulnerability that is accepted is listed, with why, in
``audit-exceptions.txt`` (``<ID> <why>`` a line).

Exit 0: no known vulnerabilities (or each one justified); 1: vulnerabilities;
2: usage or a requirement not pinned; 3: skipped, no advisory service answered.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from devstack.paths import REPO_ROOT

__all__ = ["main", "CANARY", "EXIT_SKIPPED", "pinned_lines", "exceptions"]

# urllib3 1.26.4 has published advisories (e.g. CVE-2021-33503, PYSEC-2021-108).
CANARY = "urllib3==1.26.4"
EXIT_VULNERABLE, EXIT_USAGE, EXIT_SKIPPED = 1, 2, 3
REQUIREMENT_FILES = ("requirements.txt", "requirements-dev.txt")
EXCEPTIONS_FILE = "audit-exceptions.txt"
_PINNED = re.compile(r"^[A-Za-z0-9_.-]+(\[[A-Za-z0-9_,.-]+\])?==[A-Za-z0-9_.+!-]+$")


def pinned_lines(path: Path) -> list[str]:
    """The requirements of a file, following ``-r``; ValueError on one not pinned with ==."""
    out: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out += pinned_lines(path.parent / line[3:].strip())
            continue
        if not _PINNED.fullmatch(line):
            raise ValueError(f"{path.name}: {line!r} is not pinned exactly (name==version)")
        out.append(line)
    return out


def exceptions(path: Path) -> dict[str, str]:
    """``<vulnerability id> <why it is accepted>`` per line; an id without a reason is refused."""
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        vuln, _, why = line.partition(" ")
        if not why.strip():
            raise ValueError(f"{path.name}: {vuln} has no justification")
        found[vuln] = why.strip()
    return found


def _audit(requirements: list[str], ignored: dict[str, str]) -> tuple[int, list[dict[str, object]], str]:
    with tempfile.TemporaryDirectory() as folder:
        req = Path(folder) / "requirements.txt"
        req.write_text("\n".join(requirements) + "\n")
        command = [sys.executable, "-m", "pip_audit", "--strict", "--no-deps", "--disable-pip", "-r", str(req),
                   "-f", "json", "--progress-spinner", "off"]
        for vuln in ignored:
            command += ["--ignore-vuln", vuln]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(done.stdout or "{}")
    except ValueError:
        report = {}
    vulnerable = [d for d in report.get("dependencies", []) if d.get("vulns")]
    return done.returncode, vulnerable, done.stderr.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack dep-audit", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    try:
        requirements = sorted({line for name in REQUIREMENT_FILES for line in pinned_lines(REPO_ROOT / name)})
        ignored = exceptions(REPO_ROOT / EXCEPTIONS_FILE)
    except ValueError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _, canary, why = _audit([CANARY], {})
    if not canary:
        print(f"audit SKIPPED: no advisory service answered (the canary {CANARY}, which has known "
              f"advisories, came back clean){': ' + why.splitlines()[-1] if why else ''}")
        return EXIT_SKIPPED
    code, vulnerable, why = _audit(requirements, ignored)
    for dependency in vulnerable:
        ids = ", ".join(str(v.get("id")) for v in dependency.get("vulns", []))  # type: ignore[union-attr]
        print(f"audit: {dependency.get('name')} {dependency.get('version')}: {ids}")
    if vulnerable or code != 0:
        print(f"audit FAILED: {len(vulnerable)} vulnerable requirement(s) of {len(requirements)}"
              f"{'; ' + why.splitlines()[-1] if why and not vulnerable else ''}")
        return EXIT_VULNERABLE
    print(f"audit passed: {len(requirements)} pinned requirements, no known vulnerabilities"
          f"{f' ({len(ignored)} justified in {EXCEPTIONS_FILE})' if ignored else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
