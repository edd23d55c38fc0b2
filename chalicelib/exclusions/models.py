"""Exclusion lists imported from other agencies: one item per (list, citizen)."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["ExclusionModel", "ExclusionListModel", "ExclusionImportModel", "ExclusionImportChunkModel",
           "exclusion_key"]


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
    # The import (ei_...) of this list still queued or running, if any: the
    # phase GET warns that the list is incomplete until it is done.
    importing = UnicodeAttribute(null=True)


@register
class ExclusionImportModel(Model):
    """One import too large for a request, stored and run by the import
    worker. ``chunks_done`` is its cursor: every chunk before it is on the
    list, and a worker that crashed resumes at it. The counts and the state
    are what ``GET /v1/admin/exclusions/imports/{import_id}`` shows; never
    an ID."""

    class Meta:
        short_name = "exclusion-imports"

    import_id = UnicodeAttribute(hash_key=True)
    list_name = UnicodeAttribute()
    status = UnicodeAttribute()  # queued, running, done, failed
    received = NumberAttribute()  # IDs in the body
    unique = NumberAttribute()  # distinct IDs, the ones stored
    chunks_total = NumberAttribute()
    chunks_done = NumberAttribute(default=0)
    processed = NumberAttribute(default=0)  # distinct IDs of the chunks done
    added = NumberAttribute(default=0)
    attempts = NumberAttribute(default=0)  # worker runs that failed
    errors_json = UnicodeAttribute(default="[]")  # the last few errors (JSON list), no personal data
    actor_role = UnicodeAttribute()
    actor_sub = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    audited = NumberAttribute(default=0)  # 1 once the outcome is in the hash chain


@register
class ExclusionImportChunkModel(Model):
    """One chunk of a stored import: keyed hashes only, comma-separated. It
    goes away by itself (the table's TTL) some days after it was stored."""

    class Meta:
        short_name = "exclusion-import-chunks"

    import_id = UnicodeAttribute(hash_key=True)
    chunk_no = NumberAttribute(range_key=True)
    hashes = UnicodeAttribute()
    expires_at = TTLAttribute()
