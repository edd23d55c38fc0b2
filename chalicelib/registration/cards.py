"""Wallet cards for citizens without a smartphone: a printed code and a PIN.

The code names the card (unguessable, short enough to print and type); the
PIN proves the holder. PINs exist only as Argon2id hashes. Five wrong PINs
lock the card until a registrar unlocks it; the count is kept by conditional
updates, so that concurrent wrong attempts are all counted and the card locks
exactly at the fifth.
"""
from __future__ import annotations

import secrets
from functools import lru_cache
from typing import TYPE_CHECKING

from pynamodb.exceptions import UpdateError

from chalicelib import db
from chalicelib.clock import iso_now
from chalicelib.errors import InvalidRequestError, NotFoundError, RuleError
from chalicelib.lazy import lazy_module
from chalicelib.pii import hash_id
from chalicelib.registration.models import CardModel
from chalicelib.validation import Pin

__all__ = [
    "PIN_ATTEMPTS_MAX",
    "CARD_CODE_RANDOM_CHARS",
    "new_card_code",
    "normalize_card_code",
    "card_key",
    "validate_pin",
    "hash_pin",
    "pin_matches",
    "get_card",
    "verify_pin",
    "reset_pin",
    "card_of",
]

PIN_ATTEMPTS_MAX = 5
# Crockford base32: no I, L, O, U, so that a printed code is not misread.
CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# 11 random symbols (55 bits) + 1 check symbol, printed as XXXX-XXXX-XXXX.
# With a few million cards, a guessed code names a card once in ~10^10
# tries, and even then the PIN locks the card after five.
CARD_CODE_RANDOM_CHARS = 11
CARD_CODE_GROUP = 4
_CARD_CODE_LENGTH = CARD_CODE_RANDOM_CHARS + 1
_READ_AS = {"I": "1", "L": "1", "O": "0"}

# Argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane): about 30 ms a
# check, and bounded memory when many payments run in one small Lambda.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19_456
ARGON2_PARALLELISM = 1


if TYPE_CHECKING:
    import argon2
else:
    argon2 = lazy_module("argon2")  # only the card routes hash or check a PIN


@lru_cache(maxsize=1)
def _hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                          parallelism=ARGON2_PARALLELISM)


# -- card codes ------------------------------------------------------------------


def _check_symbol(symbols: str) -> str:
    """Luhn mod 32: catches every single wrong symbol and most swaps of two
    neighbours, so a mistyped code is refused before any lookup."""
    base = len(CROCKFORD_ALPHABET)
    total = 0
    factor = 2
    for symbol in reversed(symbols):
        addend = factor * CROCKFORD_ALPHABET.index(symbol)
        total += addend // base + addend % base
        factor = 1 if factor == 2 else 2
    return CROCKFORD_ALPHABET[(base - total % base) % base]


def _format(symbols: str) -> str:
    return "-".join(symbols[i:i + CARD_CODE_GROUP] for i in range(0, len(symbols), CARD_CODE_GROUP))


def new_card_code() -> str:
    body = "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(CARD_CODE_RANDOM_CHARS))
    return _format(body + _check_symbol(body))


def normalize_card_code(text: object, field: str = "card_code") -> str:
    """The canonical ``XXXX-XXXX-XXXX`` form of what a person typed: any
    case, with or without dashes or spaces, I/L read as 1 and O as 0."""
    if not isinstance(text, str):
        raise InvalidRequestError(field, f"{field} must be the 12-character code printed on the card")
    symbols = "".join(_READ_AS.get(c, c) for c in text.upper() if c not in "- ")
    if len(symbols) != _CARD_CODE_LENGTH or any(c not in CROCKFORD_ALPHABET for c in symbols):
        raise InvalidRequestError(field, f"{field} must be the 12-character code printed on the card")
    if _check_symbol(symbols[:-1]) != symbols[-1]:
        raise InvalidRequestError(field, f"{field} has a typing mistake; check it against the card")
    return _format(symbols)


def card_key(card_code: str) -> str:
    """The card item's key: a keyed hash of the canonical code, so that the
    table (and its backups) never hold a code that, with a PIN, pays."""
    return hash_id(normalize_card_code(card_code), purpose="card")


# -- PINs ----------------------------------------------------------------------


_PIN = Pin()


def validate_pin(pin: object, field: str = "pin") -> str:
    """A PIN a citizen may choose (the request specs' ``Pin``): checked again
    here, before hashing, whoever the caller."""
    return str(_PIN.parse(pin, field))


def hash_pin(pin: str) -> str:
    return _hasher().hash(validate_pin(pin))


def pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        return _hasher().verify(pin_hash, pin)
    except (argon2.exceptions.VerifyMismatchError, argon2.exceptions.VerificationError,
            argon2.exceptions.InvalidHashError):
        return False


# -- the card item -----------------------------------------------------------------


_NO_CARD = "No card has this code; check it against the card."


def get_card(card_code: str) -> CardModel:
    """The card in use with this code; a revoked (reissued) card answers as
    one that does not exist."""
    try:
        card = CardModel.get(card_key(card_code), consistent_read=True)
    except CardModel.DoesNotExist as exc:
        raise NotFoundError(_NO_CARD) from exc
    if card.revoked:
        raise NotFoundError(_NO_CARD)
    return card


def _locked_error() -> RuleError:
    return RuleError("card_locked", "This card is locked after too many wrong PINs; "
                                    "a registration point can unlock it.")


def verify_pin(card_code: str, pin: str) -> CardModel:
    """The card, if ``pin`` is its PIN and it is not locked.

    Raises NotFoundError (no such card), RuleError ``card_locked`` (locked
    now or before) or RuleError ``pin_invalid`` (with ``attempts_left``).
    A right PIN resets the count of wrong ones.
    """
    card = get_card(card_code)
    if card.locked:
        raise _locked_error()
    if not isinstance(pin, str) or not pin_matches(card.pin_hash, pin):
        _count_wrong_pin(card)  # raises
    if card.failed_attempts:
        _clear_failures(card)
    return card


def _clear_failures(card: CardModel) -> None:
    try:
        card.update(
            actions=[CardModel.failed_attempts.set(0), CardModel.updated_at.set(iso_now())],
            condition=(CardModel.locked == False) & (CardModel.revoked == False),  # noqa: E712
        )
    except UpdateError as exc:
        if db.condition_failed(exc):
            # Wrong PINs racing this right one locked the card meanwhile (or it was reissued).
            raise _locked_error() from exc
        raise


def _count_wrong_pin(card: CardModel) -> None:
    """Count one wrong PIN, without a read-modify-write.

    Attempts 1..4 are an ``ADD 1`` while the count is below 4 and the card
    is unlocked; the fifth is the one update whose condition is count == 4,
    and it sets ``locked`` with the count, so of any number of concurrent
    wrong attempts exactly one locks the card and the count ends at 5.
    """
    unlocked = (CardModel.locked == False) & (CardModel.revoked == False)  # noqa: E712
    below_last = CardModel.failed_attempts < PIN_ATTEMPTS_MAX - 1
    now = iso_now()
    try:
        card.update(
            actions=[CardModel.failed_attempts.add(1), CardModel.updated_at.set(now)],
            condition=unlocked & below_last,
        )
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
    else:
        left = PIN_ATTEMPTS_MAX - int(card.failed_attempts)
        raise RuleError("pin_invalid", f"Wrong PIN; {left} attempts left before the card locks.",
                        {"attempts_left": left})
    try:
        card.update(
            actions=[CardModel.failed_attempts.add(1), CardModel.locked.set(True), CardModel.updated_at.set(now)],
            condition=unlocked & (CardModel.failed_attempts == PIN_ATTEMPTS_MAX - 1),
        )
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        # Already locked by a concurrent attempt: this one counts for nothing
        # more, the card is locked either way.
    raise RuleError("card_locked", "Wrong PIN; the card is now locked. A registration point can unlock it.",
                    {"attempts_left": 0})


_NOT_THEIRS = "No card of this citizen has this code; check the code and the ID card."


def card_of(card_code: str, citizen_hash: str) -> CardModel:
    """The card in use with this code, if it is this citizen's; someone
    else's card answers exactly as a card that does not exist, so that the
    endpoint cannot be used to learn whose card a code is."""
    try:
        card = get_card(card_code)
    except NotFoundError as exc:
        raise NotFoundError(_NOT_THEIRS) from exc
    if card.citizen_hash != citizen_hash:
        raise NotFoundError(_NOT_THEIRS)
    return card


def _not_locked() -> RuleError:
    return RuleError("card_not_locked", "This card is not locked: its PIN still works, and only a locked "
                                        "card can be unlocked. A lost card is reissued instead.")


def reset_pin(card: CardModel, new_pin: str) -> CardModel:
    """Set a new PIN and unlock a locked card (``card_of`` found it).

    Only a locked card: a registrar cannot set a new PIN on a card its
    citizen still uses (422 ``card_not_locked``). The condition holds it
    at the write too, against a reissue or a right PIN racing the unlock.
    """
    if not card.locked:
        raise _not_locked()
    pin_hash = hash_pin(new_pin)
    try:
        card.update(
            actions=[
                CardModel.pin_hash.set(pin_hash),
                CardModel.failed_attempts.set(0),
                CardModel.locked.set(False),
                CardModel.updated_at.set(iso_now()),
            ],
            condition=(CardModel.citizen_hash == card.citizen_hash) & (CardModel.locked == True)  # noqa: E712
            & (CardModel.revoked == False),  # noqa: E712
        )
    except UpdateError as exc:
        if db.condition_failed(exc):
            raise _not_locked() from exc
        raise
    return card
