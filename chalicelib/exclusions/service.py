"""Importing agency lists and checking a citizen against them."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from stdnum.th import pin as thai_pin

from chalicelib.clock import iso_now
from chalicelib.errors import InvalidRequestError
from chalicelib.exclusions.models import ExclusionModel, exclusion_key
from chalicelib.pii import hash_id

__all__ = [
    "import_list",
    "lists_containing",
    "validate_list_name",
    "validate_cid",
    "CIDS_PER_REQUEST_MAX",
    "BATCH_WRITE_ITEMS_MAX",
    "BATCH_GET_KEYS_MAX",
    "LIST_NAME_PATTERN",
]

# One request carries at most this many IDs (about 1.6 MB of JSON, well under
# API Gateway's 10 MB); a larger agency list is sent in several requests.
CIDS_PER_REQUEST_MAX = 100_000
# DynamoDB's own limits per BatchWriteItem and BatchGetItem call.
BATCH_WRITE_ITEMS_MAX = 25
BATCH_GET_KEYS_MAX = 100
LIST_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CID_PATTERN = re.compile(r"^[0-9]{13}$")
_KEY_ATTRIBUTES = ["exclusion_key", "list_name", "citizen_hash"]


def validate_list_name(name: object, field: str = "list") -> str:
    if not isinstance(name, str) or not LIST_NAME_PATTERN.match(name):
        raise InvalidRequestError(
            field, f"{field} must be 1..64 of lowercase letters, digits and '_', starting with a letter")
    return name


def validate_cid(value: object, field: str = "cid") -> str:
    """A 13-digit national ID with a valid checksum; the message never echoes it."""
    if not isinstance(value, str) or not _CID_PATTERN.match(value):
        raise InvalidRequestError(field, f"{field} must be a string of 13 digits")
    if not thai_pin.is_valid(value):
        raise InvalidRequestError(field, f"{field} has a wrong check digit; re-read the ID card")
    return value


def _hashes(cids: Sequence[object]) -> list[str]:
    if not isinstance(cids, list):
        raise InvalidRequestError("cids", "cids must be a list of 13-digit national IDs")
    if not cids:
        raise InvalidRequestError("cids", "cids must hold at least one national ID")
    if len(cids) > CIDS_PER_REQUEST_MAX:
        raise InvalidRequestError(
            "cids", f"cids holds {len(cids)} IDs; send at most {CIDS_PER_REQUEST_MAX} per request",
            {"max": CIDS_PER_REQUEST_MAX})
    # Validate every ID before writing any, so a bad list writes nothing.
    hashes = [hash_id(validate_cid(cid, f"cids[{i}]")) for i, cid in enumerate(cids)]
    return list(dict.fromkeys(hashes))


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _present(list_name: str, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(hashes, BATCH_GET_KEYS_MAX):
        keys = [exclusion_key(list_name, h) for h in chunk]
        for item in ExclusionModel.batch_get(keys, attributes_to_get=_KEY_ATTRIBUTES):
            found.add(item.citizen_hash)
    return found


def import_list(list_name: str, cids: Sequence[object]) -> int:
    """Add national IDs (hashed here, on arrival) to a list; returns how many
    were not on it before. Re-importing the same IDs adds 0 and writes
    nothing, so an import cut off half-way is simply sent again."""
    validate_list_name(list_name)
    hashes = _hashes(cids)
    present = _present(list_name, hashes)
    new = [h for h in hashes if h not in present]
    imported_at = iso_now()
    for chunk in _chunks(new, BATCH_WRITE_ITEMS_MAX):
        # PynamoDB's batch writer sends 25 items a call and resends the
        # unprocessed ones, so a throttled import neither loses nor repeats.
        with ExclusionModel.batch_write() as batch:
            for citizen_hash in chunk:
                batch.save(ExclusionModel(exclusion_key(list_name, citizen_hash), list_name=list_name,
                                          citizen_hash=citizen_hash, imported_at=imported_at))
    return len(new)


def lists_containing(list_names: Sequence[str], citizen_hash: str) -> list[str]:
    """Which of ``list_names`` hold the citizen: one BatchGetItem of one key
    per list (a phase names a handful of lists). BatchGetItem may leave keys
    unprocessed under load; PynamoDB asks again for those until done."""
    if not list_names:
        return []
    keys = [exclusion_key(name, citizen_hash) for name in dict.fromkeys(list_names)]
    found: set[str] = set()
    for start in range(0, len(keys), BATCH_GET_KEYS_MAX):
        for item in ExclusionModel.batch_get(keys[start:start + BATCH_GET_KEYS_MAX],
                                             consistent_read=True, attributes_to_get=_KEY_ATTRIBUTES):
            found.add(item.list_name)
    return [name for name in list_names if name in found]
