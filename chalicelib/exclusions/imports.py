"""Exclusion imports too large for one request: stored, then run by a worker.

``POST /v1/admin/exclusions`` with more than ``EXCLUSION_SYNC_CIDS_MAX``
IDs hashes them on arrival (keyed hashes only, as every list entry), stores
them as chunk items of ``EXCLUSION_IMPORT_CHUNK_IDS`` hashes and one import
record, sends the import's id to the ``exclusion-imports`` queue and answers
``202`` with the record (a request of 100,000 IDs thus ends in about a second
instead of the 108 s that API Gateway's 29 s cut off).

The worker imports one chunk after another from the record's cursor
(``chunks_done``), moving the cursor and the counts with one conditional
update after each chunk, so that a crashed or timed-out worker's message,
delivered again, resumes at the first chunk not done, and two deliveries
of one message never count a chunk twice. A worker near the end of its
invocation sends a continuation message and stops. A run that fails is
written into the record (``attempts``, ``errors``); after the queue's
``MAX_RECEIVE_COUNT`` receives the message goes to the dead-letter queue and
the import is ``failed`` (an alert and an audit event); sending the same
body again resumes it from its cursor. The import id is a hash of the list
and the IDs' keyed hashes: the same body sent twice is the same import.

What eligibility sees: each chunk's entries exclude from the moment they
land, before the import is done. An exclusion only ever keeps people out,
so applying part of a list early never admits anyone the whole list would
refuse (holding the part back until the end would admit, for the whole
import, every listed citizen who registers meanwhile); a phase naming the
list says it is still importing (``exclusion_list_importing``).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import alerts, audit, db, functions, limits, observability, queues
from chalicelib.clock import iso_now, utcnow
from chalicelib.errors import NotFoundError
from chalicelib.exclusions.models import ExclusionImportChunkModel, ExclusionImportModel, ExclusionListModel
from chalicelib.exclusions.requests import DONE, FAILED, IMPORT_ID_PATH, QUEUED, RUNNING, STATUSES, VIEW_SCHEMA
from chalicelib.exclusions.service import import_hashes, unique_hashes
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities import batch
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
else:
    batch = lazy_module("aws_lambda_powertools.utilities.batch")  # the queue's worker only, not the API

__all__ = ["QUEUE", "QUEUED", "RUNNING", "DONE", "FAILED", "STATUSES", "IMPORT_ID_PATH", "start", "run",
           "get_import", "view", "handle_sqs_event", "importing_lists", "import_id_of", "VIEW_SCHEMA"]

QUEUE = queues.EXCLUSION_IMPORTS_QUEUE
# Stored chunks go away by themselves after this (the table's TTL).
CHUNK_TTL_DAYS = 14
# The last errors an import keeps (class and message of each failed run).
ERRORS_KEPT = 5
ERROR_CHARS_MAX = 300
# One chunk (1,000 IDs: 10 BatchGetItem and up to 40 BatchWriteItem calls)
# takes well under this; a worker with less time left hands over.
CHUNK_WORK_S = 20.0
# A local run (no Lambda context) works this long per message.
MESSAGE_WORK_BUDGET_S = 280.0

logger = observability.component_logger()

class _Actor:
    """The operator who sent the import, as the audit chain names actors."""

    def __init__(self, role: str, sub: str) -> None:
        self.role = role
        self.sub = sub


def import_id_of(list_name: str, hashes: Sequence[str]) -> str:
    """The same list and IDs (in any order) are the same import."""
    digest = hashlib.sha256("\n".join([list_name, *sorted(hashes)]).encode()).hexdigest()
    return f"ei_{digest[:32]}"


def _chunk_count(unique: int) -> int:
    return -(-unique // limits.EXCLUSION_IMPORT_CHUNK_IDS)


def _load(import_id: str) -> ExclusionImportModel | None:
    try:
        return ExclusionImportModel.get(import_id, consistent_read=True)
    except ExclusionImportModel.DoesNotExist:
        return None


def view(record: ExclusionImportModel) -> dict[str, Any]:
    """What the operator sees of an import: state, counts and errors, never an ID."""
    body: dict[str, Any] = {
        "import_id": record.import_id, "list": record.list_name, "status": record.status,
        "received": int(record.received), "unique": int(record.unique), "processed": int(record.processed or 0),
        "added": int(record.added or 0), "chunks_total": int(record.chunks_total),
        "chunks_done": int(record.chunks_done or 0), "attempts": int(record.attempts or 0),
        "errors": json.loads(record.errors_json or "[]"), "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
    for name in ("started_at", "finished_at"):
        value = getattr(record, name)
        if value is not None:
            body[name] = value
    return body


def get_import(import_id: str) -> dict[str, Any]:
    record = _load(import_id)
    if record is None:
        raise NotFoundError(f"There is no exclusion import {import_id}.", {"import_id": import_id})
    return view(record)


def _store_chunks(import_id: str, hashes: Sequence[str]) -> None:
    expires = utcnow() + timedelta(days=CHUNK_TTL_DAYS)
    size = limits.EXCLUSION_IMPORT_CHUNK_IDS
    with ExclusionImportChunkModel.batch_write() as writer:
        for number, start in enumerate(range(0, len(hashes), size)):
            writer.save(ExclusionImportChunkModel(import_id, number, hashes=",".join(hashes[start:start + size]),
                                                  expires_at=expires))


def start(list_name: str, cids: Sequence[str], principal: Any) -> tuple[dict[str, Any], bool]:
    """Store an import and queue it; returns its view and whether this call
    created (or re-queued a failed) import. The same body again answers the
    import as it stands and sends its message again (harmless: the worker
    resumes at the cursor), so an import whose message was lost is resumed."""
    hashes = unique_hashes(cids)
    import_id = import_id_of(list_name, hashes)
    record = _load(import_id)
    changed = False
    if record is None:
        _store_chunks(import_id, hashes)  # before the record: a record always has its chunks
        now = iso_now()
        record = ExclusionImportModel(import_id, list_name=list_name, status=QUEUED, received=len(cids),
                                      unique=len(hashes), chunks_total=_chunk_count(len(hashes)),
                                      actor_role=principal.role, actor_sub=principal.sub, created_at=now,
                                      updated_at=now)
        try:
            record.save(condition=ExclusionImportModel.import_id.does_not_exist())
            changed = True
        except PutError as exc:
            if not db.condition_failed(exc):
                raise
            record = _load(import_id)  # the same body, sent at the same time
            if record is None:
                raise
    elif record.status == FAILED:
        try:
            record.update(actions=[ExclusionImportModel.status.set(QUEUED),
                                   ExclusionImportModel.updated_at.set(iso_now()),
                                   ExclusionImportModel.finished_at.remove(),
                                   ExclusionImportModel.audited.set(0)],
                          condition=ExclusionImportModel.status == FAILED)
            changed = True
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
            record.refresh(consistent_read=True)
    if record.status != DONE:
        ExclusionListModel(list_name).update(actions=[ExclusionListModel.importing.set(import_id)])
        queues.send_json(QUEUE, {"import_id": import_id})
    return view(record), changed


def importing_lists(list_names: Sequence[str]) -> dict[str, str]:
    """The lists among ``list_names`` with an import still queued or running (its id)."""
    names = list(dict.fromkeys(list_names))
    if not names:
        return {}
    return {m.list_name: m.importing for m in ExclusionListModel.batch_get(names) if m.importing}


def run(import_id: str, budget_s: float = MESSAGE_WORK_BUDGET_S) -> dict[str, Any]:
    """Import the chunks of ``import_id`` from its cursor, within ``budget_s``;
    past it, a continuation message takes over. Returns the import's view."""
    started = time.monotonic()
    record = _load(import_id)
    if record is None:
        logger.warning("exclusion import message for an unknown import", extra={"import_id": import_id})
        return {"import_id": import_id, "status": "unknown"}
    if record.status != DONE and record.status != RUNNING:
        record.update(actions=[ExclusionImportModel.status.set(RUNNING),
                               ExclusionImportModel.started_at.set(record.started_at or iso_now()),
                               ExclusionImportModel.updated_at.set(iso_now())])
    done_here = 0
    while int(record.chunks_done or 0) < int(record.chunks_total):
        if done_here and time.monotonic() - started > budget_s - CHUNK_WORK_S:  # at least one chunk a message
            queues.send_json(QUEUE, {"import_id": import_id})
            logger.info("exclusion import continues in a new message",
                        extra={"import_id": import_id, "chunks_done": int(record.chunks_done or 0)})
            return view(record)
        _import_chunk(record, int(record.chunks_done or 0))
        done_here += 1
    _finish(record)
    return view(record)


def _import_chunk(record: ExclusionImportModel, number: int) -> None:
    chunk = ExclusionImportChunkModel.get(record.import_id, number, consistent_read=True)
    hashes = chunk.hashes.split(",")
    added = import_hashes(record.list_name, hashes)
    try:
        record.update(actions=[ExclusionImportModel.chunks_done.set(number + 1),
                               ExclusionImportModel.processed.add(len(hashes)),
                               ExclusionImportModel.added.add(added),
                               ExclusionImportModel.updated_at.set(iso_now())],
                      condition=ExclusionImportModel.chunks_done == number)
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        record.refresh(consistent_read=True)  # another delivery moved the cursor on


def _finish(record: ExclusionImportModel) -> None:
    """Done (once), then in the hash chain (once, unless a crash falls
    between the two writes: then the event is appended again)."""
    if record.status != DONE:
        try:
            record.update(actions=[ExclusionImportModel.status.set(DONE),
                                   ExclusionImportModel.finished_at.set(iso_now()),
                                   ExclusionImportModel.updated_at.set(iso_now())],
                          condition=ExclusionImportModel.status != DONE)
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
            record.refresh(consistent_read=True)
        _clear_importing(record)
    if not record.audited:
        audit.audit(_Actor(record.actor_role, record.actor_sub), "exclusions_imported",
                    f"exclusion-list:{record.list_name}",
                    {"import_id": record.import_id, "received": int(record.received),
                     "unique": int(record.unique), "added": int(record.added or 0)})
        record.update(actions=[ExclusionImportModel.audited.set(1)])


def _clear_importing(record: ExclusionImportModel) -> None:
    try:
        ExclusionListModel(record.list_name).update(actions=[ExclusionListModel.importing.remove()],
                                                    condition=ExclusionListModel.importing == record.import_id)
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise  # else a later import of the list is running: it stays marked


def record_failure(import_id: str, exc: BaseException, final: bool) -> None:
    """A failed run, into the record (no personal data: the chunks hold
    keyed hashes only); ``final`` (the message's last receive) fails the
    import, raises an alert and appends an audit event."""
    record = _load(import_id)
    if record is None:
        return
    line = f"{iso_now()} chunk {int(record.chunks_done or 0)}: {type(exc).__name__}: {exc}"[:ERROR_CHARS_MAX]
    actions: list[Action] = [ExclusionImportModel.attempts.add(1), ExclusionImportModel.updated_at.set(iso_now()),
               ExclusionImportModel.errors_json.set(json.dumps(
                   [*json.loads(record.errors_json or "[]")[-(ERRORS_KEPT - 1):], line]))]
    if final and record.status != DONE:
        actions += [ExclusionImportModel.status.set(FAILED), ExclusionImportModel.finished_at.set(iso_now())]
    record.update(actions=actions)
    if final and record.status == FAILED:
        _clear_importing(record)
        details = {"import_id": import_id, "list": record.list_name, "chunks_done": int(record.chunks_done or 0),
                   "chunks_total": int(record.chunks_total), "attempts": int(record.attempts)}
        alerts.raise_alert("exclusions_import_failed", import_id, details)
        audit.audit(_Actor(record.actor_role, record.actor_sub), "exclusions_import_failed",
                    f"exclusion-list:{record.list_name}", details)


def _budget_s(context: Any) -> float:
    time_left = functions.time_left(context)
    if time_left is None:
        return MESSAGE_WORK_BUDGET_S
    return max(0.0, time_left() - 5.0)


def handle_sqs_event(event: Mapping[str, Any], context: Any = None) -> PartialItemFailureResponse:
    """The import queue's Lambda handler: one import id per record; a failed
    record comes back (``batchItemFailures``) and resumes at its cursor."""
    def record_handler(record: Any) -> Any:
        import_id = str(record.json_body["import_id"])
        try:
            return run(import_id, budget_s=_budget_s(context))
        except Exception as exc:
            receives = int(record.attributes.approximate_receive_count or 1)
            record_failure(import_id, exc, final=receives >= queues.MAX_RECEIVE_COUNT)
            raise

    processor = batch.BatchProcessor(event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False)
    return batch.process_partial_response(event=dict(event), record_handler=record_handler,
                                          processor=processor, context=context)
