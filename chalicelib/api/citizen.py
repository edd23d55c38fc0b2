"""Citizen endpoints: register for a phase, who am I, my wallet and its
transactions. Identity comes only from the token's claims."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.common import ApiRequest, Reply, endpoint
from chalicelib.clock import utcnow
from chalicelib.registration import usecases
from chalicelib.registration.phases import forget_cached_phases, phase_rules
from chalicelib.validation import Const, Obj, Opt, PhaseId, Phone

__all__ = ["bp", "forget_cached_phases", "OPENAPI_PATHS", "REGISTRATION_SCHEMA"]

bp = Blueprint(__name__)
CITIZEN = {"citizen"}


@bp.route("/v1/registrations", methods=["POST"])
@endpoint(bp, roles=CITIZEN)
def register(req: ApiRequest) -> Reply:
    # Body checks are the use case's own (e.g. a phone written +66 ...).
    status, body = usecases.register_citizen(req.principal.claims, req.json(), phases=phase_rules, now=utcnow())
    return Reply(status, body)


@bp.route("/v1/me", methods=["GET"])
@endpoint(bp, roles=CITIZEN)
def me(req: ApiRequest) -> dict[str, Any]:
    return usecases.me(req.principal.claims, phases=phase_rules, now=utcnow())


@bp.route("/v1/wallet", methods=["GET"])
@endpoint(bp, roles=CITIZEN)
def wallet(req: ApiRequest) -> dict[str, Any]:
    return usecases.wallet(req.principal.claims, phases=phase_rules, now=utcnow())


@bp.route("/v1/wallet/transactions", methods=["GET"])
@endpoint(bp, roles=CITIZEN)
def wallet_transactions(req: ApiRequest) -> dict[str, Any]:
    return usecases.transactions(req.principal.claims, req.query)


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
