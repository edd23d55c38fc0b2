"""Open loop endpoints: a shop's withdrawals; the operators' payouts and
alerts (operator and auditor read, operator writes need ``mfa: true``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib import alerts, ratelimit
from chalicelib.api.common import ApiRequest, Reply, endpoint, error, ok, operation
from chalicelib.auth import Principal
from chalicelib.errors import ForbiddenError
from chalicelib.idempotency import fingerprint, replay_headers, scoped_id
from chalicelib.lazy import lazy_module
from chalicelib.payouts.requests import PAYOUT_ID_PATH, PAYOUTS_QUERY, WITHDRAWAL_BODY, WITHDRAWAL_ID_PATH
from chalicelib.payouts.rules import KINDS, STATUSES
from chalicelib.validation import PAGE_QUERY

if TYPE_CHECKING:
    from chalicelib import audit
    from chalicelib.merchants import service as merchant_service
    from chalicelib.payouts import queries, withdrawals
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    audit = lazy_module("chalicelib.audit")
    merchant_service = lazy_module("chalicelib.merchants.service")
    queries = lazy_module("chalicelib.payouts.queries")
    withdrawals = lazy_module("chalicelib.payouts.withdrawals")

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
MERCHANT = {"merchant"}
OPERATOR = {"operator"}
READERS = {"operator", "auditor"}


def _merchant_id(principal: Principal) -> str:
    cid = principal.claims.get("cid")
    if not isinstance(cid, str) or not cid:
        raise ForbiddenError("A merchant token must carry the owner's cid.")
    return merchant_service.merchant_id_of(cid)


@bp.route("/v1/withdrawals", methods=["POST"])
@endpoint(bp, roles=MERCHANT, body=WITHDRAWAL_BODY, idempotency_key=True, rate=ratelimit.MONEY)
def create_withdrawal(req: ApiRequest) -> Reply:
    payout_id = scoped_id("wd", req.principal, req.idempotency_key())
    result = withdrawals.withdraw(_merchant_id(req.principal), payout_id,
                                  fingerprint(req.method, req.path, req.body), req.body["amount_satang"])
    return Reply(202, result.body, replay_headers(result.replayed))


@bp.route("/v1/withdrawals", methods=["GET"])
@endpoint(bp, roles=MERCHANT, query=PAGE_QUERY)
def my_withdrawals(req: ApiRequest) -> dict[str, Any]:
    return withdrawals.list_withdrawals(_merchant_id(req.principal), req.query["limit"], req.query.get("cursor"))


@bp.route("/v1/withdrawals/{withdrawal_id}", methods=["GET"])
@endpoint(bp, roles=MERCHANT, path=WITHDRAWAL_ID_PATH)
def my_withdrawal(req: ApiRequest, withdrawal_id: str) -> dict[str, Any]:
    return withdrawals.get_withdrawal(_merchant_id(req.principal), withdrawal_id)


@bp.route("/v1/admin/payouts", methods=["GET"])
@endpoint(bp, roles=READERS, query=PAYOUTS_QUERY)
def list_payouts(req: ApiRequest) -> dict[str, Any]:
    q = req.query
    return queries.list_payouts(q.get("bank_code"), q.get("status"), q.get("kind"), q["limit"], q.get("cursor"))


@bp.route("/v1/admin/payouts/{payout_id}", methods=["GET"])
@endpoint(bp, roles=READERS, path=PAYOUT_ID_PATH)
def get_payout(req: ApiRequest, payout_id: str) -> dict[str, Any]:
    return queries.get_payout_body(payout_id)


@bp.route("/v1/admin/alerts", methods=["GET"])
@endpoint(bp, roles=READERS, query=alerts.ALERTS_QUERY)
def list_alerts(req: ApiRequest) -> dict[str, Any]:
    return alerts.list_alerts(req.query.get("status"), req.query["limit"], req.query.get("cursor"))


@bp.route("/v1/admin/alerts/{alert_id}/ack", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True, body=alerts.ACK_BODY, path=alerts.ALERT_ID_PATH)
def ack_alert(req: ApiRequest, alert_id: str) -> dict[str, Any]:
    before = alerts.get_alert(alert_id)
    after = alerts.ack_alert(alert_id, req.body["reason"], by=req.principal.sub)
    if before["status"] == "open":
        audit.audit(req.principal, "alert_acknowledged", f"alert:{alert_id}",
                    {"kind": after["kind"], "reason": req.body["reason"]})
    return after


_OPTIONAL_TIMES = {"sent_at": {"type": "string", "format": "date-time"},
                   "settled_at": {"type": "string", "format": "date-time"}}
_COMMON = {
    "bank_code": {"type": "string"}, "amount_satang": {"type": "integer"},
    "status": {"type": "string", "enum": list(STATUSES)},
    "reason": {"type": "string", "description": "the bank's reason code of a rejection (AC01, AC04, ...)"},
    "inquiry": {"type": "boolean", "description": "no word from the bank in time: asked, never reversed"},
    "created_at": {"type": "string", "format": "date-time"}, **_OPTIONAL_TIMES,
}
_WITHDRAWAL = {"type": "object", "required": ["withdrawal_id", "status", "amount_satang", "bank_code"],
               "properties": {"withdrawal_id": {"type": "string"}, **_COMMON}}
_PAYOUT = {"type": "object", "required": ["payout_id", "kind", "bank_code", "amount_satang", "status", "inquiry",
                                          "created_at"],
           "properties": {"payout_id": {"type": "string"}, "kind": {"type": "string", "enum": list(KINDS)},
                          **_COMMON}}
_ALERT = {"type": "object", "required": ["alert_id", "kind", "status", "created_at", "details"], "properties": {
    "alert_id": {"type": "string"}, "kind": {"type": "string", "enum": list(alerts.KINDS)},
    "status": {"type": "string", "enum": list(alerts.STATUSES)},
    "created_at": {"type": "string", "format": "date-time"}, "details": {"type": "object"},
    "acknowledged_at": {"type": "string", "format": "date-time"}, "acknowledged_by": {"type": "string"},
    "ack_reason": {"type": "string"}}}


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": item}, "next_cursor": {"type": "string", "nullable": True}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/withdrawals": {
        "post": operation(
            "The shop withdraws from withdrawable to its registered bank account", MERCHANT,
            {"202": ok("accepted: the money is held in flight until the bank answers (a replay: the same body, "
                       "header Idempotent-Replayed: true)", _WITHDRAWAL),
             "404": error("not_found (no shop registered)"), "409": error("idempotency_conflict"),
             "422": error("withdrawal_not_allowed; details.reason: merchant_not_active, not_tax_compliant, "
                          "exceeds_withdrawable (details.withdrawable_satang)"),
             "503": error("paused (withdrawals paused for all, the shop's district or its bank)")},
            body=WITHDRAWAL_BODY, idempotency_key=True, rate=ratelimit.MONEY),
        "get": operation("The shop's withdrawals, newest first", MERCHANT,
                         {"200": ok("a page", _page(_WITHDRAWAL))}, query=PAGE_QUERY),
    },
    "/v1/withdrawals/{withdrawal_id}": {"get": operation(
        "One of the shop's withdrawals", MERCHANT,
        {"200": ok("the withdrawal", _WITHDRAWAL), "404": error("not_found (also another shop's)")},
        path=WITHDRAWAL_ID_PATH)},
    "/v1/admin/payouts": {"get": operation(
        "Payouts (withdrawals and cash transfers), newest first", READERS,
        {"200": ok("a page", _page(_PAYOUT))}, query=PAYOUTS_QUERY)},
    "/v1/admin/payouts/{payout_id}": {"get": operation(
        "One payout", READERS, {"200": ok("the payout", _PAYOUT), "404": error("not_found")}, path=PAYOUT_ID_PATH)},
    "/v1/admin/alerts": {"get": operation(
        "Alerts, newest first", READERS, {"200": ok("a page", _page(_ALERT))}, query=alerts.ALERTS_QUERY)},
    "/v1/admin/alerts/{alert_id}/ack": {"post": operation(
        "Acknowledge an alert (audited); again: the first acknowledgement stands", OPERATOR,
        {"200": ok("the alert", _ALERT), "404": error("not_found")},
        body=alerts.ACK_BODY, path=alerts.ALERT_ID_PATH, mfa=True)},
}
