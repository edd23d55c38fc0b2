"""Merchant endpoints: registration, profile, transaction list, one-time QR
codes; and the operator's merchant reference data and reviews."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api import payments_edge as edge
from chalicelib.auth import Principal
from chalicelib.errors import InvalidRequestError
from chalicelib.merchants import service as merchants
from chalicelib.merchants.validation import (
    REFERENCE_BATCH_MAX,
    SIZE_CLASSES,
    parse_reference,
    parse_registration,
    parse_review,
)
from chalicelib.payments.service import make_qr
from chalicelib.validation import Bool, Enum, ListOf, Money, Obj, Opt, Str, TaxId, parse_json

__all__ = ["bp", "QR_BODY", "REFERENCE_BODY", "REVIEW_BODY"]

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
        raise edge.forbidden("A merchant token must carry the owner's cid.")
    return cid


def _body() -> Any:
    raw = bp.current_request.raw_body
    return parse_json(raw) if raw else {}


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return LIST_LIMIT_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT_MAX:
        raise InvalidRequestError("limit", f"limit must be a whole number 1..{LIST_LIMIT_MAX}")
    return int(raw)


@bp.route("/v1/merchants", methods=["POST"])
def register_merchant() -> Any:
    def run() -> Any:
        principal = edge.caller(bp, ("merchant",))
        request = parse_registration(_body())
        return edge.json_response(201, merchants.register_merchant(_owner(principal), request))

    return edge.handle(run)


@bp.route("/v1/merchants/me", methods=["GET"])
def my_merchant() -> Any:
    def run() -> Any:
        principal = edge.caller(bp, ("merchant",))
        return edge.json_response(200, merchants.profile_body(merchants.merchant_of_owner(_owner(principal))))

    return edge.handle(run)


@bp.route("/v1/merchants/me/transactions", methods=["GET"])
def my_transactions() -> Any:
    def run() -> Any:
        principal = edge.caller(bp, ("merchant",))
        merchant = merchants.merchant_of_owner(_owner(principal))
        query = bp.current_request.query_params or {}
        return edge.json_response(200, merchants.transactions_body(merchant.merchant_id, _limit(query),
                                                                   query.get("cursor")))

    return edge.handle(run)


@bp.route("/v1/merchants/me/qr", methods=["POST"])
def my_qr() -> Any:
    def run() -> Any:
        principal = edge.caller(bp, ("merchant",))
        body = QR_BODY.parse(_body())
        merchant = merchants.merchant_of_owner(_owner(principal))
        return edge.json_response(201, make_qr(merchant, body.get("amount_satang")))

    return edge.handle(run)


@bp.route("/v1/admin/merchant-reference", methods=["POST"])
def merchant_reference() -> Any:
    def run() -> Any:
        edge.caller(bp, ("operator",), write=True)
        return edge.json_response(200, merchants.upsert_reference(parse_reference(_body())))

    return edge.handle(run)


@bp.route("/v1/admin/merchants/{merchant_id}/review", methods=["POST"])
def review(merchant_id: str) -> Any:
    def run() -> Any:
        principal = edge.caller(bp, ("operator",), write=True)
        decision, reason = parse_review(_body())
        return edge.json_response(200, merchants.review_merchant(merchant_id, decision, reason, principal.sub))

    return edge.handle(run)
