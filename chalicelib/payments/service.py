"""Payments: a citizen pays a shop by QR (round 1) or wallet card, a shop pays
a shop by QR (round 2).

Each payment is one ``TransactWriteItems`` (ARCHITECTURE.md): the debit with
its conditions (a wallet: active, not expired, balance covers), the credit,
the transfer record keyed by the caller's Idempotency-Key (so the record is
also the idempotency record) and, for a QR, the QR's single-use marker. The
checks before it are the rules of ``chalicelib.payments.rules`` on what was
read on the way (at most the wallet and the shop's profile); the write's own
conditions hold them against every concurrent request, and which condition
failed is told from the item DynamoDB returns with the cancellation.

``balance_satang`` in the response is the balance read on the way minus the
amount: exact when nothing else moved the wallet between the read and the
write; under concurrent spending of one wallet it may show more than is left
(never less), and ``GET /v1/wallet`` tells the exact figure. The ledger's own
condition guarantees the balance never goes below zero either way.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.cache import TtlCache
from chalicelib.clock import iso, utcnow
from chalicelib.config import get_settings, runtime
from chalicelib.errors import InvalidRequestError, RuleError, WalletError
from chalicelib.lazy import lazy_module
from chalicelib.ledger import (
    AccountModel,
    ConditionFailedError,
    ExtraWrite,
    InsufficientFundsError,
    Ledger,
    Posted,
    Transfer,
    TransferMismatchError,
    TransferRecord,
    accounts,
)
from chalicelib.merchants.rules import MerchantView
from chalicelib.merchants.service import balances_of, known_shards, merchant_views
from chalicelib.merchants.shards import (
    draw_transfers,
    legs_that_fit,
    plan_draw,
    shard_accounts,
    shard_suffix,
    sweep,
    total_of,
)
from chalicelib.payments.models import QrNonceModel
from chalicelib.payments.rules import (
    DEFAULT_RESTRICTED_CATEGORIES,
    SpendingPolicy,
    WalletView,
    check_round1,
    check_round2,
    debit_failure,
    split_round2,
)
from chalicelib.phases import service as phases
from chalicelib.phases.counters import spend_feed
from chalicelib.qr import QrClaims, issue_qr, verify_qr
from chalicelib.registration.cards import normalize_card_code, verify_pin
from chalicelib.registration.models import BenefitModel
from chalicelib.switches import check_switch

if TYPE_CHECKING:
    import geothai
else:
    geothai = lazy_module("geothai")  # a district's name for a QR: the merchant routes only

__all__ = [
    "QR_MARKER_KEEP_S",
    "ROUND2_ATTEMPTS_MAX",
    "PaymentResult",
    "PaymentService",
    "QrSigningKeyError",
    "qr_signing_key",
    "make_qr",
]

# The marker outlives its QR by a day: a QR past its expiry fails on the
# expiry check, so the marker is only needed until then.
QR_MARKER_KEEP_S = 86_400
# A shop's split between its two balances is computed from a read; if a
# concurrent movement changed them, the write fails and the split is redone.
ROUND2_ATTEMPTS_MAX = 4
BENEFIT_CACHE_ENTRIES_MAX = 100_000
POLICY_CACHE_TTL_S = 5.0
# Phases are few (one a year or so); a bound all the same.
POLICY_CACHE_ENTRIES_MAX = 1_000
RESPONSE_FIELDS = ("payment_id", "status", "amount_satang", "merchant_id", "merchant_name", "balance_satang",
                   "created_at")


class QrSigningKeyError(RuntimeError):
    """WALLET_QR_SIGNING_KEY is missing or short: a deployment fault."""


def qr_signing_key() -> bytes:
    key = get_settings().qr_signing_key.encode()
    if len(key) < 16:
        raise QrSigningKeyError("WALLET_QR_SIGNING_KEY must be set to a secret of 16+ characters")
    return key


def qr_verifying_keys() -> tuple[bytes, ...]:
    """The signing key, and during a rotation the one before it."""
    previous = get_settings().qr_previous_signing_key.encode()
    return (qr_signing_key(), previous) if len(previous) >= 16 else (qr_signing_key(),)


def district_city(district: str) -> str:
    """EMVCo's merchant city of a shop: its district's name (DOPA's list)."""
    found = geothai.district(district)
    return found.name_en if found is not None else district


def make_qr(merchant: Any, amount_satang: int | None, now: datetime | None = None) -> dict[str, Any]:
    """A one-time QR for one sale of ``merchant`` (a MerchantModel)."""
    if merchant.status != "active":
        raise RuleError("merchant_not_eligible", "Only an active shop can show payment QR codes.",
                        {"merchant_status": merchant.status})
    now = now or utcnow()
    payload, claims = issue_qr(merchant_id=merchant.merchant_id, merchant_name=merchant.name,
                               city=district_city(merchant.district), key=qr_signing_key(),
                               now_s=int(now.timestamp()),
                               amount_satang=amount_satang, mcc=merchant.mcc)
    expires_at = datetime.fromtimestamp(claims.expires_at_s, tz=now.tzinfo).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"qr": payload, "expires_at": expires_at}


@dataclass(frozen=True)
class PaymentResult:
    body: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class _Wallet:
    wallet_id: str
    phase_id: str
    district: str | None


def _phase_policy(phase_id: str) -> SpendingPolicy:
    """The round 1 rules of a phase, from its saved definition (the phases
    package's ``get_definition``, as registration reads it). Where no phases
    store is deployed, PROGRAM.md's defaults apply: district scope, small
    shops, the default negative list."""
    return SpendingPolicy.from_definition(phases.get_definition(phase_id))


def _benefits() -> TtlCache[_Wallet]:
    # A citizen's wallet id and phase never change once the benefit exists, so
    # the mapping may be kept for the life of the runtime.
    return runtime().cache("benefit-wallets", None, BENEFIT_CACHE_ENTRIES_MAX)


def _benefit_wallet(citizen_hash: str) -> _Wallet:
    cached = _benefits().get(citizen_hash)
    if cached is not None:
        return cached
    try:
        benefit = BenefitModel.get(citizen_hash)
    except BenefitModel.DoesNotExist as exc:
        raise RuleError("wallet_not_active", "You have no wallet yet; register for a phase first.",
                        {"status": "none"}) from exc
    if not benefit.wallet_id:
        raise RuleError("wallet_not_active", "Your benefit is not a wallet.", {"status": "none"})
    found = _Wallet(benefit.wallet_id, benefit.phase_id, benefit.district)
    _benefits().put(citizen_hash, found)
    return found


def _wallet_view(item: AccountModel | None) -> WalletView:
    if item is None:
        return WalletView(None, None, 0)
    return WalletView(item.status, item.expires_at, int(item.balance_satang))


class PaymentService:
    """One method per use case; each returns a PaymentResult or raises a WalletError."""

    def __init__(self, ledger: Ledger | None = None, *, now: Callable[[], datetime] = utcnow,
                 policy_of: Callable[[str], SpendingPolicy] = _phase_policy) -> None:
        self._ledger = ledger or Ledger()
        self._now = now
        self._policy_of = policy_of
        self._policies: TtlCache[SpendingPolicy] = TtlCache(POLICY_CACHE_TTL_S, POLICY_CACHE_ENTRIES_MAX)

    # -- round 1: a citizen scans a shop's QR -------------------------------

    def pay_by_qr(self, *, citizen_hash: str, citizen_district: str | None, transfer_id: str, fingerprint: str,
                  qr: str, amount_satang: int | None, category: str) -> PaymentResult:
        now = self._now()
        try:
            check_switch("payments", district=citizen_district)
            claims = self._claims(qr, now)
            amount = self._amount(claims, amount_satang)
            wallet = _benefit_wallet(citizen_hash)
            account_id = accounts.wallet_account(wallet.wallet_id)
            views, balances = merchant_views([claims.merchant_id], [account_id])
            merchant = self._merchant(views, claims.merchant_id)
            check_switch("payments", district=merchant.district)
            wallet_view = _wallet_view(balances.get(account_id))
            check_round1(wallet=wallet_view, merchant=merchant, policy=self._policy(wallet.phase_id),
                         citizen_district=citizen_district, category=category, amount_satang=amount,
                         now_iso=iso(now))
        except WalletError as exc:
            return self._replay_or_raise(transfer_id, fingerprint, exc)
        transfer = self._transfer(transfer_id, fingerprint, account_id,
                                  _credit(accounts.merchant_spendable, merchant, transfer_id), amount, "payment",
                                  merchant,
                                  wallet_view.balance_satang - amount, category, "qr",
                                  feed=spend_feed(wallet.phase_id, transfer_id))
        return self._post_wallet_debit(transfer, now, extra=[self._qr_marker(claims, transfer_id)])

    # -- a citizen pays with a wallet card and PIN ---------------------------

    def pay_by_card(self, *, merchant_id: str, transfer_id: str, fingerprint: str, card_code: str, pin: str,
                    amount_satang: int, category: str) -> PaymentResult:
        now = self._now()
        try:
            check_switch("payments")
            code = normalize_card_code(card_code)
            card = verify_pin(code, pin)
            account_id = accounts.wallet_account(card.wallet_id)
            views, balances = merchant_views([merchant_id], [account_id])
            merchant = self._merchant(views, merchant_id, own=True)
            check_switch("payments", district=merchant.district)
            wallet_view = _wallet_view(balances.get(account_id))
            check_round1(wallet=wallet_view, merchant=merchant, policy=self._policy(card.phase_id),
                         citizen_district=card.district, category=category, amount_satang=amount_satang,
                         now_iso=iso(now))
        except WalletError as exc:
            return self._replay_or_raise(transfer_id, fingerprint, exc)
        transfer = self._transfer(transfer_id, fingerprint, account_id,
                                  _credit(accounts.merchant_spendable, merchant, transfer_id), amount_satang,
                                  "card_payment", merchant, wallet_view.balance_satang - amount_satang, category,
                                  "card", feed=spend_feed(card.phase_id, transfer_id))
        return self._post_wallet_debit(transfer, now, extra=[])

    # -- round 2: a shop scans another shop's QR -----------------------------

    def pay_merchant(self, *, payer_id: str, transfer_id: str, fingerprint: str, qr: str, amount_satang: int | None,
                     category: str) -> PaymentResult:
        now = self._now()
        spendable, withdrawable = accounts.merchant_spendable(payer_id), accounts.merchant_withdrawable(payer_id)
        # The shards of the payer's balances that are read with the profiles:
        # as many as the cached profile says (1 for an ordinary shop: the two
        # items it always read); a sharded payer's others are read after.
        shards = known_shards(payer_id)
        last_error: WalletError | None = None
        for _ in range(ROUND2_ATTEMPTS_MAX):
            try:
                check_switch("payments")
                claims = self._claims(qr, now)
                amount = self._amount(claims, amount_satang)
                if claims.merchant_id == payer_id:
                    raise InvalidRequestError("qr", "A shop cannot pay itself; scan the other shop's QR code.")
                views, balances = merchant_views([payer_id, claims.merchant_id], _shop_accounts(payer_id, shards))
                payer = self._merchant(views, payer_id, own=True)
                payee = self._merchant(views, claims.merchant_id)
                # Paused in either shop's district: money neither leaves nor enters it.
                check_switch("payments", district=payer.district)
                check_switch("payments", district=payee.district)
                check_round2(payer=payer, payee=payee, category=category, restricted=DEFAULT_RESTRICTED_CATEGORIES)
                have = {a: int(m.balance_satang) for a, m in balances.items()}
                if payer.balance_shards > shards:
                    shards = payer.balance_shards
                    have = balances_of(payer_id, shards)
                spend_ids = shard_accounts(accounts.merchant_spendable, payer_id, shards)
                withdraw_ids = shard_accounts(accounts.merchant_withdrawable, payer_id, shards)
                from_spendable, from_withdrawable = split_round2(total_of(have, spend_ids),
                                                                 total_of(have, withdraw_ids), amount)
                legs = [*(plan_draw(have, spend_ids, from_spendable) or []),
                        *(plan_draw(have, withdraw_ids, from_withdrawable) or [])]
            except WalletError as exc:
                return self._replay_or_raise(transfer_id, fingerprint, exc)
            if len(legs) > legs_that_fit(self._ledger.item_limit):
                sweep(self._ledger, transfer_id, legs)  # then plan again, from fewer shards
                continue
            left = total_of(have, spend_ids) + total_of(have, withdraw_ids) - amount
            transfer = self._transfer(transfer_id, fingerprint, spendable,
                                      _credit(accounts.merchant_withdrawable, payee, transfer_id), amount,
                                      "merchant_payment", payee, left, category, "qr",
                                      payer_name=payer.name)
            marker = self._qr_marker(claims, transfer_id)
            # Spendable first: every other leg (the withdrawable, and a
            # sharded shop's other shards) moves into spendable's shard 0 in
            # the same transaction, each leg conditional on its own balance.
            linked = draw_transfers(transfer_id, legs, spendable, "merchant_funding",
                                    lambda account: "funding" if account == withdrawable
                                    else f"funding.{shard_suffix(account)}")
            try:
                posted = self._ledger.post_linked(transfer, linked, extra=[marker])
            except InsufficientFundsError as exc:
                last_error = RuleError("insufficient_funds", "Your shop's balances do not cover this amount.",
                                       {"amount_satang": amount})
                last_error.__cause__ = exc
                continue  # the balances moved since the read: split again
            except ConditionFailedError as exc:
                raise self._marker_error(exc) from exc
            return self._result(posted)
        if last_error is None:
            raise RuntimeError("round 2 payment made no attempt")
        return self._replay_or_raise(transfer_id, fingerprint, last_error)

    # -- building blocks -----------------------------------------------------

    @staticmethod
    def _claims(qr: str, now: datetime) -> QrClaims:
        return verify_qr(qr, keys=qr_verifying_keys(), now_s=int(now.timestamp()))

    @staticmethod
    def _amount(claims: QrClaims, amount_satang: int | None) -> int:
        """The QR's amount, or the request's when the QR has none. A request
        that disagrees with the QR's amount is a malformed request (400), not
        a rule: the client sent an amount the shop did not ask for."""
        if amount_satang is None:
            if claims.amount_satang is None:
                raise InvalidRequestError("amount_satang", "This QR carries no amount: send amount_satang.")
            return claims.amount_satang
        if claims.amount_satang is not None and amount_satang != claims.amount_satang:
            raise InvalidRequestError("amount_satang", "amount_satang must equal the QR's amount "
                                      f"({claims.amount_satang}), or be left out.",
                                      {"qr_amount_satang": claims.amount_satang})
        return amount_satang

    @staticmethod
    def _merchant(views: dict[str, MerchantView], merchant_id: str, own: bool = False) -> MerchantView:
        found = views.get(merchant_id)
        if found is None:
            if own:
                raise RuleError("merchant_not_eligible", "Register your shop first.", {"merchant_status": "none"})
            raise RuleError("merchant_not_eligible", "This shop cannot take wallet payments.",
                            {"merchant_status": "none"})
        return found

    def _policy(self, phase_id: str) -> SpendingPolicy:
        found = self._policies.get_or_load(phase_id, lambda: self._policy_of(phase_id))
        if found is None:
            raise ValueError(f"no spending policy for phase {phase_id}")
        return found

    @staticmethod
    def _qr_marker(claims: QrClaims, transfer_id: str) -> ExtraWrite:
        marker = QrNonceModel(claims.nonce, transfer_id=transfer_id, merchant_id=claims.merchant_id,
                              expires_ttl=datetime.fromtimestamp(claims.expires_at_s + QR_MARKER_KEEP_S,
                                                                  tz=UTC))
        return ExtraWrite(tag="qr", item=marker, condition=QrNonceModel.nonce.does_not_exist())

    @staticmethod
    def _transfer(transfer_id: str, fingerprint: str, debit: str, credit: str, amount: int, kind: str,
                  merchant: MerchantView, balance_after: int, category: str, channel: str,
                  payer_name: str | None = None, feed: str | None = None) -> Transfer:
        details: dict[str, Any] = {
            "payment_id": transfer_id,
            "status": "completed",
            "amount_satang": amount,
            "merchant_id": merchant.merchant_id,
            "merchant_name": merchant.name,
            "balance_satang": max(balance_after, 0),
            "category": category,
            "channel": channel,
        }
        if payer_name:
            details["payer_name"] = payer_name
        # A wallet's spending carries its phase's feed key: the phase's
        # spent_satang is counted off this path (progress.tally_spending).
        return Transfer(transfer_id, debit, credit, amount, kind, fingerprint=fingerprint, details=details, feed=feed)

    def _post_wallet_debit(self, transfer: Transfer, now: datetime, extra: list[ExtraWrite]) -> PaymentResult:
        now_iso = iso(now)
        active = (AccountModel.status == "active") & (AccountModel.expires_at > now_iso)
        try:
            posted = self._ledger.post(transfer, debit_condition=active, extra=extra)
        except InsufficientFundsError as exc:
            # An expired wallet has nothing left either: tell which it is.
            raise debit_failure(exc.item, transfer.amount_satang, now_iso) from exc
        except ConditionFailedError as exc:
            if exc.tag == "debit":
                raise debit_failure(exc.item, transfer.amount_satang, now_iso) from exc
            raise self._marker_error(exc) from exc
        return self._result(posted)

    @staticmethod
    def _marker_error(exc: ConditionFailedError) -> WalletError:
        if exc.tag == "qr":
            return RuleError("qr_already_used", "This QR code was already used for a payment; "
                             "ask the shop to show a new one.")
        return RuleError("wallet_not_active", "The payment could not be completed; try again.")

    @staticmethod
    def _result(posted: Posted) -> PaymentResult:
        return PaymentResult(_response(posted.record), replayed=not posted.created)

    def _replay_or_raise(self, transfer_id: str, fingerprint: str, error: WalletError) -> PaymentResult:
        """A check failed before the write: if this key already made a payment
        (a retry after the QR expired, or after the money was spent), return
        what it recorded; otherwise the check's error stands. Costs a read on
        failures only."""
        record = self._ledger.get_transfer(transfer_id)
        if record is None:
            raise error
        if record.fingerprint != fingerprint:
            raise TransferMismatchError(transfer_id, {}) from error
        return PaymentResult(_response(record), replayed=True)


def _shop_accounts(merchant_id: str, shards: int) -> list[str]:
    return (shard_accounts(accounts.merchant_spendable, merchant_id, shards)
            + shard_accounts(accounts.merchant_withdrawable, merchant_id, shards))


def _credit(account_of: Callable[[str, int], str], merchant: MerchantView, transfer_id: str) -> str:
    """The shard of the shop's balance this payment lands on: from the
    transfer id (a replay lands where the first did) and the shard count
    of the profile the payment read anyway (no extra read, no extra item)."""
    return account_of(merchant.merchant_id, accounts.merchant_shard_of(transfer_id, merchant.balance_shards))


def _response(record: TransferRecord) -> dict[str, Any]:
    body = {name: record.details.get(name) for name in RESPONSE_FIELDS}
    body["created_at"] = record.created_at
    return body
