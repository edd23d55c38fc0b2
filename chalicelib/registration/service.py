"""Registering a citizen for a phase: one use case, in the app and assisted.

One registration per citizen and phase, and one benefit per citizen across
all phases, are kept by DynamoDB conditions, not by reading first: the
registration item is put with ``attribute_not_exists(registration_key)`` and,
when accepted, the benefit item with ``attribute_not_exists(citizen_hash)`` in
the same TransactWriteItems. Of racing requests for one phase, one writes and
the others return its registration; of racing requests into two phases, one
takes the benefit and the other is stored rejected ``already_benefited``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib import db, observability, rolling
from chalicelib.clock import iso, parse_iso
from chalicelib.eligibility import (
    ACCEPTED,
    REASON_ALREADY_BENEFITED,
    REJECTED,
    Citizen,
    Decision,
    PhaseRules,
    assign_bucket,
    assign_wave,
    decide,
    registration_id_for,
    registration_open,
    wallet_id_for,
)
from chalicelib.errors import ConflictError, NotFoundError, RuleError
from chalicelib.exclusions.service import lists_containing
from chalicelib.limits import ACTIVATION_BUCKETS
from chalicelib.phases.counters import count
from chalicelib.pii import encrypt, identity_hash
from chalicelib.registration.cards import card_key, hash_pin, new_card_code, validate_pin
from chalicelib.registration.models import (
    BenefitModel,
    CardModel,
    RegistrationModel,
    promptpay_context,
    registration_key,
    wave_bucket_key,
)

__all__ = [
    "Registered",
    "Assisted",
    "register",
    "registration_view",
    "registrations_of",
    "get_registration",
    "reissue_card",
    "check_identity",
    "CHANNEL_APP",
    "CHANNEL_ASSISTED",
]

CHANNEL_APP = "app"
CHANNEL_ASSISTED = "assisted"
# A card code is 55 random bits; a clash is ~1e-10 a card, and two in a row
# would point to a broken random source rather than bad luck.
CARD_CODE_TRIES_MAX = 3
# A citizen registers for a handful of phases in a lifetime.
PHASES_PER_CITIZEN_MAX = 100

logger = observability.component_logger()


@dataclass(frozen=True)
class Assisted:
    """Who registered the citizen at a registration point, and the PIN the
    citizen chose for the wallet card."""

    point_id: str
    registrar_sub: str
    pin: str


@dataclass(frozen=True)
class Registered:
    registration: RegistrationModel
    created: bool  # False: an earlier registration returned again (200)
    # The code of a card issued by this call: shown once, never stored.
    card_code: str | None = None


def _identity_of(citizen: Citizen) -> str:
    return identity_hash(citizen.citizen_hash, citizen.birth_date.isoformat())


def _mismatch() -> RuleError:
    return RuleError("identity_mismatch", "The birth date or district does not match what the program holds for "
                                          "this national ID; read them again from the ID card of the person "
                                          "in front of you.")


def check_identity(held_identity: str | None, held_district: str | None, citizen: Citizen,
                   check_district: bool = True) -> None:
    """422 ``identity_mismatch`` unless the ID card read at a point (the
    birth date, and the district unless ``check_district`` is False) is what
    the program holds for this citizen. A record without an identity
    (none is written so) fails closed."""
    if held_identity is None or held_identity != _identity_of(citizen):
        raise _mismatch()
    if check_district and held_district != citizen.district:
        raise _mismatch()


def get_registration(phase_id: str, citizen_hash: str) -> RegistrationModel | None:
    try:
        return RegistrationModel.get(registration_key(phase_id, citizen_hash), consistent_read=True)
    except RegistrationModel.DoesNotExist:
        return None


def get_benefit(citizen_hash: str) -> BenefitModel | None:
    try:
        return BenefitModel.get(citizen_hash, consistent_read=True)
    except BenefitModel.DoesNotExist:
        return None


def _benefit_phase(citizen_hash: str) -> str | None:
    benefit = get_benefit(citizen_hash)
    return benefit.phase_id if benefit is not None else None


def _decide(phase: PhaseRules, citizen: Citizen) -> Decision:
    # The cheap rules first: the claims alone reject most of the wrong
    # cohort without a read.
    first = decide(phase, citizen)
    if not first.accepted:
        return first
    return decide(phase, citizen, lists_containing(phase.exclusion_lists, citizen.citizen_hash),
                  _benefit_phase(citizen.citizen_hash))


def _item(phase: PhaseRules, citizen: Citizen, decision: Decision, created_at: str,
          phone: str | None, assisted: Assisted | None, promptpay_id: str | None) -> RegistrationModel:
    key = registration_key(phase.phase_id, citizen.citizen_hash)
    item = RegistrationModel(
        key,
        registration_id=registration_id_for(phase.phase_id, citizen.citizen_hash),
        phase_id=phase.phase_id,
        citizen_hash=citizen.citizen_hash,
        status=decision.status,
        reason=decision.reason,
        channel=CHANNEL_ASSISTED if assisted else CHANNEL_APP,
        district=citizen.district,
        identity_hash=_identity_of(citizen),
        created_at=created_at,
    )
    if phone is not None:
        item.phone_enc = encrypt(phone, key)
    if assisted is not None:
        item.point_id = assisted.point_id
        item.registrar_sub = assisted.registrar_sub
    if decision.accepted:
        wave = assign_wave(phase.phase_id, citizen.citizen_hash, phase.wave_count)
        bucket = assign_bucket(phase.phase_id, citizen.citizen_hash, ACTIVATION_BUCKETS)
        item.wave = wave
        item.wave_key = wave_bucket_key(phase.phase_id, wave, bucket)
        if phase.is_wallet:
            item.wallet_id = wallet_id_for(phase.phase_id, citizen.citizen_hash)
        else:
            if not promptpay_id:
                raise ValueError("a cash_transfer registration needs the citizen's PromptPay id")
            # What the payout is sent to; in clear only in the instruction to the bank.
            item.promptpay_enc = encrypt(promptpay_id, promptpay_context(key))
        accepted_at = parse_iso(created_at)
        if rolling.needs_mark(phase.due_times(wave), accepted_at):
            # Close to or after the wave's time: the schedule credits this
            # citizen by the mark, whatever the wave's sweep saw.
            item.due_key = rolling.due_key(phase.phase_id, assign_bucket(phase.phase_id, citizen.citizen_hash,
                                                                         rolling.SHARDS))
    return item


def _benefit(item: RegistrationModel) -> BenefitModel:
    return BenefitModel(
        item.citizen_hash,
        phase_id=item.phase_id,
        registration_id=item.registration_id,
        wallet_id=item.wallet_id,
        wave=item.wave,
        district=item.district,
        identity_hash=item.identity_hash,
        created_at=item.created_at,
    )


def _card(item: RegistrationModel, pin_hash: str, assisted: Assisted) -> tuple[str, CardModel]:
    """A new card for the registration's wallet: its code (shown once) and its item."""
    code = new_card_code()
    return code, CardModel(
        card_key(code),
        wallet_id=item.wallet_id,
        citizen_hash=item.citizen_hash,
        phase_id=item.phase_id,
        district=item.district or "",
        pin_hash=pin_hash,
        failed_attempts=0,
        locked=False,
        revoked=False,
        point_id=assisted.point_id,
        registrar_sub=assisted.registrar_sub,
        created_at=item.created_at,
    )


class _Outcome:
    STORED = "stored"
    EXISTS = "exists"  # this citizen's registration for the phase is there
    BENEFITED = "benefited"  # another phase took the benefit first
    CARD_CLASH = "card_clash"


# Which failed condition means what, in this order: the citizen's own
# registration first (a retry), then the benefit, then the drawn card code.
_FAILED_MEANS = (("registration", _Outcome.EXISTS), ("benefit", _Outcome.BENEFITED), ("card", _Outcome.CARD_CLASH))


def _write(items: list[tuple[str, Model, Condition]]) -> str:
    """Put every item (tag, model, condition) in one transaction; which
    condition failed, if any."""
    tx = db.Transaction("register")
    for tag, model, condition in items:
        tx.put_model(tag, model, condition)
    try:
        tx.commit()
    except db.ConditionsFailedError as exc:
        for tag, outcome in _FAILED_MEANS:
            if tag in exc:
                return outcome
        raise
    return _Outcome.STORED


def _put_alone(item: RegistrationModel) -> str:
    try:
        item.save(condition=RegistrationModel.registration_key.does_not_exist())
    except PutError as exc:
        if db.condition_failed(exc):
            return _Outcome.EXISTS
        raise
    return _Outcome.STORED


def _store(item: RegistrationModel, assisted: Assisted | None, pin_hash: str | None) -> tuple[str, str | None]:
    """Write the registration (with its benefit and card when accepted);
    the outcome and the code of the card written, if any."""
    if item.status != ACCEPTED:
        return _put_alone(item), None
    for _ in range(CARD_CODE_TRIES_MAX):
        writes: list[tuple[str, Model, Condition]] = [
            ("registration", item, RegistrationModel.registration_key.does_not_exist()),
            ("benefit", _benefit(item), BenefitModel.citizen_hash.does_not_exist()),
        ]
        code = None
        if assisted is not None and pin_hash is not None and item.wallet_id is not None:
            code, card = _card(item, pin_hash, assisted)
            item.card_key = card.card_key
            writes.append(("card", card, CardModel.card_key.does_not_exist()))
        outcome = _write(writes)
        if outcome != _Outcome.CARD_CLASH:
            return outcome, (code if outcome == _Outcome.STORED else None)
    raise RuntimeError("could not draw an unused card code; the random source is suspect")


def _reject_benefited(item: RegistrationModel) -> RegistrationModel:
    """A racing registration into another phase took the benefit: this one
    is stored as what it now is, rejected ``already_benefited``."""
    for name in ("wave", "wave_key", "wallet_id", "card_key", "due_key", "promptpay_enc"):
        setattr(item, name, None)
    item.status = REJECTED
    item.reason = REASON_ALREADY_BENEFITED
    return item


def reissue_card(citizen: Citizen, assisted: Assisted, now: datetime) -> tuple[str, RegistrationModel]:
    """A new card for a citizen's wallet (a lost card, or a lost phone of a
    citizen registered in the app), once the ID card read at the point
    matches what the program holds: the new card, the registration pointed
    at it and the old card revoked, in one transaction, so the old card
    stops working at once and a citizen holds one working card.

    Raises NotFoundError (no wallet), RuleError ``identity_mismatch``.
    """
    pin_hash = hash_pin(assisted.pin)
    benefit = get_benefit(citizen.citizen_hash)
    if benefit is None or not benefit.wallet_id:
        raise NotFoundError("This national ID holds no wallet: register the citizen first.")
    check_identity(benefit.identity_hash, benefit.district, citizen)
    for _ in range(CARD_CODE_TRIES_MAX * 2):
        item = get_registration(benefit.phase_id, citizen.citizen_hash)
        if item is None:
            raise RuntimeError("a benefit without its registration")
        old_key = item.card_key
        code, card = _card(item, pin_hash, assisted)
        card.created_at = iso(now)
        tx = db.Transaction("reissue_card")
        tx.put_model("card", card, CardModel.card_key.does_not_exist())
        held = (RegistrationModel.card_key.does_not_exist() if old_key is None
                else RegistrationModel.card_key == old_key)
        tx.update_model("registration", item, [RegistrationModel.card_key.set(card.card_key)], held)
        if old_key is not None:
            tx.update_model("old_card", CardModel(old_key), [CardModel.revoked.set(True),
                                                              CardModel.updated_at.set(iso(now))],
                            CardModel.card_key.exists())
        try:
            tx.commit()
        except db.ConditionsFailedError:
            # A drawn code that is taken, or a reissue racing this one: read
            # the registration again and draw again; one card stays in use.
            continue
        item.card_key = card.card_key
        return code, item
    raise ConflictError("conflict", "Another card for this citizen was being issued at the same time; "
                                    "try again.")


def _closed(phase: PhaseRules) -> RuleError:
    return RuleError("registration_closed", "Registration for this phase is not open now.",
                     {"phase_id": phase.phase_id, "opens_at": iso(phase.opens_at),
                      "closes_at": iso(phase.closes_at)})


def register(
    phase: PhaseRules,
    citizen: Citizen,
    *,
    now: datetime,
    phone: str | None = None,
    assisted: Assisted | None = None,
    promptpay_id: str | None = None,
) -> Registered:
    """Register once; a second call returns the first registration.
    ``phone`` is as REGISTRATION_BODY parsed it (10 digits); ``promptpay_id``
    (the national ID) is what a cash_transfer phase pays, kept encrypted on
    an accepted registration of such a phase only.

    Raises RuleError ``registration_closed`` outside the phase's window
    (after it closes, an earlier registration is still returned).
    """
    if assisted is not None:
        validate_pin(assisted.pin)
    # Before the window opens nobody can have registered: refuse without a
    # read. After it closes, a retry still gets its registration back.
    if now < phase.opens_at:
        raise _closed(phase)
    if not registration_open(phase, now):
        existing = get_registration(phase.phase_id, citizen.citizen_hash)
        if existing is None:
            raise _closed(phase)
        return _again(existing, citizen, assisted)
    # While the window is open the write comes first: a registration that
    # exists fails its condition and is read back then, so a new one (all
    # but the few taps twice) costs no read of it.
    if assisted is not None:
        benefit = get_benefit(citizen.citizen_hash)
        if benefit is not None:  # benefited in another phase: the same person?
            check_identity(benefit.identity_hash, benefit.district, citizen)
    pin_hash = hash_pin(assisted.pin) if assisted is not None else None
    item = _item(phase, citizen, _decide(phase, citizen), iso(now), phone, assisted, promptpay_id)
    outcome, code = _store(item, assisted, pin_hash)
    if outcome == _Outcome.BENEFITED:
        outcome = _put_alone(_reject_benefited(item))
    if outcome == _Outcome.EXISTS:
        found = get_registration(phase.phase_id, citizen.citizen_hash)
        if found is None:
            raise RuntimeError("a registration's condition failed but it cannot be read back")
        return _again(found, citizen, assisted)
    _log(item, assisted)
    _count(item)
    return Registered(item, created=True, card_code=code)


def _again(existing: RegistrationModel, citizen: Citizen, assisted: Assisted | None) -> Registered:
    """Registered before: the same registration, never a card (a lost card
    is reissued, after the same identity check)."""
    if assisted is not None:
        check_identity(existing.identity_hash, existing.district, citizen)
    return Registered(existing, created=False)


def _count(item: RegistrationModel) -> None:
    """Move the phase's progress counters for a registration written now.

    Outside the registration's transaction on purpose: counter shards are
    shared by every registration of the phase, and in a transaction each
    shard would turn concurrent registrations into TransactionConflicts. A
    counter that fails to move costs a figure on the dashboard, never a
    registration, so it is logged and the registration stands.
    """
    accepted = 1 if item.status == ACCEPTED else 0
    try:
        count(item.phase_id, registered=1, accepted=accepted, rejected=1 - accepted)
    except (PynamoDBException, ClientError):
        logger.exception("progress counter not moved", extra={"phase_id": item.phase_id,
                                                              "registration_id": item.registration_id})


def _log(item: RegistrationModel, assisted: Assisted | None) -> None:
    # No national ID, hash, phone or birth date: what, where, by whom.
    logger.info("registration stored", extra={
        "registration_id": item.registration_id,
        "phase_id": item.phase_id,
        "status": item.status,
        "reason": item.reason,
        "channel": item.channel,
        "district": item.district,
        "point_id": assisted.point_id if assisted else None,
        "registrar_sub": assisted.registrar_sub if assisted else None,
    })


def registration_view(item: RegistrationModel, card_code: str | None = None) -> dict[str, Any]:
    """The API.md body of a registration; ``card_code`` only when a card was
    issued by this very request (a card's code is shown once)."""
    view: dict[str, Any] = {
        "registration_id": item.registration_id,
        "phase_id": item.phase_id,
        "status": item.status,
    }
    if item.reason:
        view["reason"] = item.reason
    if card_code:
        view["card_code"] = card_code
    return view


def registrations_of(citizen_hash: str) -> list[RegistrationModel]:
    """Every phase the citizen registered for (eventually consistent index)."""
    return list(RegistrationModel.by_citizen.query(citizen_hash, limit=PHASES_PER_CITIZEN_MAX))
