"""Merchant endpoints: registration, profile, transaction list, one-time QR
codes; and the operator's merchant reference data and reviews."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib import limits, ratelimit
from chalicelib.api.citizen import TRANSACTIONS_SCHEMA
from chalicelib.api.common import ApiRequest, Reply, endpoint, error, ok, operation
from chalicelib.auth import Principal
from chalicelib.errors import UnauthenticatedError
from chalicelib.lazy import lazy_module
from chalicelib.merchants.validation import (
    MERCHANT_ID_PATH,
    MERCHANT_REFERENCE_BODY,
    MERCHANT_REGISTRATION_BODY,
    MERCHANT_REVIEW_BODY,
    ReferenceEntry,
    RegistrationRequest,
)
from chalicelib.payments.requests import QR_BODY
from chalicelib.validation import PAGE_QUERY

if TYPE_CHECKING:
    from chalicelib import audit
    from chalicelib.merchants import service as merchants
    from chalicelib.payments import service as payment_service
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    audit = lazy_module("chalicelib.audit")
    merchants = lazy_module("chalicelib.merchants.service")
    payment_service = lazy_module("chalicelib.payments.service")

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
MERCHANT = {"merchant"}
OPERATOR = {"operator"}


def _owner(principal: Principal) -> str:
    cid = principal.claims.get("cid")
    if not isinstance(cid, str) or not cid:
        raise UnauthenticatedError("A merchant token must carry the owner's cid; sign in again.")
    return cid


@bp.route("/v1/merchants", methods=["POST"])
@endpoint(bp, roles=MERCHANT, body=MERCHANT_REGISTRATION_BODY, rate=ratelimit.MERCHANT_REGISTRATION)
def register_merchant(req: ApiRequest) -> Reply:
    return Reply(201, merchants.register_merchant(_owner(req.principal), RegistrationRequest.of(req.body)))


@bp.route("/v1/merchants/me", methods=["GET"])
@endpoint(bp, roles=MERCHANT)
def my_merchant(req: ApiRequest) -> dict[str, Any]:
    return merchants.profile_body(merchants.merchant_of_owner(_owner(req.principal)))


@bp.route("/v1/merchants/me/transactions", methods=["GET"])
@endpoint(bp, roles=MERCHANT, query=PAGE_QUERY)
def my_transactions(req: ApiRequest) -> dict[str, Any]:
    merchant = merchants.merchant_of_owner(_owner(req.principal))
    return merchants.transactions_body(merchant.merchant_id, req.query["limit"], req.query.get("cursor"))


@bp.route("/v1/merchants/me/qr", methods=["POST"])
@endpoint(bp, roles=MERCHANT, body=QR_BODY, body_required=False, rate=ratelimit.QR)
def my_qr(req: ApiRequest) -> Reply:
    merchant = merchants.merchant_of_owner(_owner(req.principal))
    return Reply(201, payment_service.make_qr(merchant, req.body.get("amount_satang")))


@bp.route("/v1/admin/merchant-reference", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True, body=MERCHANT_REFERENCE_BODY,
          body_bytes_max=limits.BULK_BODY_BYTES_MAX)
def merchant_reference(req: ApiRequest) -> dict[str, Any]:
    result = merchants.upsert_reference(ReferenceEntry.all_of(req.body))
    audit.audit(req.principal, "merchant_reference_upserted", "merchant-reference", result)
    return result


@bp.route("/v1/admin/merchants/{merchant_id}/review", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True, body=MERCHANT_REVIEW_BODY, path=MERCHANT_ID_PATH)
def review(req: ApiRequest, merchant_id: str) -> dict[str, Any]:
    decision, reason = req.body["decision"], req.body["reason"]
    result = merchants.review_merchant(merchant_id, decision, reason, req.principal.sub)
    audit.audit(req.principal, f"merchant_{decision}", f"merchant:{merchant_id}", {"reason": reason})
    return result


_PROFILE_SCHEMA = {"type": "object", "required": [
    "merchant_id", "name", "status", "district", "size_class", "spendable_satang", "withdrawable_satang",
    "cash_out_eligible"], "properties": {
    "merchant_id": {"type": "string"}, "name": {"type": "string"},
    "status": {"type": "string", "enum": ["active", "pending_review", "rejected", "suspended"]},
    "district": {"type": "string"}, "size_class": {"type": "string"},
    "spendable_satang": {"type": "integer", "description": "received from citizens: spend it at other shops"},
    "withdrawable_satang": {"type": "integer", "description": "received from other shops: may be cashed out"},
    "cash_out_eligible": {"type": "boolean"}}}
_STATUS_SCHEMA = {"type": "object", "required": ["merchant_id", "status"], "properties": {
    "merchant_id": {"type": "string"}, "status": {"type": "string"}}}


# OpenAPI path items of this blueprint, for the document served at /v1/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/merchants": {"post": operation(
        "Register the caller's shop (one per owner, one per tax ID)", MERCHANT,
        {"201": ok("active when the tax ID is in the reference data, else pending_review", _STATUS_SCHEMA),
         "409": error("already_exists")},
        body=MERCHANT_REGISTRATION_BODY, rate=ratelimit.MERCHANT_REGISTRATION)},
    "/v1/merchants/me": {"get": operation(
        "The caller's shop with both balances", MERCHANT,
        {"200": ok("the shop", _PROFILE_SCHEMA), "404": error("not_found")})},
    "/v1/merchants/me/transactions": {"get": operation(
        "The shop's transfers, newest first (as for the wallet; a citizen's payment names no citizen)",
        MERCHANT, {"200": ok("a page", TRANSACTIONS_SCHEMA), "404": error("not_found")}, query=PAGE_QUERY)},
    "/v1/merchants/me/qr": {"post": operation(
        "A one-time dynamic QR (EMVCo merchant-presented) for one sale, valid 120 s", MERCHANT,
        {"201": ok("the QR", {"type": "object", "required": ["qr", "expires_at"], "properties": {
            "qr": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}}),
         "404": error("not_found: no shop is registered for this owner"),
         "422": error("merchant_not_eligible (the shop is not active)")},
        body=QR_BODY, body_required=False, rate=ratelimit.QR)},
    "/v1/admin/merchant-reference": {"post": operation(
        "Upsert the operator's merchant reference data", OPERATOR,
        {"200": ok("upserted: entries saved", {"type": "object", "required": ["upserted"], "properties": {
            "upserted": {"type": "integer"}}})},
        body=MERCHANT_REFERENCE_BODY, body_bytes_max=limits.BULK_BODY_BYTES_MAX, mfa=True)},
    "/v1/admin/merchants/{merchant_id}/review": {"post": operation(
        "Approve, reject or suspend a shop", OPERATOR,
        {"200": ok("the shop's status now", _STATUS_SCHEMA), "404": error("not_found"),
         "409": error("invalid_transition")},
        body=MERCHANT_REVIEW_BODY, path=MERCHANT_ID_PATH, mfa=True)},
}
