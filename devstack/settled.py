"""Reading the O(buckets) ledger summary once it has caught up.

GET /v1/admin/ledger/summary is kept from the balances' stream by a
scheduled reader (the pump fires it every few seconds locally), so right
after traffic stops it may not count the last writes yet; its ``as_of``
says up to when it counts every change. ``settled`` reads it until its
``as_of`` passes the server's time of the first reading (``as_of`` +
``lag_s``): then everything written before the wait began is counted.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.clock import parse_iso

__all__ = ["settled"]

WAIT_S = 60.0
POLL_S = 0.5


def settled(read: Callable[[], dict[str, Any]], wait_s: float = WAIT_S) -> dict[str, Any]:
    """``read()`` (one GET of the summary) until it has caught up with the
    moment of the first call, or ``wait_s`` passed (then the last reading)."""
    body = read()
    if body.get("as_of") is None or body.get("lag_s") is None:
        return body
    target = parse_iso(str(body["as_of"])).timestamp() + float(body["lag_s"])
    give_up = time.monotonic() + wait_s
    while parse_iso(str(body["as_of"])).timestamp() < target and time.monotonic() < give_up:
        time.sleep(POLL_S)
        body = read()
        if body.get("as_of") is None:
            return body
    return body
