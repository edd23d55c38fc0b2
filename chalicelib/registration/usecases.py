"""The use cases behind the citizen and registrar endpoints.

Each takes the verified token claims and the parsed request, and returns
the status and body of API.md; the blueprints only translate HTTP. Identity
comes from the token alone (citizen) or from the ID card the registrar read
(assisted); a body never names whose wallet it is.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Callable, Mapping

from aws_lambda_powertools import Logger

from chalicelib.eligibility import THAI_NATIONALITY, Citizen, PhaseRules
from chalicelib.errors import ForbiddenError, InvalidRequestError, NotFoundError
from chalicelib.exclusions import import_list, validate_cid
from chalicelib.pii import hash_id
from chalicelib.registration.cards import normalize_card_code, reset_pin, validate_pin
from chalicelib.registration.service import (
    Assisted,
    register,
    registration_view,
    registrations_of,
)
from chalicelib.registration.wallet import find_wallet, wallet_transactions, wallet_view
from chalicelib.switches import check_switch

__all__ = [
    "PhaseLookup",
    "register_citizen",
    "register_assisted",
    "me",
    "wallet",
    "transactions",
    "unlock_card",
    "import_exclusions",
    "citizen_from_claims",
]

PhaseLookup = Callable[[str], "PhaseRules | None"]

_PHASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DISTRICT = re.compile(r"^[1-9][0-9]{3}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

logger = Logger(service="registration")


# -- request checks ---------------------------------------------------------------


def _body(body: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequestError("body", "the body must be a JSON object")
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise InvalidRequestError(unknown[0], f"unknown field {unknown[0]}; remove it")
    for name in required:
        if name not in body:
            raise InvalidRequestError(name, f"{name} is required")
    return body


def _phase_id(value: Any) -> str:
    if not isinstance(value, str) or not _PHASE_ID.match(value):
        raise InvalidRequestError("phase_id", "phase_id must be the id of a phase (1..64 of A-Z a-z 0-9 _ -)")
    return value


def _consent(value: Any) -> None:
    if value is not True:
        raise InvalidRequestError("consent", "consent must be true: the citizen agrees to the program's terms")


def _birth_date(value: Any, field: str) -> date:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRequestError(field, f"{field} must be a date YYYY-MM-DD, as on the ID card")


def _district(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _DISTRICT.match(value):
        raise InvalidRequestError(field, f"{field} must be a 4-digit DOPA district code such as 1001")
    return value


def _phase(phases: PhaseLookup, phase_id: str) -> PhaseRules:
    found = phases(phase_id)
    if found is None:
        raise NotFoundError(f"There is no phase {phase_id}.", {"phase_id": phase_id})
    return found


def citizen_from_claims(claims: Mapping[str, Any]) -> Citizen:
    """The citizen a citizen token names. A token without a usable identity
    is refused as a whole (403): the identity provider, not the caller,
    would have to fix it."""
    try:
        cid = validate_cid(claims.get("cid"), "cid")
        born = _birth_date(claims.get("birth_date"), "birth_date")
        district = _district(claims.get("district"), "district")
    except InvalidRequestError as exc:
        raise ForbiddenError("The token does not carry a valid citizen identity "
                             f"(claim {exc.field}); sign in again through Tang Rat.") from exc
    nationality = claims.get("nationality")
    return Citizen(hash_id(cid), born, nationality if isinstance(nationality, str) else "", district)


def _citizen_hash(claims: Mapping[str, Any]) -> str:
    return citizen_from_claims(claims).citizen_hash


def _point(claims: Mapping[str, Any]) -> tuple[str, str]:
    point_id, sub = claims.get("point_id"), claims.get("sub")
    if not isinstance(point_id, str) or not point_id or not isinstance(sub, str) or not sub:
        raise ForbiddenError("This registrar token is not bound to a registration point (claim point_id).")
    return point_id, sub


# -- citizen ----------------------------------------------------------------------


def register_citizen(claims: Mapping[str, Any], body: Any, *, phases: PhaseLookup,
                     now: datetime) -> tuple[int, dict[str, Any]]:
    """``POST /v1/registrations``: 201 new, 200 the earlier one."""
    body = _body(body, ("phase_id", "consent"), ("phone",))
    phase_id = _phase_id(body["phase_id"])
    _consent(body["consent"])
    citizen = citizen_from_claims(claims)
    check_switch("registrations", district=citizen.district)
    done = register(_phase(phases, phase_id), citizen, now=now, phone=body.get("phone"))
    return (201 if done.created else 200), registration_view(done.registration)


def me(claims: Mapping[str, Any], *, phases: PhaseLookup, now: datetime) -> dict[str, Any]:
    """``GET /v1/me``."""
    citizen = citizen_from_claims(claims)
    registrations = [registration_view(r) for r in registrations_of(citizen.citizen_hash)]
    try:
        view: dict[str, Any] | None = _wallet(citizen.citizen_hash, phases, now)
    except NotFoundError:
        view = None
    return {"district": citizen.district, "registrations": registrations, "wallet": view}


def _wallet(citizen_hash: str, phases: PhaseLookup, now: datetime) -> dict[str, Any]:
    benefit = find_wallet(citizen_hash)
    return wallet_view(benefit, phases(benefit.phase_id), now)


def wallet(claims: Mapping[str, Any], *, phases: PhaseLookup, now: datetime) -> dict[str, Any]:
    """``GET /v1/wallet``: 404 before an accepted registration."""
    return _wallet(_citizen_hash(claims), phases, now)


def transactions(claims: Mapping[str, Any], query: Mapping[str, Any] | None) -> dict[str, Any]:
    """``GET /v1/wallet/transactions?limit&cursor``."""
    query = query or {}
    unknown = sorted(set(query) - {"limit", "cursor"})
    if unknown:
        raise InvalidRequestError(unknown[0], f"unknown query parameter {unknown[0]}; use limit and cursor")
    benefit = find_wallet(_citizen_hash(claims))
    return wallet_transactions(benefit.wallet_id, query.get("limit"), query.get("cursor"))


# -- registrar --------------------------------------------------------------------


def register_assisted(claims: Mapping[str, Any], body: Any, *, phases: PhaseLookup,
                      now: datetime) -> tuple[int, dict[str, Any]]:
    """``POST /v1/assisted-registrations``: as a citizen's registration, from
    the ID card; an accepted citizen of a wallet phase gets a card."""
    point_id, registrar_sub = _point(claims)
    body = _body(body, ("phase_id", "cid", "birth_date", "district", "consent", "pin"))
    phase_id = _phase_id(body["phase_id"])
    cid = validate_cid(body["cid"], "cid")
    born = _birth_date(body["birth_date"], "birth_date")
    district = _district(body["district"], "district")
    _consent(body["consent"])
    pin = validate_pin(body["pin"], "pin")
    check_switch("registrations", district=district)
    # The registrar saw the Thai ID card: nationality is Thai.
    citizen = Citizen(hash_id(cid), born, THAI_NATIONALITY, district)
    done = register(_phase(phases, phase_id), citizen, now=now,
                    assisted=Assisted(point_id=point_id, registrar_sub=registrar_sub, pin=pin))
    _audit("assisted_registration", point_id, registrar_sub,
           registration_id=done.registration.registration_id, phase_id=phase_id,
           status=done.registration.status, new_registration=done.created)
    return (201 if done.created else 200), registration_view(done.registration, with_card=True)


def unlock_card(claims: Mapping[str, Any], card_code: str, body: Any) -> dict[str, Any]:
    """``POST /v1/cards/{card_code}/unlock``: a new PIN once the citizen has
    shown the ID card; someone else's card answers 404, as a missing one."""
    point_id, registrar_sub = _point(claims)
    code = normalize_card_code(card_code)
    body = _body(body, ("cid", "pin"))
    cid = validate_cid(body["cid"], "cid")
    pin = validate_pin(body["pin"], "pin")
    card = reset_pin(code, hash_id(cid), pin)
    # The wallet, not the printed code: a code in a log is half of what pays.
    _audit("card_unlock", point_id, registrar_sub, wallet_id=card.wallet_id)
    return {"card_code": card.card_code, "locked": False, "failed_attempts": 0}


def _audit(action: str, point_id: str, registrar_sub: str, **facts: Any) -> None:
    # Who and where, never whose national ID or PIN.
    logger.info("assisted action", extra={"audit": True, "action": action, "point_id": point_id,
                                          "registrar_sub": registrar_sub, **facts})


# -- operator ---------------------------------------------------------------------


def import_exclusions(body: Any, operator_sub: str | None = None) -> dict[str, Any]:
    """``POST /v1/admin/exclusions``: ``added`` counts IDs new to the list;
    IDs already on it are left alone, so a re-import adds 0."""
    body = _body(body, ("list", "cids"))
    added = import_list(body["list"], body["cids"])
    # Which list, how many and by whom; never the IDs.
    logger.info("operator action", extra={"audit": True, "action": "exclusions_import", "operator_sub": operator_sub,
                                          "list": body["list"], "received": len(body["cids"]), "added": added})
    return {"added": added}
