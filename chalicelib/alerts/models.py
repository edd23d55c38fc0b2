"""Alerts: one item each, listed newest first through a sparse index."""
from __future__ import annotations

from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["AlertModel", "ALERT_LIST"]

# Hash key of the list index: alerts are rare (a few a day, thousands on a
# very bad one), far below what one partition takes.
ALERT_LIST = "alerts"


class _AlertListIndex(GlobalSecondaryIndex["AlertModel"]):
    class Meta:
        index_name = "alert-list"
        projection = AllProjection()

    list_key = UnicodeAttribute(hash_key=True)
    list_sort = UnicodeAttribute(range_key=True)


@register
class AlertModel(Model):
    """``alert_id`` is derived from what the alert is about (its kind and
    key), so that the same event seen twice (a duplicated message) is one
    alert, written once with ``attribute_not_exists``."""

    class Meta:
        short_name = "alerts"

    alert_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    status = UnicodeAttribute(default="open")
    created_at = UnicodeAttribute()
    details = MapAttribute(default=dict)  # type: ignore[var-annotated]
    list_key = UnicodeAttribute(default=ALERT_LIST)
    # ``<created_at>#<alert_id>``: newest first with a stable cursor.
    list_sort = UnicodeAttribute()
    acknowledged_at = UnicodeAttribute(null=True)
    acknowledged_by = UnicodeAttribute(null=True)
    ack_reason = UnicodeAttribute(null=True)

    list_index = _AlertListIndex()
