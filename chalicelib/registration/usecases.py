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

from chalicelib import audit, limits, observability, ratelimit
from chalicelib.alerts import raise_alert
from chalicelib.auth import Principal
from chalicelib.eligibility import THAI_NATIONALITY, Citizen, PhaseRules
from chalicelib.errors import (
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RuleError,
    UnauthenticatedError,
)
from chalicelib.exclusions.service import import_list
from chalicelib.pii import hash_id
from chalicelib.registration.cards import card_of, reset_pin
from chalicelib.registration.requests import CITIZEN_CLAIMS
from chalicelib.registration.service import (
    Assisted,
    check_identity,
    get_benefit,
    get_registration,
    register,
    registration_view,
    registrations_of,
    reissue_card,
)
from chalicelib.registration.wallet import WaitingReason, find_wallet, wallet_transactions, wallet_view
from chalicelib.switches import check_switch

__all__ = [
    "PhaseLookup",
    "register_citizen",
    "register_assisted",
    "me",
    "wallet",
    "transactions",
    "unlock_card",
    "unlock_card_by_body",
    "reissue",
    "import_exclusions",
    "citizen_from_claims",
]

PhaseLookup = Callable[[str], "PhaseRules | None"]

# Every assisted action of a point is counted at the edge (ratelimit.REGISTRAR,
# per point); here those on citizens it did not register.
POINT_FOREIGN_ACTIONS = ratelimit.Limit("point-foreign", limits.POINT_FOREIGN_ACTIONS_PER_WINDOW_MAX,
                                        limits.POINT_FOREIGN_WINDOW_S)

logger = observability.component_logger()


# -- identity ---------------------------------------------------------------------


def _phase(phases: PhaseLookup, phase_id: str) -> PhaseRules:
    found = phases(phase_id)
    if found is None:
        raise NotFoundError(f"There is no phase {phase_id}.", {"phase_id": phase_id})
    return found


def citizen_from_claims(claims: Mapping[str, Any]) -> Citizen:
    """The citizen a citizen token names. A token without a usable identity
    is refused as a whole (401): the identity in it is unusable, the caller
    must sign in again."""
    try:
        identity = CITIZEN_CLAIMS.parse(dict(claims), "")
    except InvalidRequestError as exc:
        raise UnauthenticatedError("The token does not carry a valid citizen identity "
                             f"(claim {exc.field}); sign in again through Tang Rat.") from exc
    nationality = claims.get("nationality")
    return Citizen(hash_id(identity["cid"]), identity["birth_date"],
                   nationality if isinstance(nationality, str) else "", identity["district"])


def _citizen_hash(claims: Mapping[str, Any]) -> str:
    return citizen_from_claims(claims).citizen_hash


def _point(claims: Mapping[str, Any], sub: str) -> tuple[str, str]:
    point_id = claims.get("point_id")
    if not isinstance(point_id, str) or not point_id or not isinstance(sub, str) or not sub:
        raise ForbiddenError("This registrar token is not bound to a registration point (claim point_id).")
    return point_id, sub


# -- citizen ----------------------------------------------------------------------


def register_citizen(claims: Mapping[str, Any], body: Mapping[str, Any], *, phases: PhaseLookup,
                     now: datetime) -> tuple[int, dict[str, Any]]:
    """``POST /v1/registrations`` (REGISTRATION_BODY): 201 new, 200 the earlier one."""
    citizen = citizen_from_claims(claims)
    check_switch("registrations", district=citizen.district)
    # A cash_transfer phase pays the citizen's PromptPay id: their national ID.
    done = register(_phase(phases, body["phase_id"]), citizen, now=now, phone=body.get("phone"),
                    promptpay_id=str(claims["cid"]))
    return (201 if done.created else 200), registration_view(done.registration)


def me(claims: Mapping[str, Any], *, phases: PhaseLookup, now: datetime,
       waiting: WaitingReason | None = None) -> dict[str, Any]:
    """``GET /v1/me``."""
    citizen = citizen_from_claims(claims)
    registrations = [registration_view(r) for r in registrations_of(citizen.citizen_hash)]
    try:
        view: dict[str, Any] | None = _wallet(citizen.citizen_hash, phases, now, waiting)
    except NotFoundError:
        view = None
    return {"district": citizen.district, "registrations": registrations, "wallet": view}


def _wallet(citizen_hash: str, phases: PhaseLookup, now: datetime,
            waiting: WaitingReason | None = None) -> dict[str, Any]:
    benefit = find_wallet(citizen_hash)
    return wallet_view(benefit, phases(benefit.phase_id), now, waiting=waiting)


def wallet(claims: Mapping[str, Any], *, phases: PhaseLookup, now: datetime,
           waiting: WaitingReason | None = None) -> dict[str, Any]:
    """``GET /v1/wallet``: 404 before an accepted registration; ``waiting``
    says why a wallet past its wave's time is still pending."""
    return _wallet(_citizen_hash(claims), phases, now, waiting)


def transactions(claims: Mapping[str, Any], query: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /v1/wallet/transactions?limit&cursor`` (PAGE_QUERY)."""
    benefit = find_wallet(_citizen_hash(claims))
    return wallet_transactions(benefit.wallet_id, query["limit"], query.get("cursor"))


# -- registrar --------------------------------------------------------------------


def register_assisted(principal: Principal, body: Mapping[str, Any], *, phases: PhaseLookup,
                      now: datetime) -> tuple[int, dict[str, Any]]:
    """``POST /v1/assisted-registrations`` (ASSISTED_REGISTRATION_BODY): as a
    citizen's registration, from the ID card; an accepted citizen of a
    wallet phase gets a card, whose code this answer alone shows. A citizen
    registered before gets the registration again (200), no card, once the
    ID card matches what the program holds (422 ``identity_mismatch``)."""
    point_id, registrar_sub = _point(principal.claims, principal.sub)
    phase_id, district, pin = body["phase_id"], body["district"], body["pin"]
    check_switch("registrations", district=district)
    # The registrar saw the Thai ID card: nationality is Thai.
    citizen = Citizen(hash_id(body["cid"]), body["birth_date"], THAI_NATIONALITY, district)
    assisted = Assisted(point_id=point_id, registrar_sub=registrar_sub, pin=pin)
    try:
        done = register(_phase(phases, phase_id), citizen, now=now, assisted=assisted, promptpay_id=body["cid"])
    except RuleError as exc:
        if exc.code == "identity_mismatch":
            _audit(principal, "identity_mismatch", point_id, f"phase:{phase_id}", attempted="assisted_registration")
            _foreign(principal, point_id)
        raise
    registration = done.registration
    if not done.created and registration.point_id != point_id:
        _foreign(principal, point_id)
    _audit(principal, "assisted_registration", point_id, f"registration:{registration.registration_id}",
           phase_id=phase_id, status=registration.status, new_registration=done.created,
           card_issued=done.card_code is not None)
    return (201 if done.created else 200), registration_view(registration, card_code=done.card_code)


def reissue(principal: Principal, body: Mapping[str, Any], *, now: datetime) -> tuple[int, dict[str, Any]]:
    """``POST /v1/cards/reissue`` (CARD_REISSUE_BODY): a new card for a
    registered citizen, the old one revoked at once."""
    point_id, registrar_sub = _point(principal.claims, principal.sub)
    citizen = Citizen(hash_id(body["cid"]), body["birth_date"], THAI_NATIONALITY, body["district"])
    benefit = get_benefit(citizen.citizen_hash)
    held = get_registration(benefit.phase_id, citizen.citizen_hash) if benefit is not None else None
    if held is None or held.point_id != point_id:
        _foreign(principal, point_id)
    try:
        code, registration = reissue_card(citizen, Assisted(point_id, registrar_sub, body["pin"]), now)
    except RuleError as exc:
        if exc.code == "identity_mismatch":
            _audit(principal, "identity_mismatch", point_id, "card", attempted="card_reissue")
        raise
    _audit(principal, "card_reissue", point_id, f"wallet:{registration.wallet_id}",
           registration_id=registration.registration_id)
    return 201, {"card_code": code}


def unlock_card(principal: Principal, card_code: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /v1/cards/{card_code}/unlock`` (CARD_UNLOCK_BODY): a new PIN for
    a locked card of this citizen; someone else's card answers 404, as a
    missing one."""
    point_id, _ = _point(principal.claims, principal.sub)
    card = card_of(card_code, hash_id(body["cid"]))
    if card.point_id != point_id:
        _foreign(principal, point_id)
    return _unlock(principal, point_id, card, body["pin"], "path")


def unlock_card_by_body(principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /v1/cards/unlock`` (CARD_UNLOCK_BY_BODY): as the path form, with
    the code in the body (URLs end up in access logs) and the birth date
    checked against what the program holds."""
    point_id, _ = _point(principal.claims, principal.sub)
    citizen_hash = hash_id(body["cid"])
    card = card_of(body["card_code"], citizen_hash)
    if card.point_id != point_id:
        _foreign(principal, point_id)
    benefit = get_benefit(citizen_hash)
    try:
        check_identity(benefit.identity_hash if benefit else None, None,
                       Citizen(citizen_hash, body["birth_date"], THAI_NATIONALITY, ""), check_district=False)
    except RuleError:
        _audit(principal, "identity_mismatch", point_id, f"wallet:{card.wallet_id}", attempted="card_unlock")
        raise
    return _unlock(principal, point_id, card, body["pin"], "body")


def _unlock(principal: Principal, point_id: str, card: Any, pin: str, form: str) -> dict[str, Any]:
    reset_pin(card, pin)
    # The wallet, not the printed code: a code in a log is half of what pays.
    _audit(principal, "card_unlock", point_id, f"wallet:{card.wallet_id}", form=form)
    return {"locked": False, "failed_attempts": 0}


def _foreign(principal: Principal, point_id: str) -> None:
    """Count an action on a citizen this point did not register: over
    POINT_FOREIGN_ACTIONS it is refused (429) and, the first time in the
    window, an alert goes into the operators' audit chain."""
    found = ratelimit.hit(POINT_FOREIGN_ACTIONS, point_id)
    if found.crossed:
        raise_alert("registrar_point_unusual", f"{point_id}#{found.window}", {
            "point_id": point_id, "registrar": principal.sub, "actions_in_window": found.count,
            "window_s": POINT_FOREIGN_ACTIONS.window_s})
    if not found.allowed:
        raise RateLimitedError("This registration point acted for unusually many citizens it did not register; "
                               "operations has been alerted. Try again later.", found.retry_after_s)


def _audit(principal: Principal, action: str, point_id: str, target: str, **facts: Any) -> None:
    """Every assisted action into the audit chain of its point, with the
    registrar and the point; never whose national ID, card code or PIN."""
    audit.audit(principal, action, target, {"point_id": point_id, **facts}, chain=audit.point_chain(point_id))
    logger.info("assisted action", extra={"action": action, "point_id": point_id,
                                          "registrar_sub": principal.sub, "target": target})


# -- operator ---------------------------------------------------------------------


def import_exclusions(body: Mapping[str, Any], operator_sub: str | None = None) -> dict[str, Any]:
    """``POST /v1/admin/exclusions`` (EXCLUSIONS_BODY): ``added`` counts IDs
    new to the list; IDs already on it are left alone, so a re-import adds 0."""
    added = import_list(body["list"], body["cids"])
    # Which list, how many and by whom; never the IDs.
    logger.info("operator action", extra={"audit": True, "action": "exclusions_import", "operator_sub": operator_sub,
                                          "list": body["list"], "received": len(body["cids"]), "added": added})
    return {"added": added}
