"""Citizen endpoints: register for a phase, who am I, my wallet and its
transactions. Identity comes only from the token's claims."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib import ratelimit
from chalicelib.api.common import ApiRequest, Reply, endpoint, error, ok, operation
from chalicelib.clock import utcnow
from chalicelib.lazy import lazy_module
from chalicelib.registration.requests import REGISTRATION_BODY
from chalicelib.validation import PAGE_QUERY

if TYPE_CHECKING:
    from chalicelib import pii
    from chalicelib.activation import progress as activation_progress
    from chalicelib.payouts import cash_transfers
    from chalicelib.registration import phases as registration_phases
    from chalicelib.registration import usecases
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    pii = lazy_module("chalicelib.pii")
    activation_progress = lazy_module("chalicelib.activation.progress")
    cash_transfers = lazy_module("chalicelib.payouts.cash_transfers")
    usecases = lazy_module("chalicelib.registration.usecases")
    registration_phases = lazy_module("chalicelib.registration.phases")

__all__ = ["bp", "OPENAPI_PATHS", "REGISTRATION_SCHEMA", "TRANSACTIONS_SCHEMA"]

bp = Blueprint(__name__)
CITIZEN = {"citizen"}


@bp.route("/v1/registrations", methods=["POST"])
@endpoint(bp, roles=CITIZEN, body=REGISTRATION_BODY, rate=ratelimit.REGISTRATION)
def register(req: ApiRequest) -> Reply:
    status, body = usecases.register_citizen(req.principal.claims, req.body, phases=registration_phases.phase_rules,
                                             now=utcnow())
    return Reply(status, body)


@bp.route("/v1/me", methods=["GET"])
@endpoint(bp, roles=CITIZEN)
def me(req: ApiRequest) -> dict[str, Any]:
    body = usecases.me(req.principal.claims, phases=registration_phases.phase_rules, now=utcnow(),
                       waiting=activation_progress.waiting_reason)
    if body["registrations"]:
        # A cash_transfer phase's registration carries its payout once made.
        payouts = cash_transfers.citizen_payouts(pii.hash_id(str(req.principal.claims["cid"])))
        for registration in body["registrations"]:
            if registration["phase_id"] in payouts:
                registration["payout"] = payouts[registration["phase_id"]]
    return body


@bp.route("/v1/wallet", methods=["GET"])
@endpoint(bp, roles=CITIZEN)
def wallet(req: ApiRequest) -> dict[str, Any]:
    return usecases.wallet(req.principal.claims, phases=registration_phases.phase_rules, now=utcnow(),
                           waiting=activation_progress.waiting_reason)


@bp.route("/v1/wallet/transactions", methods=["GET"])
@endpoint(bp, roles=CITIZEN, query=PAGE_QUERY)
def wallet_transactions(req: ApiRequest) -> dict[str, Any]:
    return usecases.transactions(req.principal.claims, req.query)


# -- OpenAPI path items of this blueprint, for the document at /v1/openapi.json --

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
        "payout": {"type": "object", "description": "GET /v1/me, a cash_transfer phase: its payout once made",
                   "required": ["payout_id", "status", "amount_satang"], "properties": {
                       "payout_id": _STRING, "amount_satang": {"type": "integer"},
                       "status": {"type": "string", "enum": ["pending", "sent", "settled", "rejected"]},
                       "reason": {"type": "string", "description": "the bank's reason code of a rejection"}}},
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
        "waiting_reason": {"type": "string", "enum": ["crediting", "budget_exhausted"],
                           "description": "pending past activates_at only: crediting (accepted after the "
                                          "wave's time: credited within about a minute) or why the wave stopped"},
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
                "counterparty": {"type": "string", "description": "the merchant_id of the other party when it "
                                 "is a shop (a payment to or from a shop); never a citizen"},
                "counterparty_name": {"type": "string", "description": "that shop's name at the time"},
                "created_at": _TIME,
            }}},
        "next_cursor": {"type": "string", "nullable": True},
    },
}


_REGISTRATION_ERRORS = {
    "404": error("not_found: no such phase"),
    "422": error("registration_closed: outside the phase's window (opens inclusive, "
                                             "closes exclusive)"),
    "503": error("paused (Retry-After)"),
}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/registrations": {"post": operation(
        "Register the signed-in citizen for a phase (identity from the token only)", CITIZEN,
        {"201": ok("registered now: accepted, or rejected with the reason", REGISTRATION_SCHEMA),
         "200": ok("registered before for this phase: the same registration", REGISTRATION_SCHEMA),
         **_REGISTRATION_ERRORS},
        body=REGISTRATION_BODY, rate=ratelimit.REGISTRATION)},
    "/v1/me": {"get": operation(
        "The citizen's district, registrations across phases and wallet", CITIZEN,
        {"200": ok("the citizen", {
            "type": "object", "required": ["district", "registrations", "wallet"],
            "properties": {"district": _STRING, "registrations": {"type": "array", "items": REGISTRATION_SCHEMA},
                           "wallet": {**WALLET_SCHEMA, "nullable": True}}})})},
    "/v1/wallet": {"get": operation(
        "The citizen's wallet", CITIZEN,
        {"200": ok("the wallet", WALLET_SCHEMA),
         "404": error("not_found: no accepted registration in a wallet phase")})},
    "/v1/wallet/transactions": {"get": operation(
        "The wallet's transfers, newest first", CITIZEN,
        {"200": ok("a page", TRANSACTIONS_SCHEMA),
         "404": error("not_found: no wallet")},
        query=PAGE_QUERY)},
}
