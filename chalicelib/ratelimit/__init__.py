"""Per-caller rate limits kept in DynamoDB (429 ``rate_limited`` with Retry-After).

A limit is a fixed window: ``Limit("payments", 60, 60)`` lets one caller
make 60 requests a minute. Each request ADDs 1 to the counter item of its
caller and window and reads the new count back in the same call, so the
count holds across every Lambda container (an in-memory limiter would give
each container its own allowance). A caller over the limit is refused until
the window ends (``Retry-After``); the refused requests count too, so a
client that keeps hammering stays refused, and its first refusal in a
window is reported once (``crossed``) for an alert.

On AWS these sit behind API Gateway's usage plans, which throttle by API key
per stage and method (a coarse, per-client-application rate and burst): the
per-caller limits here are the ones a usage plan cannot express (per citizen,
per shop, per registration point).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib import limits
from chalicelib.config import get_settings
from chalicelib.errors import RateLimitedError
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.ratelimit import models
else:
    # The counters' table, loaded at the first request that counts: the
    # limits below are read at import by every route's declaration.
    models = lazy_module("chalicelib.ratelimit.models")

__all__ = ["Limit", "Hit", "hit", "check", "MONEY", "REGISTRATION", "MERCHANT_REGISTRATION",
           "REGISTRAR", "OPERATOR_WRITE", "QR", "CALLER", "POINT", "described"]

# Whom a limit counts: the caller (``role:sub`` of the token) or the
# registrar's registration point (its ``point_id`` claim: the desks of one
# point share its allowance).
CALLER = "caller"
POINT = "point"


@dataclass(frozen=True)
class Limit:
    """At most ``per_window`` requests of one caller in ``window_s`` seconds."""

    name: str
    per_window: int
    window_s: int
    per: str = CALLER

    def __post_init__(self) -> None:
        if self.per_window < 1 or self.window_s < 1 or "#" in self.name or self.per not in (CALLER, POINT):
            raise ValueError(f"bad limit {self!r}")


def described(limit: Limit) -> dict[str, object]:
    """The limit as the OpenAPI document's ``x-rate-limit`` shows it."""
    return {"name": limit.name, "per_window": limit.per_window, "window_s": limit.window_s, "per": limit.per}


@dataclass(frozen=True)
class Hit:
    count: int
    allowed: bool
    crossed: bool  # this request is the first one over the limit in its window
    retry_after_s: int
    window: int = 0  # the window's number (epoch seconds // window_s)


# The limits of the endpoints (chalicelib.api.common ``endpoint(..., rate=)``), per caller.
MONEY = Limit("money", limits.PAYMENTS_PER_CALLER_PER_WINDOW_MAX, limits.RATE_WINDOW_S)
REGISTRATION = Limit("registration", limits.REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX, limits.RATE_WINDOW_S)
MERCHANT_REGISTRATION = Limit("merchant-registration", limits.MERCHANT_REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX,
                              limits.RATE_WINDOW_S)
REGISTRAR = Limit("registrar", limits.REGISTRAR_ACTIONS_PER_POINT_PER_WINDOW_MAX, limits.RATE_WINDOW_S, POINT)
# Every operator write (``endpoint(write=True)`` has it unless it names another).
OPERATOR_WRITE = Limit("operator-write", limits.OPERATOR_WRITES_PER_CALLER_PER_WINDOW_MAX, limits.RATE_WINDOW_S)
QR = Limit("qr", limits.QR_ISSUES_PER_CALLER_PER_WINDOW_MAX, limits.RATE_WINDOW_S)


def _now() -> float:
    return time.time()


def hit(limit: Limit, caller: str, clock: Callable[[], float] | None = None) -> Hit:
    """Count one request of ``caller`` against ``limit`` (one UpdateItem;
    none when the stage runs without limits, WALLET_RATE_LIMITS=off)."""
    now = (clock or _now)()
    if not get_settings().rate_limits:
        return Hit(count=0, allowed=True, crossed=False, retry_after_s=0, window=0)
    window = int(now // limit.window_s)
    ends = (window + 1) * limit.window_s
    item = models.RateCounterModel(f"{limit.name}#{caller}#{window}")
    item.update(actions=[models.RateCounterModel.hits.add(1), models.RateCounterModel.expires_at.set(
        datetime.fromtimestamp(ends + limit.window_s, tz=UTC))])
    count = int(item.hits)
    return Hit(count=count, allowed=count <= limit.per_window, crossed=count == limit.per_window + 1,
               retry_after_s=max(1, math.ceil(ends - now)), window=window)


def check(limit: Limit, caller: str, clock: Callable[[], float] | None = None) -> Hit:
    """``hit``, raising RateLimitedError (429 with Retry-After) over the limit."""
    found = hit(limit, caller, clock)
    if not found.allowed:
        raise RateLimitedError(f"Too many requests of this kind ({limit.per_window} per {limit.window_s} s); "
                               f"try again in {found.retry_after_s} s.", found.retry_after_s)
    return found
