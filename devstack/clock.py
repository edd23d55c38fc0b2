"""``python -m devstack clock show|advance 30d|set 2025-04-01T02:00:00Z|reset``:
the running local stack's clock (chalicelib/clock.py).

The stack reads an offset from ``.devstack/clock-<stage>.json`` on every
reading of the time (a stat at most every 0.2 s), so a move takes effect at
once in the API, the schedules and the SQS handlers: the next schedule run
sees the new time (a tranche or an expiry that became due). Time only moves
forward with ``advance``; ``set`` may move it back, which is rarely what a
ledger wants (wallets credited "in the future" stay so). Tokens are checked
against real time, whatever the clock says.
"""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib.clock import iso, parse_duration, parse_iso, read_offset, write_offset
from devstack import state
from devstack.paths import state_dir

__all__ = ["clock_path", "clock_state", "add_arguments", "main", "stack_now"]


def clock_path(stage: str) -> Path:
    return state_dir() / f"clock-{stage}.json"


def clock_state(stage: str) -> str:
    """``real time`` or how far the stage's clock is moved (for the banner)."""
    return _describe(read_offset(str(clock_path(stage))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("show", help="the stack's time and how far it is moved")
    advance = actions.add_parser("advance", help="move the clock forward, e.g. 30d, 12h, 90m, 1d12h")
    advance.add_argument("duration")
    moved = actions.add_parser("set", help="set the clock to an RFC 3339 time, e.g. 2025-04-01T02:00:00Z")
    moved.add_argument("time")
    actions.add_parser("reset", help="back to real time")


def _real_now() -> datetime:
    return datetime.now(UTC)


def _describe(offset: float) -> str:
    if not offset:
        return "real time"
    sign = "ahead of" if offset > 0 else "behind"
    seconds = abs(int(offset))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{seconds:02d} {sign} real time"


def stack_now(stack: state.StackState) -> datetime:
    """The time the running stack's app reads (for tools that make phases)."""
    offset = read_offset(stack.clock_file) if stack.clock_file else 0.0
    return _real_now() + timedelta(seconds=offset)


def main(args: argparse.Namespace) -> int:
    stack = state.running()
    if stack is None:
        return 1
    if not stack.clock_file:
        print(f"error: the stack at {stack.api_url} has no movable clock; restart it with `make run`",
              file=sys.stderr)
        return 1
    print(f"# stack {stack.api_url} (stage {stack.stage}, pid {stack.pid}), clock file {stack.clock_file}",
          file=sys.stderr)
    path = stack.clock_file
    offset = read_offset(path)
    try:
        if args.action == "advance":
            step = parse_duration(args.duration).total_seconds()
            offset += step
        elif args.action == "set":
            offset = (parse_iso(args.time) - _real_now()).total_seconds()
        elif args.action == "reset":
            offset = 0.0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.action != "show":
        write_offset(path, offset)
    print(f"stack time {iso(_real_now() + timedelta(seconds=offset))} ({_describe(offset)})")
    return 0
