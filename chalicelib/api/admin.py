"""Operator and auditor endpoints of the foundation: phases and the ledger summary."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import phases
from chalicelib.api.common import ERROR_RESPONSE, ApiRequest, Reply, endpoint, ok, operation
from chalicelib.clock import utcnow
from chalicelib.ledger import Ledger
from chalicelib.phases.definition import PHASE_BODY
from chalicelib.validation import PhaseId

__all__ = ["bp", "OPENAPI_PATHS", "SUMMARY_KEYS"]

bp = Blueprint(__name__)
OPERATOR = {"operator"}
READERS = {"operator", "auditor"}
SUMMARY_KEYS = ("funded_satang", "treasury_satang", "wallets_satang", "merchants_spendable_satang",
                "merchants_withdrawable_satang", "in_flight_satang", "paid_out_satang", "returned_satang",
                "balanced")


@bp.route("/v1/admin/phases/{phase_id}", methods=["PUT"])
@endpoint(bp, roles=OPERATOR, write=True)
def put_phase(req: ApiRequest, phase_id: str) -> Reply:
    PhaseId().parse(phase_id, "phase_id")
    body, created = phases.save_phase(phase_id, req.json(), utcnow())
    return Reply(201 if created else 200, body)


@bp.route("/v1/admin/phases/{phase_id}", methods=["GET"])
@endpoint(bp, roles=READERS)
def get_phase(req: ApiRequest, phase_id: str) -> dict[str, Any]:
    return phases.get_phase(phase_id)


@bp.route("/v1/admin/ledger/summary", methods=["GET"])
@endpoint(bp, roles=READERS)
def ledger_summary(req: ApiRequest) -> dict[str, Any]:
    summary = Ledger().summary()
    return {key: summary[key] for key in SUMMARY_KEYS}


_PHASE_VIEW = {**PHASE_BODY.schema(), "additionalProperties": True}
_PHASE_PARAM = ("phase_id",)
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/admin/phases/{phase_id}": {
        "put": operation(
            "Create or update a phase; saving funds its treasury with budget_satang", OPERATOR,
            {"201": ok("created", _PHASE_VIEW), "200": ok("updated", _PHASE_VIEW),
             "409": {**ERROR_RESPONSE, "description": "phase_frozen: a wave has started and the change "
                     "touches kind, birth dates, amount_satang, tranches, waves, expires_after_days or "
                     "exclusion_lists; budget_below_issued: budget_satang below what was issued; "
                     "conflict: concurrent changes, retry"}},
            body=PHASE_BODY, params=_PHASE_PARAM, **{"x-mfa": True},
            description="tranches default to one tranche of amount_satang after 0 days and must add up "
                        "to amount_satang; payout_bank_code is required for cash_transfer. Raising the "
                        "budget funds the difference from the government budget account; lowering it "
                        "returns the difference. A retried PUT funds once."),
        "get": operation("A phase: its definition as saved, phase_id and progress", READERS,
                         {"200": ok("the phase", _PHASE_VIEW), "404": ERROR_RESPONSE}, params=_PHASE_PARAM),
    },
    "/v1/admin/ledger/summary": {"get": operation(
        "Where the money is; balanced when funded equals the sum of the other buckets", READERS,
        {"200": ok("the summary", {"type": "object", "required": list(SUMMARY_KEYS), "properties": {
            **{k: {"type": "integer"} for k in SUMMARY_KEYS if k != "balanced"},
            "balanced": {"type": "boolean"}}})})},
}
