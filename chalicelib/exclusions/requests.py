"""``POST /v1/admin/exclusions`` as the spec that parses it and writes its
OpenAPI schema. The list name is the one a phase's ``exclusion_lists``
takes (``ListName``): a phase can only name lists that can be imported."""
from __future__ import annotations

from chalicelib import limits
from chalicelib.validation import Cid, ListName, ListOf, Obj

__all__ = ["EXCLUSIONS_BODY"]

# Every ID is checked before any is written, so a bad list writes nothing.
EXCLUSIONS_BODY = Obj({"list": ListName(), "cids": ListOf(Cid(), 1, limits.EXCLUSION_CIDS_PER_REQUEST_MAX)})
