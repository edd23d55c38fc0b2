"""Items of registration: one registration per citizen and phase, one
benefit per citizen for ever, and wallet cards for people without a phone.

Citizens appear only as ``citizen_hash`` (chalicelib.pii.hash_id of the
national ID); phone numbers only encrypted.
"""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.db import register

__all__ = [
    "RegistrationModel",
    "BenefitModel",
    "CardModel",
    "registration_key",
    "wave_bucket_key",
    "promptpay_context",
]



def registration_key(phase_id: str, citizen_hash: str) -> str:
    return f"{phase_id}#{citizen_hash}"


def promptpay_context(key: str) -> str:
    """What a registration's PromptPay id is encrypted to (pii.encrypt's
    associated data): that registration, and that field only."""
    return f"promptpay:{key}"


def wave_bucket_key(phase_id: str, wave: int, bucket: int) -> str:
    """Partition key of the by-wave index: phase, 1-based wave, bucket."""
    return f"{phase_id}#{wave}#{bucket:02d}"


class _ByCitizenIndex(GlobalSecondaryIndex["RegistrationModel"]):
    """A citizen's registrations across phases (``GET /v1/me``)."""

    class Meta:
        index_name = "by-citizen"
        projection = AllProjection()

    citizen_hash = UnicodeAttribute(hash_key=True)
    phase_id = UnicodeAttribute(range_key=True)


class _ByWaveIndex(GlobalSecondaryIndex["RegistrationModel"]):
    class Meta:
        index_name = "by-wave"
        projection = AllProjection()

    wave_key = UnicodeAttribute(hash_key=True)
    registration_id = UnicodeAttribute(range_key=True)


class _ByDueIndex(GlobalSecondaryIndex["RegistrationModel"]):
    """Marked registrations (chalicelib/rolling.py): accepted close to or
    after a due time, credited one by one by the schedule; sparse."""

    class Meta:
        index_name = "by-due"
        projection = AllProjection()

    due_key = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


@register
class RegistrationModel(Model):
    """One citizen's registration for one phase (``registration_key``),
    written once with ``attribute_not_exists`` so racing requests make one."""

    class Meta:
        short_name = "registrations"

    registration_key = UnicodeAttribute(hash_key=True)
    registration_id = UnicodeAttribute()
    phase_id = UnicodeAttribute()
    citizen_hash = UnicodeAttribute()
    status = UnicodeAttribute()  # accepted | rejected
    reason = UnicodeAttribute(null=True)  # outside_cohort | excluded:<list> | already_benefited | not_thai
    channel = UnicodeAttribute(default="app")  # app | assisted
    district = UnicodeAttribute(null=True)
    wave = NumberAttribute(null=True)  # 1-based; accepted only
    # Sparse: only accepted registrations are in the by-wave index.
    wave_key = UnicodeAttribute(null=True)
    wallet_id = UnicodeAttribute(null=True)
    # Sparse: set when accepted close to or after a due time, removed once
    # every tranche it covers is credited (chalicelib/rolling.py).
    due_key = UnicodeAttribute(null=True)
    point_id = UnicodeAttribute(null=True)
    registrar_sub = UnicodeAttribute(null=True)
    phone_enc = UnicodeAttribute(null=True)
    # cash_transfer phases, accepted only: the PromptPay id the payout goes to
    # (the national ID), envelope-encrypted (pii.encrypt, promptpay_context).
    promptpay_enc = UnicodeAttribute(null=True)
    # Keyed hash of the national ID with the birth date (pii.identity_hash):
    # what a registrar's ID card is checked against, without a birth date in clear.
    identity_hash = UnicodeAttribute(null=True)
    # The card in use (cards.card_key of its code, never the code itself):
    # a reissue moves it to the new card and revokes the old one.
    card_key = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()

    by_wave = _ByWaveIndex()
    by_citizen = _ByCitizenIndex()
    by_due = _ByDueIndex()


@register
class BenefitModel(Model):
    """The one benefit a citizen may ever hold, across all phases.

    Put with ``attribute_not_exists(citizen_hash)`` in the same transaction
    as an accepted registration: of two phases raced into, one wins.
    """

    class Meta:
        short_name = "benefits"

    citizen_hash = UnicodeAttribute(hash_key=True)
    phase_id = UnicodeAttribute()
    registration_id = UnicodeAttribute()
    wallet_id = UnicodeAttribute(null=True)  # wallet phases
    wave = NumberAttribute(null=True)
    district = UnicodeAttribute(null=True)
    identity_hash = UnicodeAttribute(null=True)  # as on the registration
    created_at = UnicodeAttribute()


@register
class CardModel(Model):
    """A wallet card: printed code + PIN (Argon2 hash only). The item is
    keyed by a keyed hash of the code (``cards.card_key``): the code is half
    of what pays, so the table does not hold it in clear."""

    class Meta:
        short_name = "cards"

    card_key = UnicodeAttribute(hash_key=True)
    wallet_id = UnicodeAttribute()
    citizen_hash = UnicodeAttribute()
    phase_id = UnicodeAttribute()
    district = UnicodeAttribute()
    pin_hash = UnicodeAttribute()
    failed_attempts = NumberAttribute(default=0)
    locked = BooleanAttribute(default=False)
    point_id = UnicodeAttribute()
    registrar_sub = UnicodeAttribute(null=True)
    # A reissued card stops working at once: every use checks this.
    revoked = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
