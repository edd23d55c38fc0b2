"""Importing agency lists and checking a citizen against them."""
from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from chalicelib.clock import iso_now
from chalicelib.exclusions.models import ExclusionListModel, ExclusionModel, exclusion_key
from chalicelib.pii import hash_id

__all__ = [
    "import_list",
    "import_hashes",
    "unique_hashes",
    "lists_containing",
    "list_sizes",
    "BATCH_WRITE_ITEMS_MAX",
    "BATCH_GET_KEYS_MAX",
    "IMPORT_WORKERS",
]

# DynamoDB's own limits per BatchWriteItem and BatchGetItem call.
BATCH_WRITE_ITEMS_MAX = 25
BATCH_GET_KEYS_MAX = 100
_KEY_ATTRIBUTES = ["exclusion_key", "list_name", "citizen_hash"]
# A chunk of IDs is read (BatchGetItem, 100 keys) and written (BatchWriteItem,
# 25 items) this many calls at a time, within the shared connection pool of
# 64: one after the other, 100,000 IDs took 108 s. A request imports at
# most EXCLUSION_SYNC_CIDS_MAX IDs so (a larger body goes to the import
# worker, imports.py, 1,000 per chunk); the request's deadline holds in
# every thread (its context is copied), and an import cut off is simply
# sent again: it adds only the rest.
IMPORT_WORKERS = 16
_T = TypeVar("_T")
_R = TypeVar("_R")


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in_parallel(work: Callable[[_T], _R], chunks: Iterable[_T]) -> list[_R]:
    """``work`` on every chunk, IMPORT_WORKERS at a time, each in a copy of
    the caller's context (the request deadline); the first error is raised."""
    caller = contextvars.copy_context()
    with ThreadPoolExecutor(IMPORT_WORKERS, thread_name_prefix="exclusions") as pool:
        return list(pool.map(lambda chunk: caller.copy().run(work, chunk), chunks))


def _present_in(list_name: str, chunk: Sequence[str]) -> set[str]:
    keys = [exclusion_key(list_name, h) for h in chunk]
    return {item.citizen_hash for item in ExclusionModel.batch_get(keys, attributes_to_get=_KEY_ATTRIBUTES)}


def _present(list_name: str, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in _in_parallel(lambda chunk: _present_in(list_name, chunk), _chunks(hashes, BATCH_GET_KEYS_MAX)):
        found |= part
    return found


def _write(list_name: str, chunk: Sequence[str], imported_at: str) -> None:
    # PynamoDB's batch writer sends 25 items a call and resends the
    # unprocessed ones, so a throttled import neither loses nor repeats.
    with ExclusionModel.batch_write() as batch:
        for citizen_hash in chunk:
            batch.save(ExclusionModel(exclusion_key(list_name, citizen_hash), list_name=list_name,
                                      citizen_hash=citizen_hash, imported_at=imported_at))
    # The list's size, after each chunk: an import cut off between the
    # two undercounts that chunk (its re-import finds the items there).
    ExclusionListModel(list_name).update(actions=[ExclusionListModel.size.add(len(chunk)),
                                                  ExclusionListModel.imported_at.set(imported_at)])


def import_list(list_name: str, cids: Sequence[str]) -> int:
    """Add national IDs (hashed here, on arrival) to a list; returns how many
    were not on it before. The name and every ID are as EXCLUSIONS_BODY
    parsed them, all before this writes any. Re-importing the same IDs adds
    0 and writes nothing, so an import cut off half-way is simply sent again."""
    return import_hashes(list_name, unique_hashes(cids))


def unique_hashes(cids: Iterable[str]) -> list[str]:
    """The keyed hashes of ``cids``, each once, in the order first seen."""
    return list(dict.fromkeys(hash_id(cid) for cid in cids))


def import_hashes(list_name: str, hashes: Sequence[str]) -> int:
    """Add already hashed, distinct IDs to a list; returns how many were new
    (the import worker calls this once per stored chunk)."""
    present = _present(list_name, hashes)
    new = [h for h in hashes if h not in present]
    imported_at = iso_now()
    _in_parallel(lambda chunk: _write(list_name, chunk, imported_at), _chunks(new, BATCH_WRITE_ITEMS_MAX))
    if not new:
        _touch(list_name)
    return len(new)


def _touch(list_name: str) -> None:
    """An import that added nobody still makes the list known (size 0 or more)."""
    ExclusionListModel(list_name).update(actions=[ExclusionListModel.size.add(0)])


def list_sizes(list_names: Sequence[str]) -> dict[str, int | None]:
    """Citizens on each list (None: never imported), one batch read."""
    names = list(dict.fromkeys(list_names))
    found = {m.list_name: int(m.size or 0) for m in ExclusionListModel.batch_get(names)} if names else {}
    return {name: found.get(name) for name in names}


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
