"""CPU time of the processes a benchmark drives, per path.

On a shared machine the wall-clock rate of a path moves with whatever else
runs (rounds of 1-2 s swing 0.5-3.2 between neighbours); the CPU each path
costs this process (the app, or the raw client) and DynamoDB Local moves far
less. Every ratio is reported both ways: wall clock and CPU per operation.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["cpu_s", "CpuMeter"]


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system, every thread) a process has used so far;
    0 if unknown (another system than Linux, or DynamoDB Local given by URL)."""
    if pid is None:
        return 0.0
    if pid == os.getpid():
        return time.process_time()
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU per path of this process, DynamoDB Local and (for the payments
    benchmark) the client process that ``extra_s`` reports."""

    def __init__(self, ddb_pid: int | None) -> None:
        self._ddb_pid = ddb_pid
        self.totals: dict[str, dict[str, float]] = {}

    @contextmanager
    def measure(self, path: str, extra_s: Callable[[], float] | None = None, extra: str = "phones") -> Iterator[None]:
        own, ddb = cpu_s(os.getpid()), cpu_s(self._ddb_pid)
        yield
        total = self.totals.setdefault(path, {"python": 0.0, "dynamodb_local": 0.0})
        total["python"] += cpu_s(os.getpid()) - own
        total["dynamodb_local"] += cpu_s(self._ddb_pid) - ddb
        if extra_s is not None:
            total[extra] = total.get(extra, 0.0) + extra_s()

    def seconds(self, path: str) -> float:
        return sum(self.totals.get(path, {}).values())

    def per_op_ms(self, path: str, count: int) -> dict[str, float]:
        shares = {name: round(1000 * seconds / max(count, 1), 3) for name, seconds in self.totals.get(path, {}).items()}
        shares["total"] = round(sum(shares.values()), 3)
        return shares

    def ratio(self, app: str, app_count: int, raw: str, raw_count: int) -> float:
        """Raw CPU per operation over the app's: 1.0 when the app costs what
        the raw calls cost, 0.5 when twice as much (as a throughput ratio reads)."""
        app_s, raw_s = self.seconds(app), self.seconds(raw)
        if not app_s or not raw_count or not app_count:
            return 0.0
        return (raw_s / raw_count) / (app_s / app_count)
