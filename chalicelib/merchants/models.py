"""Items of merchants: the shop profile, the tax-ID claim that keeps one shop
per tax ID, and the operator's merchant reference data.

Tax IDs appear only as keyed hashes (chalicelib.pii.hash_id, purpose "tax"),
owners only as keyed hashes of their national ID, bank account numbers only
encrypted.
"""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.db import register

__all__ = ["MerchantModel", "MerchantTaxModel", "MerchantReferenceModel", "MERCHANT_STATUSES"]

MERCHANT_STATUSES = ("pending_review", "active", "rejected", "suspended")


@register
class MerchantModel(Model):
    """One shop. ``merchant_id`` is derived from the owner's hashed national
    ID, so that the owner's shop is found with one GetItem and a second
    registration by the same owner fails on ``attribute_not_exists``."""

    class Meta:
        short_name = "merchants"

    merchant_id = UnicodeAttribute(hash_key=True)
    owner_hash = UnicodeAttribute()
    tax_hash = UnicodeAttribute()
    name = UnicodeAttribute()
    business_type = UnicodeAttribute()
    mcc = UnicodeAttribute()
    size_class = UnicodeAttribute()
    district = UnicodeAttribute()
    lat = NumberAttribute()
    lon = NumberAttribute()
    bank_code = UnicodeAttribute()
    account_no_enc = UnicodeAttribute()
    status = UnicodeAttribute()
    tax_compliant = BooleanAttribute(default=False)
    # Items each of its balances is split into (chalicelib/merchants/shards.py):
    # absent for an ordinary shop (one), raised by the operator's reference
    # data for a wholesaler, never lowered.
    balance_shards = NumberAttribute(null=True)
    review_reason = UnicodeAttribute(null=True)
    reviewed_by = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)


@register
class MerchantTaxModel(Model):
    """Claim of a tax ID by one shop: put with the shop in one transaction."""

    class Meta:
        short_name = "merchant-tax-ids"

    tax_hash = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    created_at = UnicodeAttribute()


@register
class MerchantReferenceModel(Model):
    """The operator's reference data of one taxpayer (from the Revenue Department)."""

    class Meta:
        short_name = "merchant-reference"

    tax_hash = UnicodeAttribute(hash_key=True)
    size_class = UnicodeAttribute()
    tax_compliant = BooleanAttribute()
    # The owner on the Revenue Department's record (pii.hash_id of the cid):
    # only that owner's shop is active at once and holds the tax ID.
    owner_hash = UnicodeAttribute(null=True)
    # The shop's balance shards (CAPACITY.md, Hot items): set for a wholesaler.
    balance_shards = NumberAttribute(null=True)
    updated_at = UnicodeAttribute()
