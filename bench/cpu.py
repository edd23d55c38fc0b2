"""CPU time of the processes a benchmark drives, per path.

On a shared machine the wall-clock rate of a path moves with whatever else
runs (rounds of 1-2 s swing 0.5-3.2 between neighbours); the CPU each path
costs this process (the app, or the raw client) and DynamoDB Local moves far
less. Every ratio is reported both ways: wall clock and CPU per operation.

DynamoDB Local's JIT compiler threads are counted apart, not in the ratio.
Per thread, over rounds of 100 four-item transactions long after the
warm-up, the request threads took 20-24 ticks a round and the C1/C2
compiler threads 0-8: the compiler still recompiles now and then, and its
bursts fall on whichever path runs at the time. That was most of why three
runs' CPU ratios differed by up to 0.09. Compiling the emulator is the
emulator's warm-up, not the cost of an operation (on AWS there is no
emulator), so each path counts the emulator's other threads (request
handlers, SQLite, garbage collector) and the compiler's share is reported
beside it. ``JVM_OPTIONS`` fixes the set of compiler threads, so that none
exits and takes its time into the process total unseen.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["cpu_s", "jit_cpu_s", "CpuMeter", "JVM_OPTIONS"]

# No compiler thread is started or stopped while a benchmark runs (the JVM
# otherwise adds and removes them with the load).
JVM_OPTIONS = ("-XX:-UseDynamicNumberOfCompilerThreads",)
# Thread names as Linux keeps them (15 characters): "C2 CompilerThre".
_JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")


def _ticks(stat: str) -> int:
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system, every thread) a process has used so far;
    0 if unknown (another system than Linux, or DynamoDB Local given by URL)."""
    if pid is None:
        return 0.0
    if pid == os.getpid():
        return time.process_time()
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return _ticks(stat.read()) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def jit_cpu_s(pid: int | None) -> float:
    """CPU seconds a JVM's JIT compiler threads have used so far (0 if none)."""
    if pid is None or pid == os.getpid():
        return 0.0
    ticks = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat", encoding="utf-8", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue  # a thread that ended meanwhile
        if text[text.index("(") + 1:text.rindex(")")] in _JIT_THREADS:
            ticks += _ticks(text)
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU per path of this process, DynamoDB Local (but its JIT compiler,
    kept apart) and (for the payments benchmark) the client process that
    ``extra_s`` reports."""

    def __init__(self, ddb_pid: int | None) -> None:
        self._ddb_pid = ddb_pid
        self.totals: dict[str, dict[str, float]] = {}
        self.jit: dict[str, float] = {}

    def _emulator(self) -> tuple[float, float]:
        jit = jit_cpu_s(self._ddb_pid)
        return cpu_s(self._ddb_pid) - jit, jit

    @contextmanager
    def measure(self, path: str, extra_s: Callable[[], float] | None = None, extra: str = "phones") -> Iterator[None]:
        own, (ddb, jit) = cpu_s(os.getpid()), self._emulator()
        yield
        ddb_after, jit_after = self._emulator()
        total = self.totals.setdefault(path, {"python": 0.0, "dynamodb_local": 0.0})
        total["python"] += cpu_s(os.getpid()) - own
        total["dynamodb_local"] += ddb_after - ddb
        self.jit[path] = self.jit.get(path, 0.0) + jit_after - jit
        if extra_s is not None:
            total[extra] = total.get(extra, 0.0) + extra_s()

    def seconds(self, path: str) -> float:
        return sum(self.totals.get(path, {}).values())

    def per_op_ms(self, path: str, count: int) -> dict[str, float]:
        """CPU per operation of each process and their total; the emulator's
        JIT compiler beside it, not in the total (the module doc says why)."""
        count = max(count, 1)
        shares = {name: round(1000 * seconds / count, 3) for name, seconds in self.totals.get(path, {}).items()}
        shares["total"] = round(sum(shares.values()), 3)
        shares["dynamodb_local_jit_not_counted"] = round(1000 * self.jit.get(path, 0.0) / count, 3)
        return shares

    def ratio(self, app: str, app_count: int, raw: str, raw_count: int) -> float:
        """Raw CPU per operation over the app's: 1.0 when the app costs what
        the raw calls cost, 0.5 when twice as much (as a throughput ratio reads)."""
        app_s, raw_s = self.seconds(app), self.seconds(raw)
        if not app_s or not raw_count or not app_count:
            return 0.0
        return (raw_s / raw_count) / (app_s / app_count)
