"""A shop's own rules (PROGRAM.md, Cash-out): pure functions of data, so
that they read and test without moto; payments and withdrawals apply them."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import RuleError

__all__ = ["MerchantView", "may_cash_out", "check_may_cash_out", "exceeds_withdrawable", "check_cash_out"]


@dataclass(frozen=True)
class MerchantView:
    merchant_id: str
    name: str
    status: str
    size_class: str
    district: str
    # Items each of its balances is split into (merchants/shards.py): 1 for
    # an ordinary shop; read with the profile, so a payment costs no extra read.
    balance_shards: int = 1


def may_cash_out(status: str, tax_compliant: bool) -> bool:
    """PROGRAM.md: only an active shop in the tax system turns money into cash."""
    return status == "active" and tax_compliant


def check_may_cash_out(status: str, tax_compliant: bool) -> None:
    """422 ``withdrawal_not_allowed`` unless the shop may cash out;
    ``details.reason`` says which rule (``merchant_not_active``,
    ``not_tax_compliant``)."""
    if status != "active":
        raise RuleError("withdrawal_not_allowed", "Only an active shop can withdraw to its bank.",
                        {"reason": "merchant_not_active", "merchant_status": status})
    if not tax_compliant:
        raise RuleError("withdrawal_not_allowed", "Only a tax-compliant shop (filed the last two tax years) can "
                        "withdraw to its bank.", {"reason": "not_tax_compliant", "tax_compliant": False})


def exceeds_withdrawable(amount_satang: int, withdrawable_satang: int) -> RuleError:
    return RuleError("withdrawal_not_allowed", "Only money received from other shops can be withdrawn, and it "
                     "does not cover this amount; withdraw at most withdrawable_satang.",
                     {"reason": "exceeds_withdrawable", "amount_satang": amount_satang,
                      "withdrawable_satang": withdrawable_satang})


def check_cash_out(*, status: str, tax_compliant: bool, withdrawable_satang: int, amount_satang: int) -> None:
    """A shop withdraws to its bank: only while it may cash out, and only
    from ``withdrawable`` (money from other shops); ``spendable`` (money
    from citizens) can only be spent at other shops, never withdrawn."""
    check_may_cash_out(status, tax_compliant)
    if withdrawable_satang < amount_satang:
        raise exceeds_withdrawable(amount_satang, withdrawable_satang)
