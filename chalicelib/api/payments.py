"""Payment endpoints: a citizen pays by QR (round 1), a shop pays a shop by
QR (round 2), a shop charges a citizen's wallet card.

Every one needs an Idempotency-Key (API.md): the payment's transfer id is
derived from the caller and the key, and its record holds the response, so
a replay answers it again with ``Idempotent-Replayed: true`` and moves
nothing; the same key with another body is ``409 idempotency_conflict``.
"""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import pii
from chalicelib.api import payments_edge as edge
from chalicelib.auth import Principal
from chalicelib.config import get_settings
from chalicelib.merchants.service import merchant_id_of
from chalicelib.payments.service import PaymentResult, PaymentService
from chalicelib.validation import Money, Obj, Opt, Str

__all__ = ["bp", "service", "forget_cached", "QR_PAYMENT_BODY", "CARD_PAYMENT_BODY"]

bp = Blueprint(__name__)

CATEGORY = Str(1, 40, r"[a-z][a-z0-9_]*", "a lower-case category code such as groceries")
QR_PAYMENT_BODY = Obj({"qr": Str(1, 512), "amount_satang": Opt(Money()), "category": CATEGORY})
CARD_PAYMENT_BODY = Obj({"card_code": Str(1, 20), "pin": Str(1, 12), "amount_satang": Money(), "category": CATEGORY})

_SERVICES: dict[tuple[str, str | None], PaymentService] = {}


def service() -> PaymentService:
    """One service (its connection and caches) per container and endpoint
    (tests and the local stack change the endpoint within one process)."""
    settings = get_settings()
    key = (settings.region, settings.dynamodb_endpoint)
    found = _SERVICES.get(key)
    if found is None:
        found = _SERVICES.setdefault(key, PaymentService())
    return found


def forget_cached() -> None:
    """Drop the services and their cached phase rules (tests change phases)."""
    _SERVICES.clear()


def _reply(result: PaymentResult) -> Any:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return edge.json_response(201, result.body, headers)


def _owner_cid(principal: Principal) -> str:
    cid = principal.claims.get("cid")
    if not isinstance(cid, str) or not cid:
        raise edge.forbidden("A merchant token must carry the owner's cid.")
    return cid


@bp.route("/v1/payments", methods=["POST"])
def create_payment() -> Any:
    def handle(principal: Principal, body: dict[str, Any], key: str) -> Any:
        cid = principal.claims.get("cid")
        if not isinstance(cid, str) or not cid:
            raise edge.forbidden("A citizen token must carry the citizen's cid.")
        district = principal.claims.get("district")
        return _reply(service().pay_by_qr(
            citizen_hash=pii.hash_id(cid), citizen_district=district if isinstance(district, str) else None,
            transfer_id=edge.scoped_id("pay", principal, key), fingerprint=edge.fingerprint(bp, body),
            qr=body["qr"], amount_satang=body.get("amount_satang"), category=body["category"]))

    return edge.money_post(bp, ("citizen",), QR_PAYMENT_BODY, handle)


@bp.route("/v1/merchant-payments", methods=["POST"])
def create_merchant_payment() -> Any:
    def handle(principal: Principal, body: dict[str, Any], key: str) -> Any:
        return _reply(service().pay_merchant(
            payer_id=merchant_id_of(_owner_cid(principal)),
            transfer_id=edge.scoped_id("mpay", principal, key), fingerprint=edge.fingerprint(bp, body),
            qr=body["qr"], amount_satang=body.get("amount_satang"), category=body["category"]))

    return edge.money_post(bp, ("merchant",), QR_PAYMENT_BODY, handle)


@bp.route("/v1/card-payments", methods=["POST"])
def create_card_payment() -> Any:
    def handle(principal: Principal, body: dict[str, Any], key: str) -> Any:
        return _reply(service().pay_by_card(
            merchant_id=merchant_id_of(_owner_cid(principal)),
            transfer_id=edge.scoped_id("cpay", principal, key), fingerprint=edge.fingerprint(bp, body),
            card_code=body["card_code"], pin=body["pin"], amount_satang=body["amount_satang"],
            category=body["category"]))

    return edge.money_post(bp, ("merchant",), CARD_PAYMENT_BODY, handle)
