"""The spending rules of the program as pure functions of data.

Round 1 (citizen -> shop) and round 2 (shop -> shop) are checked in the order
API.md's codes are listed in the issue: wallet, merchant, scope, category,
balance; the switch and the QR come before (they need I/O). Each check raises
a RuleError with its API code, or returns None. No clock, no I/O: callers pass
``now_iso`` (chalicelib.clock.iso, fixed width, so string order is time order).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import InvalidRequestError, RuleError
from chalicelib.limits import PROVINCE_DIGITS, SPENDING_SCOPES
from chalicelib.merchants.rules import MerchantView

__all__ = [
    "DEFAULT_ALLOWED_SIZE_CLASSES",
    "DEFAULT_RESTRICTED_CATEGORIES",
    "SpendingPolicy",
    "WalletView",
    "check_wallet",
    "check_merchant_round1",
    "check_scope",
    "check_category",
    "check_balance",
    "check_round1",
    "check_round2",
    "split_round2",
    "debit_failure",
]

DEFAULT_ALLOWED_SIZE_CLASSES = frozenset({"small"})
# PROGRAM.md's default negative list. Round 2 money is not tied to one phase,
# so shop-to-shop payments are held to this list (plus any phase's, if given).
DEFAULT_RESTRICTED_CATEGORIES = frozenset({
    "lottery", "alcohol", "tobacco", "cannabis_kratom", "gift_cards_vouchers", "gold_gems",
    "fuel_gas", "electronics", "services", "online",
})


@dataclass(frozen=True)
class SpendingPolicy:
    """What a phase says about round 1 spending."""

    spending_scope: str = "district"
    allowed_size_classes: frozenset[str] = DEFAULT_ALLOWED_SIZE_CLASSES
    restricted_categories: frozenset[str] = DEFAULT_RESTRICTED_CATEGORIES

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any] | None) -> SpendingPolicy:
        """From a saved phase definition (API.md field names); PROGRAM.md's
        defaults for whatever it leaves out, and for no definition at all."""
        definition = definition or {}
        return cls.of(definition.get("spending_scope"), definition.get("allowed_size_classes"),
                      definition.get("restricted_categories"))

    @classmethod
    def of(cls, spending_scope: str | None, allowed_size_classes: Iterable[str] | None,
           restricted_categories: Iterable[str] | None) -> SpendingPolicy:
        return cls(
            spending_scope=spending_scope or "district",
            allowed_size_classes=frozenset(allowed_size_classes if allowed_size_classes is not None
                                           else DEFAULT_ALLOWED_SIZE_CLASSES),
            restricted_categories=frozenset(restricted_categories if restricted_categories is not None
                                            else DEFAULT_RESTRICTED_CATEGORIES),
        )


@dataclass(frozen=True)
class WalletView:
    """The wallet's balance item as read: ``status`` None when never credited."""

    status: str | None
    expires_at: str | None
    balance_satang: int


def check_wallet(wallet: WalletView, now_iso: str) -> None:
    if wallet.status == "expired" or (wallet.status == "active" and (wallet.expires_at or "") <= now_iso):
        raise RuleError("wallet_expired", "This wallet has expired; its money went back to the program.",
                        {"expires_at": wallet.expires_at})
    if wallet.status != "active":
        raise RuleError("wallet_not_active", "This wallet is not active yet (or is suspended); "
                        "check the activation date in the app.", {"status": wallet.status or "pending"})


def check_merchant_round1(merchant: MerchantView, policy: SpendingPolicy) -> None:
    if merchant.status != "active":
        raise RuleError("merchant_not_eligible", "This shop cannot take wallet payments now.",
                        {"merchant_status": merchant.status})
    if merchant.size_class not in policy.allowed_size_classes:
        raise RuleError("merchant_not_eligible", "Wallet money of this phase cannot be spent at a shop "
                        f"of size class {merchant.size_class}.",
                        {"size_class": merchant.size_class,
                         "allowed_size_classes": sorted(policy.allowed_size_classes)})


def check_scope(citizen_district: str | None, merchant_district: str, scope: str) -> None:
    if scope == "nationwide":
        return
    if scope not in SPENDING_SCOPES:
        raise ValueError(f"unknown spending scope {scope!r}")
    citizen = citizen_district or ""
    same = (citizen == merchant_district if scope == "district"
            else citizen[:PROVINCE_DIGITS] == merchant_district[:PROVINCE_DIGITS] and len(citizen) >= PROVINCE_DIGITS)
    if not same:
        raise RuleError("district_mismatch", f"Wallet money can only be spent in your own {scope}; "
                        "this shop is outside it.",
                        {"spending_scope": scope, "merchant_district": merchant_district})


def check_category(category: str, restricted: Iterable[str]) -> None:
    if category in frozenset(restricted):
        raise RuleError("category_restricted", f"Wallet money cannot pay for {category}.",
                        {"category": category})


def check_balance(balance_satang: int, amount_satang: int) -> None:
    if balance_satang < amount_satang:
        raise RuleError("insufficient_funds", "The balance does not cover this amount; pay a smaller amount.",
                        {"amount_satang": amount_satang, "balance_satang": balance_satang})


def check_round1(*, wallet: WalletView, merchant: MerchantView, policy: SpendingPolicy,
                 citizen_district: str | None, category: str, amount_satang: int, now_iso: str) -> None:
    """A citizen pays a shop: every rule after the switch and the QR, in order."""
    check_wallet(wallet, now_iso)
    check_merchant_round1(merchant, policy)
    check_scope(citizen_district, merchant.district, policy.spending_scope)
    check_category(category, policy.restricted_categories)
    check_balance(wallet.balance_satang, amount_satang)


def check_round2(*, payer: MerchantView, payee: MerchantView, category: str,
                 restricted: Iterable[str] = DEFAULT_RESTRICTED_CATEGORIES) -> None:
    """A shop pays a shop: any size and place, both active, never itself."""
    if payer.merchant_id == payee.merchant_id:
        raise InvalidRequestError("qr", "A shop cannot pay itself; scan the other shop's QR code.")
    if payer.status != "active":
        raise RuleError("merchant_not_eligible", "Your shop is not active, so it cannot pay other shops.",
                        {"merchant_status": payer.status, "side": "payer"})
    if payee.status != "active":
        raise RuleError("merchant_not_eligible", "That shop cannot take wallet payments now.",
                        {"merchant_status": payee.status, "side": "payee"})
    check_category(category, restricted)


def split_round2(spendable_satang: int, withdrawable_satang: int, amount_satang: int) -> tuple[int, int]:
    """(from spendable, from withdrawable): spendable first (PROGRAM.md)."""
    check_balance(max(spendable_satang, 0) + max(withdrawable_satang, 0), amount_satang)
    from_spendable = min(max(spendable_satang, 0), amount_satang)
    return from_spendable, amount_satang - from_spendable


def debit_failure(item: dict[str, Any] | None, amount_satang: int, now_iso: str) -> RuleError:
    """Why a wallet debit's condition failed, from the item DynamoDB returned
    with the cancellation (never from a second read)."""
    wallet = WalletView(
        status=(item or {}).get("status"),
        expires_at=(item or {}).get("expires_at"),
        balance_satang=int((item or {}).get("balance_satang", 0)),
    )
    try:
        check_wallet(wallet, now_iso)
        check_balance(wallet.balance_satang, amount_satang)
    except RuleError as exc:
        return exc
    # The condition failed yet the returned item passes: a race with a change
    # that the item no longer shows; the client may retry.
    return RuleError("wallet_not_active", "The wallet changed during the payment; try again.",
                     {"status": wallet.status})
