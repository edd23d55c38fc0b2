"""The source folder that Chalice packages for Lambda: only what runs there.

``build/lambda/`` (git-ignored) is laid out for Chalice's packager:

- ``app.py`` and ``chalicelib/``, copied from the repository, with their
  bytecode compiled ahead (``unchecked-hash`` .pyc files: Lambda's file
  system is read-only, so without them every cold start compiles every
  module again; unchecked because a zip's 2-second timestamps would make
  timestamp-checked .pyc files look stale);
- ``vendor/``: requirements.txt installed for Lambda's platform
  (manylinux x86_64, CPython 3.11, wheels only), without the packages the
  Lambda runtime already has (boto3, botocore and their dependencies, see
  RUNTIME_PROVIDED), compiled the same way; cached by the hash of
  requirements.txt, so only a change of requirements downloads anything;
- an empty ``requirements.txt``: Chalice's packager would otherwise install
  requirements itself, with their whole dependency tree and no bytecode;
- ``.chalice/config.json``: the app name and, per function, the settings
  declared next to each handler (chalicelib.functions).

Chalice's packager adds its own runtime (``chalice/app.py``) and nothing of
its command line (click, pip, setuptools, inquirer...).
"""
from __future__ import annotations

import compileall
import hashlib
import json
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "LAMBDA_PLATFORM",
    "LAMBDA_PYTHON",
    "ROOT",
    "RUNTIME_PROVIDED",
    "build_source",
    "vendor_dir",
]

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
LAMBDA_PLATFORM = "manylinux2014_x86_64"
LAMBDA_PYTHON = "3.11"
# Distributions the Lambda Python runtime ships (boto3 and what it needs):
# the deployment package does not carry a second copy. PynamoDB runs on the
# runtime's botocore (it needs >= 1.12.54).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six", "urllib3"})


def _requirements_hash() -> str:
    text = (ROOT / "requirements.txt").read_bytes()
    return hashlib.sha256(text + LAMBDA_PLATFORM.encode() + LAMBDA_PYTHON.encode()).hexdigest()[:16]


def _drop_distribution(target: Path, dist_info: Path) -> None:
    record = dist_info / "RECORD"
    for line in record.read_text().splitlines():
        relative = line.split(",", 1)[0]
        path = target / relative
        if path.is_file():
            path.unlink()
    shutil.rmtree(dist_info, ignore_errors=True)
    for folder in sorted((p for p in target.iterdir() if p.is_dir()), reverse=True):
        if not any(path.is_file() for path in folder.rglob("*")):
            shutil.rmtree(folder)


def _normalized(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def vendor_dir(progress: Any = print) -> Path:
    """requirements.txt installed for Lambda (cached per requirements hash)."""
    target = BUILD / f"vendor-{_requirements_hash()}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    progress(f"installing requirements.txt for Lambda ({LAMBDA_PLATFORM}, python {LAMBDA_PYTHON}) into {target}")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check",
         "--target", str(target), "--platform", LAMBDA_PLATFORM, "--implementation", "cp",
         "--python-version", LAMBDA_PYTHON, "--only-binary=:all:", "--no-compile",
         "-r", str(ROOT / "requirements.txt")],
        check=True)
    for dist_info in list(target.glob("*.dist-info")):
        name = dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        if _normalized(name) in RUNTIME_PROVIDED:
            _drop_distribution(target, dist_info)
    shutil.rmtree(target / "bin", ignore_errors=True)
    _compile(target)
    (target / ".complete").write_text("ok\n")
    return target


def _compile(folder: Path) -> None:
    compileall.compile_dir(str(folder), quiet=1, workers=1, legacy=False,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def _chalice_config(stage: str, functions: dict[str, Any]) -> dict[str, Any]:
    per_function = {}
    for name, spec in sorted(functions.items()):
        settings: dict[str, Any] = {"lambda_memory_size": spec.memory_mb, "lambda_timeout": spec.timeout_s}
        if spec.reserved_concurrency is not None:
            settings["reserved_concurrency"] = spec.reserved_concurrency
        per_function[name] = settings
    return {
        "version": "2.0",
        "app_name": "wallet",
        "stages": {stage: {
            "api_gateway_stage": stage,
            # Roles come from infra/stack.py, one per function (the role
            # Chalice would generate cannot see PynamoDB's calls).
            "manage_iam_role": False,
            "iam_role_arn": "arn:aws:iam::000000000000:role/replaced-by-infra-stack",
            "autogen_policy": False,
            "xray": True,
            "lambda_functions": per_function,
        }},
    }


def build_source(stage: str, functions: dict[str, Any], progress: Any = print) -> Path:
    """Lay out build/lambda for Chalice's packager; returns its path."""
    vendor = vendor_dir(progress)
    source = BUILD / "lambda"
    for part in ("app.py", "chalicelib", "vendor", "requirements.txt"):
        path = source / part
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    (source / ".chalice").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "app.py", source / "app.py")
    shutil.copytree(ROOT / "chalicelib", source / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    _compile(source / "chalicelib")
    (source / "vendor").symlink_to(vendor, target_is_directory=True)
    (source / "requirements.txt").write_text("")
    (source / ".chalice" / "config.json").write_text(json.dumps(_chalice_config(stage, functions), indent=2) + "\n")
    return source
