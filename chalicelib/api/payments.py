"""Payment endpoints: a citizen pays by QR (round 1), a shop pays a shop by
QR (round 2), a shop charges a citizen's wallet card.

Every one needs an Idempotency-Key (API.md): the payment's transfer id is
derived from the caller and the key, and its record holds the response, so
a replay answers it again with ``Idempotent-Replayed: true`` and moves
nothing; the same key with another body is ``409 idempotency_conflict``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib import ratelimit
from chalicelib.api.common import ApiRequest, Reply, endpoint, error, ok, operation
from chalicelib.auth import Principal
from chalicelib.config import runtime
from chalicelib.errors import UnauthenticatedError
from chalicelib.idempotency import fingerprint, replay_headers, scoped_id
from chalicelib.lazy import lazy_module
from chalicelib.payments.requests import CARD_PAYMENT_BODY, QR_PAYMENT_BODY
from chalicelib.validation import Obj

if TYPE_CHECKING:
    from chalicelib import pii
    from chalicelib.merchants import service as merchant_service
    from chalicelib.payments import service as payment_service
    from chalicelib.payments.service import PaymentResult
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    pii = lazy_module("chalicelib.pii")
    merchant_service = lazy_module("chalicelib.merchants.service")
    payment_service = lazy_module("chalicelib.payments.service")

__all__ = ["bp", "service", "OPENAPI_PATHS"]

bp = Blueprint(__name__)

def service() -> payment_service.PaymentService:
    """The runtime's payment service (its connection and caches)."""
    return runtime().component("payment-service", payment_service.PaymentService)


def _reply(result: PaymentResult) -> Reply:
    return Reply(201, result.body, replay_headers(result.replayed))


def _cid(principal: Principal) -> str:
    cid = principal.claims.get("cid")
    if not isinstance(cid, str) or not cid:
        raise UnauthenticatedError(f"A {principal.role} token must carry a cid; sign in again.")
    return cid


def _money_request(req: ApiRequest, prefix: str) -> tuple[dict[str, Any], str, str]:
    """(body, transfer id, fingerprint) of a money-moving request."""
    transfer_id = scoped_id(prefix, req.principal, req.idempotency_key())
    return req.body, transfer_id, fingerprint(req.method, req.path, req.body)


@bp.route("/v1/payments", methods=["POST"])
@endpoint(bp, roles={"citizen"}, body=QR_PAYMENT_BODY, idempotency_key=True, rate=ratelimit.MONEY)
def create_payment(req: ApiRequest) -> Reply:
    body, transfer_id, request_fingerprint = _money_request(req, "pay")
    district = req.principal.claims.get("district")
    return _reply(service().pay_by_qr(
        citizen_hash=pii.hash_id(_cid(req.principal)), citizen_district=district if isinstance(district, str) else None,
        transfer_id=transfer_id, fingerprint=request_fingerprint,
        qr=body["qr"], amount_satang=body.get("amount_satang"), category=body["category"]))


@bp.route("/v1/merchant-payments", methods=["POST"])
@endpoint(bp, roles={"merchant"}, body=QR_PAYMENT_BODY, idempotency_key=True, rate=ratelimit.MONEY)
def create_merchant_payment(req: ApiRequest) -> Reply:
    body, transfer_id, request_fingerprint = _money_request(req, "mpay")
    return _reply(service().pay_merchant(
        payer_id=merchant_service.merchant_id_of(_cid(req.principal)), transfer_id=transfer_id,
        fingerprint=request_fingerprint,
        qr=body["qr"], amount_satang=body.get("amount_satang"), category=body["category"]))


@bp.route("/v1/card-payments", methods=["POST"])
@endpoint(bp, roles={"merchant"}, body=CARD_PAYMENT_BODY, idempotency_key=True, rate=ratelimit.MONEY)
def create_card_payment(req: ApiRequest) -> Reply:
    body, transfer_id, request_fingerprint = _money_request(req, "cpay")
    return _reply(service().pay_by_card(
        merchant_id=merchant_service.merchant_id_of(_cid(req.principal)), transfer_id=transfer_id,
        fingerprint=request_fingerprint,
        card_code=body["card_code"], pin=body["pin"], amount_satang=body["amount_satang"],
        category=body["category"]))


_PAYMENT_RESPONSE = {
    "type": "object",
    "required": ["payment_id", "status", "amount_satang", "merchant_id", "merchant_name", "balance_satang",
                 "created_at"],
    "properties": {
        "payment_id": {"type": "string"}, "status": {"type": "string", "enum": ["completed"]},
        "amount_satang": {"type": "integer"}, "merchant_id": {"type": "string"},
        "merchant_name": {"type": "string"},
        "balance_satang": {"type": "integer", "description": (
            "The payer's balance after this payment: the balance read during the payment minus its amount. "
            "Exact unless another payment from the same balance ran at the same moment; GET /v1/wallet "
            "(or /v1/merchants/me) is always exact.")},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_PAYMENT_ERRORS = {
    "400": "invalid_request (amount_satang missing while the QR has none, or not equal to the QR's amount)",
    "409": "idempotency_conflict", "503": "paused",
}


def _operation(summary: str, role: str, body: Obj, codes: str) -> dict[str, Any]:
    return operation(
        summary, {role},
        {"201": ok("completed (a replay: the same body, header Idempotent-Replayed: true)", _PAYMENT_RESPONSE),
         **{status: error(text) for status, text in _PAYMENT_ERRORS.items()},
         "422": error(codes)},
        body=body, idempotency_key=True, rate=ratelimit.MONEY)


# OpenAPI path items of this blueprint, for the document served at /v1/openapi.json.
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/payments": {"post": _operation(
        "A citizen pays a shop by scanning its one-time QR (round 1)", "citizen", QR_PAYMENT_BODY,
        "qr_invalid, qr_expired, qr_already_used, wallet_not_active, wallet_expired, merchant_not_eligible, "
        "district_mismatch, category_restricted, insufficient_funds (checked in this order)")},
    "/v1/merchant-payments": {"post": _operation(
        "A shop pays another shop by scanning its QR (round 2): spendable first, then withdrawable", "merchant",
        QR_PAYMENT_BODY, "qr_invalid, qr_expired, qr_already_used, merchant_not_eligible, category_restricted, "
        "insufficient_funds")},
    "/v1/card-payments": {"post": _operation(
        "A shop charges a citizen's wallet card; the citizen types the PIN", "merchant", CARD_PAYMENT_BODY,
        "pin_invalid, card_locked, wallet_not_active, wallet_expired, merchant_not_eligible, district_mismatch, "
        "category_restricted, insufficient_funds")},
}
