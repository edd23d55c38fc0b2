"""Saving a phase (PUT) and funding its treasury; reading it back.

Funding is a sequence of steps: a save that changes ``budget_satang`` bumps
``funding_step`` and records the step's ``funding_delta_satang`` in the same
conditional (versioned) write; the step is then posted to the ledger with
transfer ids ``fund:<phase>:<step>:<shard>`` (``defund:`` when the budget is
lowered), so a retried or concurrent PUT posts each step once. A step left
unposted by a crash is posted by the next save of the phase before it
changes anything.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib import db
from chalicelib.clock import iso
from chalicelib.config import get_settings
from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.exclusions import imports as exclusion_imports
from chalicelib.exclusions.service import list_sizes
from chalicelib.ledger import BatchCredit, Ledger, accounts
from chalicelib.phases import counters
from chalicelib.phases.definition import check_change, check_times, parse_definition
from chalicelib.phases.models import PhaseModel

__all__ = ["save_phase", "get_phase", "get_definition", "list_definitions", "mark_started",
           "mark_stopped", "shares", "issued_satang"]

# Concurrent PUTs of one phase: each retry re-reads and re-checks.
SAVE_ATTEMPTS = 5


def _canonical(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def shares(amount_satang: int, parts: int) -> list[int]:
    """``amount_satang`` split over ``parts``, the remainder to the first ones."""
    base, rest = divmod(amount_satang, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def _load(phase_id: str) -> PhaseModel | None:
    try:
        return PhaseModel.get(phase_id, consistent_read=True)
    except DoesNotExist:
        return None


def issued_satang(model: PhaseModel) -> int:
    """What the phase has credited: the model's field, or the progress counters."""
    issued = int(model.issued_satang or 0)
    return max(issued, int(counters.totals(model.phase_id).get("credited_satang", 0)))


def _started_at(model: PhaseModel) -> str | None:
    """When a wave began (activation marks it before its first credit); the
    counters stand in for a mark that a crash left unwritten."""
    if model.started_at:
        return model.started_at
    return "credits counted" if counters.totals(model.phase_id).get("credited_count", 0) > 0 else None


def _update(phase_id: str, actions: list[Any], condition: Any) -> bool:
    """A conditional update that also bumps the version (so a save that read
    before it fails and reads again); False if the condition failed."""
    try:
        PhaseModel._get_connection().update_item(
            phase_id, actions=[*actions, PhaseModel.version.set(PhaseModel.version + 1)],
            condition=condition)
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        return False
    return True


def _post_step(model: PhaseModel) -> None:
    """Post the model's pending funding step (idempotent by transfer ids)."""
    step, delta = int(model.funding_step), int(model.funding_delta_satang)
    if int(model.funded_step) >= step:
        return
    phase_id = model.phase_id
    shards = [accounts.treasury_shard(phase_id, i) for i in range(get_settings().treasury_shards)]
    ledger = Ledger()
    details = {"phase_id": phase_id, "step": step}
    if delta > 0:
        funded = zip(shards, shares(delta, len(shards)), strict=True)
        credits = [BatchCredit(f"fund:{phase_id}:{step}:{i}", shard, share, details)
                   for i, (shard, share) in enumerate(funded) if share > 0]
        ledger.post_batch([accounts.BUDGET_ACCOUNT], credits, kind="funding")
    elif delta < 0:
        credits = [BatchCredit(f"defund:{phase_id}:{step}:{i}", accounts.BUDGET_ACCOUNT, share, details)
                   for i, share in enumerate(shares(-delta, len(shards))) if share > 0]
        result = ledger.post_batch(shards, credits, kind="defunding")
        if result.unfunded:
            raise ConflictError("budget_below_issued", "The treasury no longer holds the amount to "
                                "return to the budget; lower budget_satang less.")
    # False: another save recorded this step already.
    _update(phase_id, [PhaseModel.funded_step.set(step),
                       PhaseModel.funded_satang.set(PhaseModel.funded_satang + delta)],
            PhaseModel.funded_step < step)


def save_phase(phase_id: str, body: Any, now: datetime) -> tuple[dict[str, Any], bool]:
    """Validate and save; ``(view, created)``. Funds the budget's change."""
    definition = parse_definition(body)
    for _attempt in range(SAVE_ATTEMPTS):
        model = _load(phase_id)
        created = model is None
        if model is None:
            check_times(definition, None, now)
            model = PhaseModel(phase_id, definition_json=_canonical(definition), created_at=iso(now),
                               updated_at=iso(now), funding_target_satang=0, funded_satang=0,
                               funding_step=0, funded_step=0, funding_delta_satang=0, issued_satang=0)
        else:
            _post_step(model)  # finish a step a crash left behind before changing anything
            model = _load(phase_id) or model
            saved = json.loads(model.definition_json)
            check_times(definition, saved, now)
            check_change(saved, definition, started_at=_started_at(model),
                         issued_satang=issued_satang(model), now=now)
            if model.definition_json != _canonical(definition):
                model.updated_at = iso(now)
            model.definition_json = _canonical(definition)
        target = int(definition["budget_satang"])
        if target != int(model.funding_target_satang):
            model.funding_delta_satang = target - int(model.funding_target_satang)
            model.funding_target_satang = target
            model.funding_step = int(model.funding_step) + 1
        try:
            model.save()  # conditional on the version read (or on not existing)
        except PutError as exc:
            if db.condition_failed(exc):
                continue  # another PUT won: read again, check again
            raise
        _post_step(model)
        body = view(model)
        warnings = list_warnings(definition)
        if warnings:
            body["warnings"] = warnings
        return body, created
    raise ConflictError("conflict", "The phase is being changed by another request; try again.")


def list_warnings(definition: Mapping[str, Any], sizes: Mapping[str, int | None] | None = None) -> list[dict[str, Any]]:
    """A warning per named exclusion list that was never imported: such a
    phase would exclude nobody from it (a typo, or an import still to come);
    and per list with a large import not yet done."""
    names = list(definition.get("exclusion_lists") or [])
    sizes = list_sizes(names) if sizes is None else sizes
    importing = exclusion_imports.importing_lists(names)
    warnings = [{"field": f"exclusion_lists[{i}]", "code": "exclusion_list_not_imported",
                 "message": f"No list {name!r} has been imported (POST /v1/admin/exclusions); until it is, "
                            "this phase excludes nobody for it."}
                for i, name in enumerate(names) if sizes.get(name) is None]
    # A list whose large import is still queued or running excludes only the
    # entries landed so far (chalicelib/exclusions/imports.py).
    warnings += [{"field": f"exclusion_lists[{i}]", "code": "exclusion_list_importing",
                  "message": f"List {name!r} is still being imported ({importing[name]}, GET "
                             f"/v1/admin/exclusions/imports/{importing[name]}); until it is done, this phase "
                             "excludes only the entries imported so far."}
                 for i, name in enumerate(names) if name in importing]
    return warnings


def view(model: PhaseModel) -> dict[str, Any]:
    return {**json.loads(model.definition_json), "phase_id": model.phase_id}


def get_phase(phase_id: str) -> dict[str, Any]:
    """The definition as saved with ``phase_id`` (the API adds activation's
    progress fields to it)."""
    model = _load(phase_id)
    if model is None:
        raise NotFoundError(f"There is no phase {phase_id}.", {"phase_id": phase_id})
    body = view(model)
    # Each named exclusion list's size (None: never imported), and a warning
    # for each never imported.
    sizes = list_sizes(list(body.get("exclusion_lists") or []))
    body["exclusion_list_sizes"] = sizes
    warnings = list_warnings(body, sizes)
    if warnings:
        body["warnings"] = warnings
    return body


def get_definition(phase_id: str) -> dict[str, Any] | None:
    model = _load(phase_id)
    return None if model is None else json.loads(model.definition_json)


def list_definitions() -> Iterator[tuple[str, dict[str, Any]]]:
    for model in PhaseModel.scan():
        yield model.phase_id, json.loads(model.definition_json)


def mark_started(phase_id: str, at: datetime) -> None:
    """Activation: a wave started; the money-shaping fields freeze."""
    _update(phase_id, [PhaseModel.started_at.set(iso(at))],
            PhaseModel.phase_id.exists() & PhaseModel.started_at.does_not_exist())


def mark_stopped(phase_id: str, reason: str, at: datetime) -> None:
    _update(phase_id, [PhaseModel.stopped_reason.set(reason)], PhaseModel.phase_id.exists())
