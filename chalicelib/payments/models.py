"""Items of payments besides the ledger's: the single-use marker of a QR."""
from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["QrNonceModel"]


@register
class QrNonceModel(Model):
    """A QR's nonce, put with ``attribute_not_exists`` in the payment's own
    transaction: of two people scanning one QR, one pays. Kept a while past
    the QR's expiry (after which the QR fails on its expiry anyway), then
    DynamoDB's TTL removes it."""

    class Meta:
        short_name = "qr-nonces"

    nonce = UnicodeAttribute(hash_key=True)
    transfer_id = UnicodeAttribute()
    merchant_id = UnicodeAttribute()
    expires_ttl = TTLAttribute()
