"""``python -m devstack metrics``: what the launch dashboard would show, from
the running local stack's structured log stream.

The stack writes every JSON line the app prints (Powertools' log lines and
its CloudWatch embedded-metric-format blobs, exactly as Lambda would send
them to CloudWatch) to ``.devstack/logs/app-<stage>.jsonl`` (``AppLogTee``).
This command reads the EMF blobs of that file and prints, per metric and
dimensions, the counters' sums and the latencies' count and percentiles.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devstack import state
from devstack.paths import logs_dir

__all__ = ["AppLogTee", "Series", "add_arguments", "app_log_path", "main", "read_metrics", "summarize"]


def app_log_path(stage: str) -> Path:
    return logs_dir() / f"app-{stage}.jsonl"


class AppLogTee(io.TextIOBase):
    """A stdout for the app: JSON lines go to the app log file, anything
    else to the terminal as before."""

    def __init__(self, terminal: IO[str], path: Path) -> None:
        super().__init__()
        self._terminal = terminal
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()
        self._partial = threading.local()
        self.path = path

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self._partial, "text", "") + text
        *lines, rest = pending.split("\n")
        self._partial.text = rest
        with self._lock:
            for line in lines:
                (self._file if line.startswith("{") else self._terminal).write(line + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
            self._terminal.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
        super().close()


@dataclass
class Series:
    namespace: str
    name: str
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    values: list[float] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.values)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.values)
        if not ordered:
            return 0.0
        rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
        return ordered[rank]


def _blobs(lines: Iterable[str], since_ms: int) -> Iterator[dict[str, Any]]:
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if int(blob["_aws"].get("Timestamp", 0)) >= since_ms:
            yield blob


def read_metrics(lines: Iterable[str], since_ms: int = 0) -> list[Series]:
    """Every metric series of the EMF blobs in ``lines``."""
    series: dict[tuple[str, str, tuple[tuple[str, str], ...]], Series] = {}
    for blob in _blobs(lines, since_ms):
        for directive in blob["_aws"].get("CloudWatchMetrics", []):
            dimension_names = directive.get("Dimensions", [[]])[0]
            dims = tuple((d, str(blob.get(d, ""))) for d in dimension_names if d != "service")
            for metric in directive.get("Metrics", []):
                name = metric["Name"]
                key = (directive["Namespace"], name, dims)
                found = series.setdefault(key, Series(directive["Namespace"], name, metric.get("Unit", ""), dims))
                value = blob.get(name)
                found.values.extend(float(v) for v in (value if isinstance(value, list) else [value])
                                    if isinstance(v, (int, float)))
    return sorted(series.values(), key=lambda s: (s.unit == "Milliseconds", s.name, s.dimensions))


def summarize(all_series: list[Series]) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the counters' table and of the latencies' table."""
    counters, latencies = [], []
    for s in all_series:
        dims = ", ".join(f"{k}={v}" for k, v in s.dimensions) or "-"
        if s.unit == "Milliseconds":
            latencies.append([s.name, dims, str(len(s.values)), f"{s.percentile(50):.1f}",
                              f"{s.percentile(95):.1f}", f"{s.percentile(99):.1f}", f"{max(s.values):.1f}"])
        else:
            counters.append([s.name, dims, f"{s.total:g}"])
    return counters, latencies


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="0", help="only the last N seconds, minutes or hours: 300, 10m, 1h "
                                                     "(default: since the stack started)")
    parser.add_argument("--json", action="store_true", help="print the series as JSON instead of tables")


def _since_ms(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    seconds = float(number) * units[unit]
    return int((time.time() - seconds) * 1000) if seconds > 0 else 0


def main(args: argparse.Namespace) -> int:
    stack = state.running()
    if stack is None:
        return 1
    path = Path(stack.app_log) if stack.app_log else app_log_path(stack.stage)
    print(f"# stack {stack.api_url} (stage {stack.stage}, pid {stack.pid}), metrics from {path}", file=sys.stderr)
    try:
        since = _since_ms(args.since)
    except ValueError:
        print(f"error: --since {args.since!r}: give seconds or 10m / 1h", file=sys.stderr)
        return 2
    if not path.exists():
        print(f"error: {path} does not exist yet: the stack has printed no metric", file=sys.stderr)
        return 1
    with open(path, encoding="utf-8") as handle:
        series = read_metrics(handle, since)
    if args.json:
        print(json.dumps([{"namespace": s.namespace, "name": s.name, "unit": s.unit, "dimensions": dict(s.dimensions),
                           "count": len(s.values), "sum": s.total,
                           **({"p50": s.percentile(50), "p95": s.percentile(95), "p99": s.percentile(99)}
                              if s.unit == "Milliseconds" else {})} for s in series], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    counters, latencies = summarize(series)
    console = Console()
    table = Table(title="Counters (sum)")
    for column in ("metric", "dimensions", "sum"):
        table.add_column(column, justify="right" if column == "sum" else "left")
    for row in counters:
        table.add_row(*row)
    console.print(table)
    table = Table(title="Latency (ms)")
    for column in ("metric", "dimensions", "n", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="left" if column in ("metric", "dimensions") else "right")
    for row in latencies:
        table.add_row(*row)
    console.print(table)
    if not series:
        print("no metric yet: call the API or let the schedules run", file=sys.stderr)
    return 0

