"""Rate-limit counters: one item per limit, caller and time window."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["RateCounterModel"]


@register
class RateCounterModel(Model):
    """``counter_key`` = ``<limit>#<caller>#<window number>``; ``hits`` moved
    by ADD only, so concurrent requests in any Lambda container all count.
    ``expires_at`` is the table's TTL: a window's item goes
    away by itself a window after it ends."""

    class Meta:
        short_name = "rate-counters"

    counter_key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = TTLAttribute()
