"""Operator and auditor endpoints: phases, switches, the ledger summary, the audit log."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib import switches
from chalicelib.api.common import ApiRequest, Reply, endpoint, error, ok, operation
from chalicelib.clock import utcnow
from chalicelib.errors import InvalidRequestError
from chalicelib.lazy import lazy_module
from chalicelib.phases.definition import PHASE_BODY, PHASE_ID_PATH
from chalicelib.switches import SWITCH_BODY
from chalicelib.validation import PAGE_QUERY

if TYPE_CHECKING:
    from chalicelib import audit
    from chalicelib import ledger as ledgers
    from chalicelib.activation import progress as activation_progress
    from chalicelib.phases import service as phases
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    audit = lazy_module("chalicelib.audit")
    activation_progress = lazy_module("chalicelib.activation.progress")
    ledgers = lazy_module("chalicelib.ledger")
    phases = lazy_module("chalicelib.phases.service")

__all__ = ["bp", "OPENAPI_PATHS", "SUMMARY_KEYS"]

bp = Blueprint(__name__)
OPERATOR = {"operator"}
READERS = {"operator", "auditor"}
SUMMARY_KEYS = ("funded_satang", "treasury_satang", "wallets_satang", "merchants_spendable_satang",
                "merchants_withdrawable_satang", "in_flight_satang", "paid_out_satang", "returned_satang",
                "balanced")
# Added to the contract's fields: how fresh the O(buckets) summary is.
SUMMARY_FRESHNESS_KEYS = ("as_of", "lag_s", "partial_transactions")


@bp.route("/v1/admin/phases/{phase_id}", methods=["PUT"])
@endpoint(bp, roles=OPERATOR, write=True, body=PHASE_BODY, path=PHASE_ID_PATH)
def put_phase(req: ApiRequest, phase_id: str) -> Reply:
    # The definition is saved as sent (its times as written); save_phase
    # checks it again with the rules across fields.
    body, created = phases.save_phase(phase_id, req.sent, utcnow())
    audit.audit(req.principal, "phase_created" if created else "phase_saved", f"phase:{phase_id}",
                {"budget_satang": body["budget_satang"]})
    return Reply(201 if created else 200, body)


@bp.route("/v1/admin/phases/{phase_id}", methods=["GET"])
@endpoint(bp, roles=READERS, path=PHASE_ID_PATH)
def get_phase(req: ApiRequest, phase_id: str) -> dict[str, Any]:
    return activation_progress.with_progress(phase_id, phases.get_phase(phase_id))


@bp.route("/v1/admin/ledger/summary", methods=["GET"])
@endpoint(bp, roles=READERS)
def ledger_summary(req: ApiRequest) -> dict[str, Any]:
    summary = ledgers.Ledger().summary()
    return {key: summary[key] for key in (*SUMMARY_KEYS, *SUMMARY_FRESHNESS_KEYS)}


@bp.route("/v1/admin/switches", methods=["GET"])
@endpoint(bp, roles=READERS)
def get_switches(req: ApiRequest) -> dict[str, Any]:
    return {"switches": switches.list_switches()}


@bp.route("/v1/admin/switches", methods=["PUT"])
@endpoint(bp, roles=OPERATOR, write=True, body=SWITCH_BODY)
def put_switch(req: ApiRequest) -> dict[str, Any]:
    body = req.body
    result = switches.set_switch(body["operation"], body["state"], body["scope"], body["reason"],
                                 by=req.principal.sub)
    audit.audit(req.principal, f"switch_{body['state']}", f"switch:{body['operation']}:{body['scope']}",
                {"reason": body["reason"]})
    return result


@bp.route("/v1/admin/audit", methods=["GET"])
@endpoint(bp, roles=READERS, query=PAGE_QUERY)
def audit_events(req: ApiRequest) -> dict[str, Any]:
    try:
        return audit.page(req.query["limit"], req.query.get("cursor"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError("cursor", "cursor is not one this API gave; start without it.") from exc


@bp.route("/v1/admin/audit/verify", methods=["GET"])
@endpoint(bp, roles=READERS)
def audit_verify(req: ApiRequest) -> dict[str, Any]:
    return audit.verify()


_PHASE_VIEW = {**PHASE_BODY.schema(), "additionalProperties": True}
_COUNT = {"type": "integer", "minimum": 0}
# GET adds the progress at top level and, to each wave, its number, status and count (API.md).
_PHASE_READ = {**_PHASE_VIEW, "properties": {
    **_PHASE_VIEW["properties"], "phase_id": {"type": "string"},
    **{name: _COUNT for name in ("registered", "accepted", "rejected", "credited_count", "credited_satang",
                                 "spent_satang", "expired_satang")},
    **{name: {**_COUNT, "description": "cash_transfer phases: payouts the bank rejected, and their money, "
                                       "back in the treasury (credited_* count the payouts made)"}
       for name in ("payouts_rejected_count", "payouts_returned_satang")},
    "waves": {"type": "array", "items": {"type": "object", "required": ["activate_at", "wave", "status",
                                                                         "credited_count"], "properties": {
        "activate_at": {"type": "string", "format": "date-time"}, "wave": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": ["scheduled", "running", "done", "stopped"]},
        "credited_count": _COUNT}}}}}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/admin/phases/{phase_id}": {
        "put": operation(
            "Create or update a phase; saving funds its treasury with budget_satang", OPERATOR,
            {"201": ok("created", _PHASE_VIEW), "200": ok("updated", _PHASE_VIEW),
             "409": error("phase_frozen: a wave has started and the change touches kind, birth dates, "
                          "amount_satang, tranches, waves, expires_after_days or exclusion_lists; "
                          "budget_below_issued: budget_satang below what was issued; "
                          "conflict: concurrent changes, retry")},
            body=PHASE_BODY, path=PHASE_ID_PATH, mfa=True,
            description="tranches default to one tranche of amount_satang after 0 days and must add up "
                        "to amount_satang; payout_bank_code is required for cash_transfer. Raising the "
                        "budget funds the difference from the government budget account; lowering it "
                        "returns the difference. A retried PUT funds once."),
        "get": operation("A phase: its definition as saved, phase_id and progress", READERS,
                         {"200": ok("the phase", _PHASE_READ), "404": error("not_found")}, path=PHASE_ID_PATH),
    },
    "/v1/admin/switches": {
        "get": operation("What is paused: one entry per paused operation and scope", READERS,
                         {"200": ok("the paused switches", {"type": "object", "properties": {
                             "switches": {"type": "array", "items": {"type": "object", "properties": {
                                 "operation": {"type": "string"}, "state": {"type": "string", "enum": ["paused"]},
                                 "scope": {"type": "string"}, "reason": {"type": "string"},
                                 "updated_at": {"type": "string"}, "by": {"type": "string"}}}}}})}),
        "put": operation("Pause or resume payments, withdrawals or registrations for all, a district or "
                         "a bank; takes effect everywhere within a few seconds", OPERATOR,
                         {"200": ok("the switch as set", SWITCH_BODY.schema())}, body=SWITCH_BODY, mfa=True),
    },
    "/v1/admin/audit": {"get": operation(
        "Operator actions, newest first, with their hash chain", READERS,
        {"200": ok("a page", {"type": "object", "required": ["items", "next_cursor"], "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "seq": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                "event_id": {"type": "string", "description": "<chain>/<sequence number>"},
                "chain": {"type": "string", "description": "point:<point_id> for a registration point's "
                          "events; absent for the operators' chain"},
                "actor": {"type": "string"}, "action": {"type": "string"}, "target": {"type": "string"},
                "details": {"type": "object"}, "prev_hash": {"type": "string"},
                "hash": {"type": "string", "description": "sha256(prev_hash + canonical JSON of the event "
                         "fields seq, at, actor, action, target, details)"}}}},
            "next_cursor": {"type": "string", "nullable": True}}})},
        query=PAGE_QUERY)},
    "/v1/admin/audit/verify": {"get": operation(
        "Recompute every audit chain from its first event", READERS,
        {"200": ok("ok, or the first event whose link is broken", {
            "type": "object", "required": ["ok", "events_checked", "first_broken"], "properties": {
                "ok": {"type": "boolean"}, "events_checked": {"type": "integer"},
                "first_broken": {"type": "object", "nullable": True, "required": ["event_id", "reason"],
                                 "properties": {"event_id": {"type": "string"}, "reason": {"type": "string"}}}}})})},
    "/v1/admin/ledger/summary": {"get": operation(
        "Where the money is; balanced when funded equals the sum of the other buckets", READERS,
        {"200": ok("the summary", {"type": "object", "required": list(SUMMARY_KEYS), "properties": {
            **{k: {"type": "integer"} for k in SUMMARY_KEYS if k != "balanced"},
            "balanced": {"type": "boolean", "description": "what is counted up to as_of balances"},
            "as_of": {"type": "string", "nullable": True, "format": "date-time",
                      "description": "every balance change committed before it is counted (null: not yet read)"},
            "lag_s": {"type": "number", "nullable": True, "description": "seconds between as_of and now"},
            "partial_transactions": {"type": "integer", "description": (
                "transactions whose changes were read only in part by as_of: left out of every bucket "
                "until whole, so that what is counted balances under traffic too")}}})})},
}
