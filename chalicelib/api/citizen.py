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
from chalicelib.validation import parse_json

__all__ = ["bp", "forget_cached_phases", "respond"]

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
