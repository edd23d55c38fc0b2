"""Registration-point endpoints (registrars bound to a point) and the
operator's import of exclusion lists, which registration reads."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.citizen import respond
from chalicelib.auth import require_mfa
from chalicelib.clock import utcnow
from chalicelib.registration import usecases
from chalicelib.registration.phases import phase_rules
from chalicelib.validation import parse_json

__all__ = ["bp"]

bp = Blueprint(__name__)
REGISTRAR = ("registrar",)
OPERATOR = ("operator",)


@bp.route("/v1/assisted-registrations", methods=["POST"])
def assisted_registration() -> Response:
    return respond(bp, REGISTRAR, lambda p: usecases.register_assisted(
        {**p.claims, "sub": p.sub}, parse_json(bp.current_request.raw_body), phases=phase_rules, now=utcnow()))


@bp.route("/v1/cards/{card_code}/unlock", methods=["POST"])
def unlock_card(card_code: str) -> Response:
    return respond(bp, REGISTRAR, lambda p: (200, usecases.unlock_card(
        {**p.claims, "sub": p.sub}, card_code, parse_json(bp.current_request.raw_body))))


@bp.route("/v1/admin/exclusions", methods=["POST"])
def import_exclusions() -> Response:
    def work(principal):  # type: ignore[no-untyped-def]
        require_mfa(principal)
        return 200, usecases.import_exclusions(parse_json(bp.current_request.raw_body))

    return respond(bp, OPERATOR, work)
