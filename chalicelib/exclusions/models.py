"""Exclusion lists imported from other agencies: one item per (list, citizen)."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["ExclusionModel", "ExclusionListModel", "exclusion_key"]


def exclusion_key(list_name: str, citizen_hash: str) -> str:
    return f"{list_name}#{citizen_hash}"


@register
class ExclusionModel(Model):
    """A citizen on a list. The national ID exists only as ``citizen_hash``.

    One partition key per (list, citizen), not the list as partition key:
    a list of millions read by every registration of a phase (tens of
    thousands a second) and written by bulk imports would otherwise sit on
    one partition key and its 3,000 reads / 1,000 writes a second.
    """

    class Meta:
        short_name = "exclusions"

    exclusion_key = UnicodeAttribute(hash_key=True)
    list_name = UnicodeAttribute()
    citizen_hash = UnicodeAttribute()
    imported_at = UnicodeAttribute()


@register
class ExclusionListModel(Model):
    """One imported list: how many citizens it holds (the phase GET shows
    it; a phase naming a list without this item names one never imported)."""

    class Meta:
        short_name = "exclusion-lists"

    list_name = UnicodeAttribute(hash_key=True)
    size = NumberAttribute(default=0)
    imported_at = UnicodeAttribute(null=True)
