"""The operators' switches: one item per operation, holding its paused scopes."""
from __future__ import annotations

from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["SwitchModel"]


@register
class SwitchModel(Model):
    """``paused``: scope (``all``, ``district:1001``, ``bank:004``) -> {reason,
    updated_at, by}. One item per operation, so that a check is one cached
    GetItem however many scopes are paused."""

    class Meta:
        short_name = "switches"

    operation = UnicodeAttribute(hash_key=True)
    paused = MapAttribute(default=dict)  # type: ignore[var-annotated]
    updated_at = UnicodeAttribute(null=True)
