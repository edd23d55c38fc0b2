"""Cold start of the deployment package: ``import app`` against ``import
chalice, boto3`` in the packaged layout, as a new Lambda container runs it.

The package is the zip ``make synth`` built (cdk.out's asset: Chalice's
deployment package of build/lambda). It is unpacked next to a "runtime"
folder with boto3 and botocore, as Lambda's Python runtime provides them,
and each import runs in a fresh interpreter (``-I -S -B``: no site-packages
of this machine, nothing written, as on Lambda's read-only file system),
with a Lambda function's environment (so Powertools' Tracer patches
botocore as it does there). Rounds alternate the imports. Target: the
median CPU time of ``import app`` <= 1.3x that of ``import chalice, boto3``
(CPU time, as the other benchmarks: on a shared machine the wall clock
measures the neighbours; the wall clock is printed beside it).
Also timed: ``import app`` and the Tracer (made at a container's first
event, it loads the X-Ray SDK), which a first invocation pays on top.

The package's contents are checked too: nothing of Chalice's command line
or of the runtime's own boto3, and compiled bytecode for every module.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["RATIO_TARGET", "ROUNDS_DEFAULT", "run"]

RATIO_TARGET = 1.3
ROUNDS_DEFAULT = 15
ROOT = Path(__file__).resolve().parent.parent
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
# Distributions of Chalice's command line that have no business in Lambda.
CLI_PACKAGES = ("click", "pip", "setuptools", "inquirer", "wheel", "yaml", "readchar", "blessed")
_TIMED = ("import time, sys; sys.path[:0] = {paths!r}; t, c = time.perf_counter(), time.process_time(); "
          "{statement}; print(time.process_time() - c, time.perf_counter() - t)")


def _package_zip() -> Path:
    manifest = ROOT / "cdk.out" / "manifest.json"
    assets = sorted((ROOT / "cdk.out").glob("asset.*.zip"), key=lambda p: p.stat().st_mtime)
    if not manifest.exists() or not assets:
        raise FileNotFoundError("no deployment package in cdk.out/: run `make synth` first")
    return assets[-1]


def _runtime(target: Path) -> None:
    import boto3

    site = Path(boto3.__file__).resolve().parent.parent
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        elif source.exists():
            shutil.copy2(source, target / name)


def _contents(package: Path) -> dict[str, Any]:
    files = [p for p in package.rglob("*") if p.is_file()]
    sources = [p for p in files if p.suffix == ".py"]
    compiled = {p.parent.parent / (p.name.split(".")[0] + ".py") for p in files if p.suffix == ".pyc"}
    top = {p.name.split(".")[0].split("-")[0] for p in package.iterdir()}
    return {
        "files": len(files),
        "unzipped_mib": round(sum(p.stat().st_size for p in files) / 2**20, 1),
        "cli_packages": sorted(set(CLI_PACKAGES) & top),
        "runtime_copies": sorted({"boto3", "botocore", "s3transfer"} & top),
        # chalice/app.py is copied in by Chalice's packager without bytecode
        "modules_without_bytecode": sorted(str(p.relative_to(package)) for p in sources if p not in compiled),
    }


def _time(paths: list[str], statement: str, env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds and wall seconds of ``statement`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", _TIMED.format(paths=paths, statement=statement)],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"`{statement}` failed in the packaged layout:\n{out.stderr[-2000:]}")
    cpu, wall = out.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def run(rounds: int = ROUNDS_DEFAULT, progress: Callable[[str], None] = print) -> dict[str, Any]:
    zipped = _package_zip()
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        package, runtime = Path(tmp) / "task", Path(tmp) / "runtime"
        with zipfile.ZipFile(zipped) as archive:
            archive.extractall(package)
        runtime.mkdir()
        _runtime(runtime)
        contents = _contents(package)
        progress(f"package {zipped.name}: {contents['files']} files, {contents['unzipped_mib']} MiB unzipped")
        paths = [str(package), str(runtime)]
        env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "ap-southeast-1",
               "AWS_REGION": "ap-southeast-1", "AWS_LAMBDA_FUNCTION_NAME": "wallet-bench-api_handler",
               "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "LAMBDA_TASK_ROOT": str(package),
               "WALLET_STAGE": "bench", "POWERTOOLS_SERVICE_NAME": "wallet", "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench"}
        _time(paths, "import app", env)  # the page cache warm for both
        timed: dict[str, list[tuple[float, float]]] = {"baseline": [], "app": [], "traced": []}
        statements = [("baseline", "import chalice, boto3"), ("app", "import app"),
                      # what the first event adds: the Tracer, made then (chalicelib/observability.py)
                      ("traced", "import app; from chalicelib import observability; observability.tracer()")]
        for i in range(rounds):
            for label, statement in (statements if i % 2 else list(reversed(statements))):
                timed[label].append(_time(paths, statement, env))
        progress(f"{rounds} rounds each, alternating")
    def median_ms(label: str, kind: int) -> float:
        return statistics.median(t[kind] for t in timed[label]) * 1000

    # CPU time: on a shared machine the wall clock measures the neighbours.
    base_ms, app_ms, traced_ms = (median_ms(label, 0) for label in ("baseline", "app", "traced"))
    app_cpu = [t[0] for t in timed["app"]]
    ratio = app_ms / base_ms
    clean = not contents["cli_packages"] and not contents["runtime_copies"]
    return {
        "package": contents,
        "cpu_ms_median": {"import chalice, boto3": round(base_ms, 1), "import app": round(app_ms, 1),
                          "import app + Tracer": round(traced_ms, 1)},
        "import_app_cpu_ms_min_max": [round(min(app_cpu) * 1000, 1), round(max(app_cpu) * 1000, 1)],
        "wall_ms_median": {"import chalice, boto3": round(median_ms("baseline", 1), 1),
                           "import app": round(median_ms("app", 1), 1)},
        "ratio": round(ratio, 2),
        "ratio_with_tracer": round(traced_ms / base_ms, 2),
        "targets": {f"ratio <= {RATIO_TARGET}": ratio <= RATIO_TARGET, "package holds only what runs": clean},
    }


if __name__ == "__main__":
    print(json.dumps(run(rounds=int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS_DEFAULT), indent=2))
