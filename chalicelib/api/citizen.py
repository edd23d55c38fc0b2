"""Citizen endpoints: register for a phase, who am I, my wallet and its
transactions. Identity comes only from the token's claims."""
from __future__ import annotations

from typing import Any, Callable

from chalice import Blueprint, Response

from chalicelib.auth import authenticate, require_role
from chalicelib.clock import utcnow
from chalicelib.errors import WalletError
from chalicelib.registration import usecases
from chalicelib.registration.phases import forget_cached_phases, phase_rules
from chalicelib.validation import Const, Obj, Opt, PhaseId, Phone, parse_json

__all__ = ["bp", "forget_cached_phases", "respond", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
CITIZEN = ("citizen",)


def respond(bp: Blueprint, roles: tuple[str, ...], work: Callable[[Any], tuple[int, Any]]) -> Response:
    """Authenticate, run ``work(principal)``, answer JSON; a WalletError
    becomes the contract's error body (with Retry-After when it has one)."""
    try:
        principal = authenticate(bp.current_request.headers.get("authorization"))
        require_role(principal, roles)
        status, body = work(principal)
    except WalletError as exc:
        retry_after = getattr(exc, "retry_after_s", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response(body=exc.body(), status_code=exc.status, headers=headers)
    return Response(body=body, status_code=status)


@bp.route("/v1/registrations", methods=["POST"])
def register() -> Response:
    return respond(bp, CITIZEN, lambda p: usecases.register_citizen(
        p.claims, parse_json(bp.current_request.raw_body), phases=phase_rules, now=utcnow()))


@bp.route("/v1/me", methods=["GET"])
def me() -> Response:
    return respond(bp, CITIZEN, lambda p: (200, usecases.me(p.claims, phases=phase_rules, now=utcnow())))


@bp.route("/v1/wallet", methods=["GET"])
def wallet() -> Response:
    return respond(bp, CITIZEN, lambda p: (200, usecases.wallet(p.claims, phases=phase_rules, now=utcnow())))


@bp.route("/v1/wallet/transactions", methods=["GET"])
def wallet_transactions() -> Response:
    return respond(bp, CITIZEN, lambda p: (200, usecases.transactions(
        p.claims, bp.current_request.query_params)))


# -- OpenAPI path items of this blueprint, for the document at /v1/openapi.json --

REGISTRATION_BODY = Obj({"phase_id": PhaseId(), "consent": Const(True), "phone": Opt(Phone())})
_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
REGISTRATION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["registration_id", "phase_id", "status"],
    "properties": {
        "registration_id": _STRING, "phase_id": _STRING,
        "status": {"type": "string", "enum": ["accepted", "rejected"]},
        "reason": {"type": "string", "description": "rejected only: outside_cohort, excluded:<list>, "
                                                    "already_benefited or not_thai"},
    },
}
WALLET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["wallet_id", "phase_id", "status", "balance_satang", "credited_satang", "spent_satang"],
    "properties": {
        "wallet_id": _STRING, "phase_id": _STRING,
        "status": {"type": "string", "enum": ["pending", "active", "expired", "suspended"]},
        "balance_satang": _INTEGER,
        "credited_satang": {"type": "integer", "description": "credited by the program (all tranches so far)"},
        "spent_satang": {"type": "integer", "description": "paid to shops"},
        "activates_at": {**_TIME, "description": "pending only: when the citizen's wave is credited"},
        "expires_at": {**_TIME, "description": "once credited: unspent money returns to the treasury then"},
    },
}
TRANSACTIONS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": {
            "type": "object", "required": ["transfer_id", "type", "amount_satang", "direction", "created_at"],
            "properties": {
                "transfer_id": _STRING, "type": {"type": "string", "description": "e.g. issuance, payment, "
                                                                                  "card_payment, expiry"},
                "amount_satang": _INTEGER, "direction": {"type": "string", "enum": ["in", "out"]},
                "counterparty": {"type": "string", "description": "the shop's merchant_id, for payments"},
                "counterparty_name": {"type": "string", "description": "the shop's name, for payments"},
                "created_at": _TIME,
            }}},
        "next_cursor": {"type": "string", "nullable": True},
    },
}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/registrations": {"post": {
        "summary": "Register the signed-in citizen for a phase (identity from the token only)",
        "x-roles": ["citizen"],
        "requestBody": {"required": True, "content": {"application/json": {"schema": REGISTRATION_BODY.schema()}}},
        "responses": {
            "201": _ok("registered now: accepted, or rejected with the reason", REGISTRATION_SCHEMA),
            "200": _ok("registered before for this phase: the same registration", REGISTRATION_SCHEMA),
            "400": {"description": "invalid_request (details.field names the field)"},
            "404": {"description": "not_found: no such phase"},
            "422": {"description": "registration_closed: outside the phase's window (opens inclusive, "
                                   "closes exclusive)"},
            "503": {"description": "paused (Retry-After)"},
        }}},
    "/v1/me": {"get": {
        "summary": "The citizen's district, registrations across phases and wallet", "x-roles": ["citizen"],
        "responses": {"200": _ok("the citizen", {
            "type": "object", "required": ["district", "registrations", "wallet"],
            "properties": {"district": _STRING, "registrations": {"type": "array", "items": REGISTRATION_SCHEMA},
                           "wallet": {**WALLET_SCHEMA, "nullable": True}}})}}},
    "/v1/wallet": {"get": {
        "summary": "The citizen's wallet", "x-roles": ["citizen"],
        "responses": {"200": _ok("the wallet", WALLET_SCHEMA),
                      "404": {"description": "not_found: no accepted registration in a wallet phase"}}}},
    "/v1/wallet/transactions": {"get": {
        "summary": "The wallet's transfers, newest first", "x-roles": ["citizen"],
        "parameters": [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                        "default": 50}},
            {"name": "cursor", "in": "query", "schema": _STRING}],
        "responses": {"200": _ok("a page", TRANSACTIONS_SCHEMA),
                      "400": {"description": "invalid_request: limit or cursor"},
                      "404": {"description": "not_found: no wallet"}}}},
}
