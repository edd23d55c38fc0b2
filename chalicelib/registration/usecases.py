"""The use cases behind the citizen and registrar endpoints.

Each takes the verified token claims and the request as its spec
(``chalicelib.registration.requests``) parsed it, and returns the status and
body of API.md; the blueprints only translate HTTP. Identity
comes from the token alone (citizen) or from the ID card the registrar read
(assisted); a body never names whose wallet it is.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chalicelib import observability
from chalicelib.eligibility import THAI_NATIONALITY, Citizen, PhaseRules
from chalicelib.errors import ForbiddenError, InvalidRequestError, NotFoundError
from chalicelib.exclusions import import_list
from chalicelib.pii import hash_id
from chalicelib.registration.cards import normalize_card_code, reset_pin
from chalicelib.registration.requests import CITIZEN_CLAIMS
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

logger = observability.component_logger()


# -- identity ---------------------------------------------------------------------


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
        identity = CITIZEN_CLAIMS.parse(dict(claims), "")
    except InvalidRequestError as exc:
        raise ForbiddenError("The token does not carry a valid citizen identity "
                             f"(claim {exc.field}); sign in again through Tang Rat.") from exc
    nationality = claims.get("nationality")
    return Citizen(hash_id(identity["cid"]), identity["birth_date"],
                   nationality if isinstance(nationality, str) else "", identity["district"])


def _citizen_hash(claims: Mapping[str, Any]) -> str:
    return citizen_from_claims(claims).citizen_hash


def _point(claims: Mapping[str, Any]) -> tuple[str, str]:
    point_id, sub = claims.get("point_id"), claims.get("sub")
    if not isinstance(point_id, str) or not point_id or not isinstance(sub, str) or not sub:
        raise ForbiddenError("This registrar token is not bound to a registration point (claim point_id).")
    return point_id, sub


# -- citizen ----------------------------------------------------------------------


def register_citizen(claims: Mapping[str, Any], body: Mapping[str, Any], *, phases: PhaseLookup,
                     now: datetime) -> tuple[int, dict[str, Any]]:
    """``POST /v1/registrations`` (REGISTRATION_BODY): 201 new, 200 the earlier one."""
    citizen = citizen_from_claims(claims)
    check_switch("registrations", district=citizen.district)
    done = register(_phase(phases, body["phase_id"]), citizen, now=now, phone=body.get("phone"))
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


def transactions(claims: Mapping[str, Any], query: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /v1/wallet/transactions?limit&cursor`` (PAGE_QUERY)."""
    benefit = find_wallet(_citizen_hash(claims))
    return wallet_transactions(benefit.wallet_id, query["limit"], query.get("cursor"))


# -- registrar --------------------------------------------------------------------


def register_assisted(claims: Mapping[str, Any], body: Mapping[str, Any], *, phases: PhaseLookup,
                      now: datetime) -> tuple[int, dict[str, Any]]:
    """``POST /v1/assisted-registrations`` (ASSISTED_REGISTRATION_BODY): as a
    citizen's registration, from the ID card; an accepted citizen of a
    wallet phase gets a card."""
    point_id, registrar_sub = _point(claims)
    phase_id, district, pin = body["phase_id"], body["district"], body["pin"]
    check_switch("registrations", district=district)
    # The registrar saw the Thai ID card: nationality is Thai.
    citizen = Citizen(hash_id(body["cid"]), body["birth_date"], THAI_NATIONALITY, district)
    done = register(_phase(phases, phase_id), citizen, now=now,
                    assisted=Assisted(point_id=point_id, registrar_sub=registrar_sub, pin=pin))
    _audit("assisted_registration", point_id, registrar_sub,
           registration_id=done.registration.registration_id, phase_id=phase_id,
           status=done.registration.status, new_registration=done.created)
    return (201 if done.created else 200), registration_view(done.registration, with_card=True)


def unlock_card(claims: Mapping[str, Any], card_code: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /v1/cards/{card_code}/unlock`` (CARD_UNLOCK_BODY): a new PIN once
    the citizen has shown the ID card; someone else's card answers 404, as a
    missing one."""
    point_id, registrar_sub = _point(claims)
    code = normalize_card_code(card_code)
    card = reset_pin(code, hash_id(body["cid"]), body["pin"])
    # The wallet, not the printed code: a code in a log is half of what pays.
    _audit("card_unlock", point_id, registrar_sub, wallet_id=card.wallet_id)
    return {"card_code": card.card_code, "locked": False, "failed_attempts": 0}


def _audit(action: str, point_id: str, registrar_sub: str, **facts: Any) -> None:
    # Who and where, never whose national ID or PIN.
    logger.info("assisted action", extra={"audit": True, "action": action, "point_id": point_id,
                                          "registrar_sub": registrar_sub, **facts})


# -- operator ---------------------------------------------------------------------


def import_exclusions(body: Mapping[str, Any], operator_sub: str | None = None) -> dict[str, Any]:
    """``POST /v1/admin/exclusions`` (EXCLUSIONS_BODY): ``added`` counts IDs
    new to the list; IDs already on it are left alone, so a re-import adds 0."""
    added = import_list(body["list"], body["cids"])
    # Which list, how many and by whom; never the IDs.
    logger.info("operator action", extra={"audit": True, "action": "exclusions_import", "operator_sub": operator_sub,
                                          "list": body["list"], "received": len(body["cids"]), "added": added})
    return {"added": added}
