"""Time, in one format: RFC 3339 UTC strings that sort as they compare.

Every part of the app reads the time through ``utcnow()`` (token expiry
excepted: tokens are checked against real time by PyJWT). Locally the clock
can be moved: when ``WALLET_CLOCK_FILE`` names a file (the local stack sets
it; ``python -m devstack clock`` writes it), its ``offset_s`` is added to
the real time, so that tranches, expiry after ``expires_after_days`` and the
return of unspent money can be seen in minutes. A deployed function (Lambda
sets ``AWS_LAMBDA_FUNCTION_NAME``) ignores the file whatever its environment
says: money on AWS runs on real time only.
"""
from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta

__all__ = [
    "CLOCK_FILE_ENV",
    "utcnow",
    "iso",
    "iso_now",
    "parse_iso",
    "offset_s",
    "read_offset",
    "write_offset",
    "parse_duration",
]

CLOCK_FILE_ENV = "WALLET_CLOCK_FILE"
_DEPLOYED_ENV = "AWS_LAMBDA_FUNCTION_NAME"
# The file is looked at (a stat) at most this often per process.
_RECHECK_S = 0.2
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_lock = threading.Lock()
# (path, mtime_ns, offset, checked at monotonic)
_cached: tuple[str, int, float, float] | None = None


def read_offset(path: str) -> float:
    """The offset in seconds that the clock file holds (0 when there is none)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return 0.0
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"the clock file {path} is unreadable ({exc}); "
                           "fix it with `python -m devstack clock reset`") from exc
    value = data.get("offset_s", 0) if isinstance(data, dict) else 0
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RuntimeError(f"the clock file {path} has no numeric offset_s")
    return float(value)


def write_offset(path: str, offset: float) -> None:
    """Set the offset (atomically: a reader sees the old or the new file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"offset_s": offset}, handle)
        handle.write("\n")
    os.replace(tmp, path)


def offset_s() -> float:
    """Seconds the local clock is ahead of real time (0 when not moved)."""
    global _cached
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path or os.environ.get(_DEPLOYED_ENV):
        return 0.0
    now = time.monotonic()
    cached = _cached
    if cached is not None and cached[0] == path and now - cached[3] < _RECHECK_S:
        return cached[2]
    try:
        mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        mtime = -1
    if cached is not None and cached[0] == path and cached[1] == mtime:
        offset = cached[2]
    else:
        offset = read_offset(path) if mtime >= 0 else 0.0
    with _lock:
        _cached = (path, mtime, offset, now)
    return offset


def utcnow() -> datetime:
    now = datetime.now(UTC)
    offset = offset_s()
    return now + timedelta(seconds=offset) if offset else now


def iso(moment: datetime) -> str:
    """``2025-03-18T09:00:00.000000Z``: fixed width, so string order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_now() -> str:
    return iso(utcnow())


def parse_iso(text: str) -> datetime:
    """Parse an RFC 3339 time with an explicit offset (``Z`` or ``+07:00``)."""
    if not isinstance(text, str) or "T" not in text:
        raise ValueError("not an RFC 3339 time")
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("an RFC 3339 time needs an offset such as Z")
    return value.astimezone(UTC)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s`` or a sum like ``1d12h``."""
    total, number = 0, ""
    for char in text.strip():
        if char.isdigit():
            number += char
        elif char in _UNITS_S and number:
            total += int(number) * _UNITS_S[char]
            number = ""
        else:
            raise ValueError(f"not a duration: {text!r} (say e.g. 30d, 12h, 90m, 45s, 1d12h)")
    if number or total == 0:
        raise ValueError(f"not a duration: {text!r} (say e.g. 30d, 12h, 90m, 45s, 1d12h)")
    return timedelta(seconds=total)
