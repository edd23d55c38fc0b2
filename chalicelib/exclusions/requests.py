"""``POST /v1/admin/exclusions`` as the spec that parses it and writes its
OpenAPI schema. The list name is the one a phase's ``exclusion_lists``
takes (``ListName``): a phase can only name lists that can be imported."""
from __future__ import annotations

from typing import Any

from chalicelib import limits
from chalicelib.validation import Cid, ListName, ListOf, Obj, Params, Str

__all__ = ["EXCLUSIONS_BODY", "IMPORT_ID_PATH", "VIEW_SCHEMA", "QUEUED", "RUNNING", "DONE", "FAILED", "STATUSES"]

# Every ID is checked before any is written, so a bad list writes nothing.
EXCLUSIONS_BODY = Obj({"list": ListName(), "cids": ListOf(Cid(), 1, limits.EXCLUSION_CIDS_PER_REQUEST_MAX)})

# An import's states and its view (chalicelib/exclusions/imports.py), here
# for the routes' declarations, which read them at import.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)

IMPORT_ID_PATH = Params("path", {"import_id": Str(
    3, limits.EXCLUSION_IMPORT_ID_CHARS_MAX, limits.EXCLUSION_IMPORT_ID_PATTERN,
    "an import id as the 202 of POST /v1/admin/exclusions gave it (ei_...)")})

_COUNT = {"type": "integer", "minimum": 0}
VIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["import_id", "list", "status", "received", "unique", "processed", "added", "chunks_total",
                 "chunks_done", "attempts", "errors", "created_at", "updated_at"],
    "properties": {
        "import_id": {"type": "string"}, "list": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "received": _COUNT, "unique": _COUNT, "processed": _COUNT, "added": _COUNT,
        "chunks_total": _COUNT, "chunks_done": _COUNT, "attempts": _COUNT,
        "errors": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
        "started_at": {"type": "string"}, "finished_at": {"type": "string"},
    },
}
