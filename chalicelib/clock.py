"""Time, in one format: RFC 3339 UTC strings that sort as they compare."""
from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow", "iso", "iso_now", "parse_iso"]


def utcnow() -> datetime:
    return datetime.now(UTC)


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
