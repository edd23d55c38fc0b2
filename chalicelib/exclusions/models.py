"""Exclusion lists imported from other agencies: one item per (list, citizen)."""
from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["ExclusionModel"]


@register
class ExclusionModel(Model):
    """A citizen on a list. The national ID exists only as ``citizen_hash``.

    Keyed by list first so that a registration checks each of its phase's
    lists with one key lookup, and a list of millions spreads over partitions
    by the hash range key.
    """

    class Meta:
        short_name = "exclusions"

    list_name = UnicodeAttribute(hash_key=True)
    citizen_hash = UnicodeAttribute(range_key=True)
    imported_at = UnicodeAttribute()
