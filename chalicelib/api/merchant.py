"""Merchant endpoints: registration, profile, transaction list, one-time QR
codes; and the operator's merchant reference data and reviews."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import audit
from chalicelib.api.common import ApiRequest, Reply, endpoint
from chalicelib.auth import Principal
from chalicelib.errors import ForbiddenError, InvalidRequestError
from chalicelib.merchants import service as merchants
from chalicelib.merchants.validation import (
    REFERENCE_BATCH_MAX,
    SIZE_CLASSES,
    parse_reference,
    parse_registration,
    parse_review,
)
from chalicelib.payments.service import make_qr
from chalicelib.validation import Bool, Enum, ListOf, Money, Obj, Opt, Str, TaxId

__all__ = ["bp", "QR_BODY", "REFERENCE_BODY", "REVIEW_BODY", "OPENAPI_PATHS"]

bp = Blueprint(__name__)

LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 100

QR_BODY = Obj({"amount_satang": Opt(Money())})
REFERENCE_BODY = Obj({"merchants": ListOf(Obj({"tax_id": TaxId(), "size_class": Enum(*SIZE_CLASSES),
                                                "tax_compliant": Bool()}), 1, REFERENCE_BATCH_MAX)})
REVIEW_BODY = Obj({"decision": Enum("approve", "reject", "suspend"), "reason": Str(1, 500)})


def _owner(principal: Principal) -> str:
    cid = principal.claims.get("cid")
    if not isinstance(cid, str) or not cid:
        raise ForbiddenError("A merchant token must carry the owner's cid.")
    return cid


def _limit(query: Any) -> int:
    raw = query.get("limit")
    if raw is None:
        return LIST_LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise InvalidRequestError("limit", f"limit must be a whole number 1..{LIST_LIMIT_MAX}")
    return int(raw)


@bp.route("/v1/merchants", methods=["POST"])
@endpoint(bp, roles={"merchant"})
def register_merchant(req: ApiRequest) -> Reply:
    # The merchants package checks the body: shapes and plausibility (an
    # account number's length, a place in Thailand), each naming its field.
    request = parse_registration(req.json())
    return Reply(201, merchants.register_merchant(_owner(req.principal), request))


@bp.route("/v1/merchants/me", methods=["GET"])
@endpoint(bp, roles={"merchant"})
def my_merchant(req: ApiRequest) -> dict[str, Any]:
    return merchants.profile_body(merchants.merchant_of_owner(_owner(req.principal)))


@bp.route("/v1/merchants/me/transactions", methods=["GET"])
@endpoint(bp, roles={"merchant"})
def my_transactions(req: ApiRequest) -> dict[str, Any]:
    merchant = merchants.merchant_of_owner(_owner(req.principal))
    return merchants.transactions_body(merchant.merchant_id, _limit(req.query), req.query.get("cursor"))


@bp.route("/v1/merchants/me/qr", methods=["POST"])
@endpoint(bp, roles={"merchant"})
def my_qr(req: ApiRequest) -> Reply:
    body = req.json(QR_BODY, optional=True) or {}
    merchant = merchants.merchant_of_owner(_owner(req.principal))
    return Reply(201, make_qr(merchant, body.get("amount_satang")))


@bp.route("/v1/admin/merchant-reference", methods=["POST"])
@endpoint(bp, roles={"operator"}, write=True)
def merchant_reference(req: ApiRequest) -> dict[str, Any]:
    entries = parse_reference(req.json())
    result = merchants.upsert_reference(entries)
    audit.audit(req.principal, "merchant_reference_upserted", "merchant-reference", result)
    return result


@bp.route("/v1/admin/merchants/{merchant_id}/review", methods=["POST"])
@endpoint(bp, roles={"operator"}, write=True)
def review(req: ApiRequest, merchant_id: str) -> dict[str, Any]:
    decision, reason = parse_review(req.json())
    result = merchants.review_merchant(merchant_id, decision, reason, req.principal.sub)
    audit.audit(req.principal, f"merchant_{decision}", f"merchant:{merchant_id}", {"reason": reason})
    return result


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_REGISTRATION_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "tax_id", "business_type", "size_class", "district", "location", "bank"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "tax_id": TaxId().schema(),
        "business_type": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
        "size_class": {"type": "string", "enum": list(SIZE_CLASSES)},
        "district": {"type": "string", "pattern": "^[1-9][0-9]{3}$"},
        "location": {"type": "object", "required": ["lat", "lon"], "additionalProperties": False,
                     "properties": {"lat": {"type": "number", "minimum": 5, "maximum": 21},
                                    "lon": {"type": "number", "minimum": 97, "maximum": 106}}},
        "bank": {"type": "object", "required": ["bank_code", "account_no"], "additionalProperties": False,
                 "properties": {"bank_code": {"type": "string", "pattern": "^[0-9]{3}$"},
                                "account_no": {"type": "string", "pattern": "^[0-9]{10,12}$"}}},
    },
}

# OpenAPI path items of this blueprint, for the document served at /v1/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/merchants": {"post": {
        "summary": "Register the caller's shop (one per owner, one per tax ID)", "x-roles": ["merchant"],
        "requestBody": {"required": True, **_json(_REGISTRATION_SCHEMA)},
        "responses": {"201": {"description": "active when the tax ID is in the reference data, else pending_review"},
                      "400": {"description": "invalid_request"}, "409": {"description": "already_exists"}}}},
    "/v1/merchants/me": {"get": {
        "summary": "The caller's shop with both balances", "x-roles": ["merchant"],
        "responses": {"200": {"description": "merchant_id, name, status, district, size_class, spendable_satang, "
                                             "withdrawable_satang, cash_out_eligible"},
                      "404": {"description": "not_found"}}}},
    "/v1/merchants/me/transactions": {"get": {
        "summary": "The shop's transfers, newest first", "x-roles": ["merchant"],
        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                       {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "{items, next_cursor}"}}}},
    "/v1/merchants/me/qr": {"post": {
        "summary": "A one-time dynamic QR (EMVCo merchant-presented) for one sale, valid 120 s",
        "x-roles": ["merchant"], "requestBody": {"required": False, **_json(QR_BODY.schema())},
        "responses": {"201": {"description": "{qr, expires_at}"},
                      "422": {"description": "merchant_not_eligible (the shop is not active)"}}}},
    "/v1/admin/merchant-reference": {"post": {
        "summary": "Upsert the operator's merchant reference data", "x-roles": ["operator (mfa)"],
        "requestBody": {"required": True, **_json(REFERENCE_BODY.schema())},
        "responses": {"200": {"description": "{upserted}"}}}},
    "/v1/admin/merchants/{merchant_id}/review": {"post": {
        "summary": "Approve, reject or suspend a shop", "x-roles": ["operator (mfa)"],
        "requestBody": {"required": True, **_json(REVIEW_BODY.schema())},
        "responses": {"200": {"description": "{merchant_id, status}"}, "404": {"description": "not_found"},
                      "409": {"description": "invalid_transition"}}}},
}
