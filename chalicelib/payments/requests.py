"""The requests of payments, as the specs that parse them and write their
OpenAPI schemas. Which amount a QR payment moves (the QR's, or the body's
when the QR has none, never two different ones) is the use case's rule."""
from __future__ import annotations

from chalicelib import limits
from chalicelib.validation import Category, Money, Obj, Opt, Str

__all__ = ["QR_PAYMENT_BODY", "CARD_PAYMENT_BODY", "QR_BODY"]

_QR = Str(1, limits.QR_PAYLOAD_CHARS_MAX, hint="the scanned QR payload")
QR_PAYMENT_BODY = Obj({"qr": _QR, "amount_satang": Opt(Money()), "category": Category()})
# The card's code and PIN are checked against the card itself (its check
# symbol, the PIN's hash and the lockout count), not for shape first.
CARD_PAYMENT_BODY = Obj({
    "card_code": Str(1, limits.CARD_CODE_CHARS_MAX, hint="the 12-character code printed on the card"),
    "pin": Str(1, limits.CARD_PIN_CHARS_MAX, hint="the PIN the citizen types"),
    "amount_satang": Money(),
    "category": Category(),
})
# A shop's QR for one sale; without an amount the customer enters it.
QR_BODY = Obj({"amount_satang": Opt(Money())})
