"""Reconciliation with the banks' statements and the daily net settlement
(operator and auditor read; running a reconciliation needs ``mfa: true``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.common import ApiRequest, Reply, endpoint, ok, operation
from chalicelib.lazy import lazy_module
from chalicelib.payouts.rules import BREAK_KINDS
from chalicelib.validation import BankCode, Date, Params

if TYPE_CHECKING:
    from chalicelib import audit
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    audit = lazy_module("chalicelib.audit")

if TYPE_CHECKING:
    from chalicelib.payouts import reconciliation
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    reconciliation = lazy_module("chalicelib.payouts.reconciliation")

__all__ = ["bp", "OPENAPI_PATHS", "RECONCILIATION_PATH", "SETTLEMENT_PATH"]

bp = Blueprint(__name__)
OPERATOR = {"operator"}
READERS = {"operator", "auditor"}
RECONCILIATION_PATH = Params("path", {"bank_code": BankCode(), "business_date": Date()})
SETTLEMENT_PATH = Params("path", {"business_date": Date()})


def _day(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


@bp.route("/v1/admin/reconciliation/{bank_code}/{business_date}", methods=["GET"])
@endpoint(bp, roles=READERS, path=RECONCILIATION_PATH)
def get_reconciliation(req: ApiRequest, bank_code: str, business_date: Any) -> dict[str, Any]:
    return reconciliation.get_reconciliation(bank_code, _day(business_date))


@bp.route("/v1/admin/reconciliation/{bank_code}/{business_date}", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True, path=RECONCILIATION_PATH)
def run_reconciliation(req: ApiRequest, bank_code: str, business_date: Any) -> Reply:
    result = reconciliation.reconcile(bank_code, _day(business_date))
    audit.audit(req.principal, "reconciliation_run", f"reconciliation:{bank_code}:{_day(business_date)}",
                {"status": result["status"], "breaks": len(result["breaks"])})
    return Reply(202, result)


@bp.route("/v1/admin/settlement/{business_date}", methods=["GET"])
@endpoint(bp, roles=READERS, path=SETTLEMENT_PATH)
def get_settlement(req: ApiRequest, business_date: Any) -> dict[str, Any]:
    return reconciliation.settlement(_day(business_date))


_BREAK = {"type": "object", "required": ["end_to_end_id", "kind"], "properties": {
    "end_to_end_id": {"type": "string"}, "kind": {"type": "string", "enum": list(BREAK_KINDS)},
    "ours_satang": {"type": "integer"}, "bank_satang": {"type": "integer"}}}
_RECONCILIATION = {"type": "object", "required": ["bank_code", "business_date", "status", "matched_count", "breaks"],
                   "properties": {
                       "bank_code": {"type": "string"}, "business_date": {"type": "string", "format": "date"},
                       "status": {"type": "string", "enum": ["matched", "breaks", "no_statement", "pending"]},
                       "matched_count": {"type": "integer"}, "breaks": {"type": "array", "items": _BREAK},
                       "reconciled_at": {"type": "string", "format": "date-time"}}}
_SETTLEMENT = {"type": "object", "required": ["business_date", "banks", "total_satang"], "properties": {
    "business_date": {"type": "string", "format": "date"}, "total_satang": {"type": "integer"},
    "banks": {"type": "array", "items": {"type": "object", "required": ["bank_code", "settled_count",
                                                                        "settled_satang"], "properties": {
        "bank_code": {"type": "string"}, "settled_count": {"type": "integer"},
        "settled_satang": {"type": "integer"}}}}}}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/admin/reconciliation/{bank_code}/{business_date}": {
        "get": operation("A bank's reconciliation of a business day (pending until it ran)", READERS,
                         {"200": ok("the reconciliation", _RECONCILIATION)}, path=RECONCILIATION_PATH),
        "post": operation(
            "Reconcile now: match the bank's camt.053 statement of the day with the payouts settled here; "
            "every break is listed and raised as an alert, never fixed (audited)", OPERATOR,
            {"202": ok("the reconciliation as it ran", _RECONCILIATION)}, path=RECONCILIATION_PATH, mfa=True),
    },
    "/v1/admin/settlement/{business_date}": {"get": operation(
        "The day's net settlement: per bank, what was settled, which the treasury owes that bank", READERS,
        {"200": ok("the settlement", _SETTLEMENT)}, path=SETTLEMENT_PATH)},
}
