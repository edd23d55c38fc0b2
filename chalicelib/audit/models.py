"""The audit table: one chain (partition), events by zero-padded sequence number."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["AuditModel", "CHAIN"]

CHAIN = "operators"


@register
class AuditModel(Model):
    class Meta:
        short_name = "audit"

    chain = UnicodeAttribute(hash_key=True)
    sort = UnicodeAttribute(range_key=True)
    seq = NumberAttribute()
    event_json = UnicodeAttribute()
    prev_hash = UnicodeAttribute()
    hash = UnicodeAttribute()
