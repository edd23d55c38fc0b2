"""moto in server mode: SQS and S3 for the local stack (DynamoDB is DynamoDB Local)."""
from __future__ import annotations

import sys

from devstack.paths import logs_dir
from devstack.procs import LOOPBACK, ChildProcess, start_child

__all__ = ["start"]


def start(port: int, wait: bool = True) -> ChildProcess:
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    child = start_child("moto-server", argv, url=f"http://{LOOPBACK}:{port}/moto-api/",
                        log_path=logs_dir() / f"moto-server-{port}.log")
    if wait:
        child.wait_ready()
    return child
