"""Use cases of merchants: register, profile, transaction list, reference
data and review by an operator."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib import db, pii
from chalicelib.alerts import raise_alert
from chalicelib.cache import TtlCache
from chalicelib.clock import iso_now
from chalicelib.config import runtime
from chalicelib.errors import AlreadyExistsError, ConflictError, NotFoundError
from chalicelib.ledger import AccountModel, Ledger, accounts
from chalicelib.merchants.models import MerchantModel, MerchantReferenceModel, MerchantTaxModel
from chalicelib.merchants.rules import MerchantView, may_cash_out
from chalicelib.merchants.shards import SWEEP_KIND, shard_accounts, shard_count, total_of
from chalicelib.merchants.validation import ReferenceEntry, RegistrationRequest, mcc_of
from chalicelib.transactions import transactions_page

__all__ = [
    "PROFILE_CACHE_TTL_S",
    "merchant_id_of",
    "register_merchant",
    "get_merchant",
    "merchant_of_owner",
    "merchant_views",
    "known_shards",
    "balances_of",
    "profile_body",
    "transactions_body",
    "upsert_reference",
    "review_merchant",
]

# A shop's profile changes rarely (a review); payments may use a copy this
# old, so that a busy shop's profile is not read on every sale.
PROFILE_CACHE_TTL_S = 5.0
PROFILE_CACHE_ENTRIES_MAX = 10_000
MERCHANT_ID_HASH_CHARS = 24
# Internal move of a shop's own money between its balances (round 2 funding):
# not shown in its transaction list.
INTERNAL_KINDS = frozenset({"merchant_funding", SWEEP_KIND})

# decision -> (statuses it may be taken from, status it leads to)
_REVIEW = {
    "approve": (("pending_review", "suspended"), "active"),
    "reject": (("pending_review",), "rejected"),
    "suspend": (("active", "pending_review"), "suspended"),
}


def merchant_id_of(owner_cid: str) -> str:
    """The shop of an owner (one per owner): opaque, derived from the keyed hash."""
    return "m_" + pii.hash_id(owner_cid, purpose="merchant_owner")[:MERCHANT_ID_HASH_CHARS]


def _reference(tax_hash: str) -> MerchantReferenceModel | None:
    try:
        return MerchantReferenceModel.get(tax_hash)
    except MerchantReferenceModel.DoesNotExist:
        return None


def _tax_alert(kind: str, merchant_id: str, **facts: Any) -> None:
    """A shop that names a tax ID of another owner: an alert (listed, and in
    the operators' audit chain; no tax ID, no national ID: the shop's id)."""
    raise_alert(kind, merchant_id, {"merchant_id": merchant_id, **facts})


def _claim_holder(tax_hash: str) -> MerchantTaxModel | None:
    try:
        return MerchantTaxModel.get(tax_hash, consistent_read=True)
    except MerchantTaxModel.DoesNotExist:
        return None


def register_merchant(owner_cid: str, request: RegistrationRequest) -> dict[str, Any]:
    """Register the owner's shop. Active at once when the tax ID is in the
    reference data, and, when the reference names its owner (``owner_cid``),
    only for that owner: anyone else's shop waits for review, does not hold
    the tax ID, and is an alert; the owner's own registration takes the tax
    ID back from such a shop, which is rejected in the same transaction."""
    merchant_id = merchant_id_of(owner_cid)
    owner_hash = pii.hash_id(owner_cid)
    tax_hash = pii.hash_id(request.tax_id, purpose="tax")
    reference = _reference(tax_hash)
    named_owner = reference.owner_hash if reference is not None else None
    squatting = named_owner is not None and named_owner != owner_hash
    vouched = reference is not None and not squatting
    now = iso_now()
    merchant = MerchantModel(
        merchant_id,
        owner_hash=owner_hash,
        tax_hash=tax_hash,
        name=request.name,
        business_type=request.business_type,
        mcc=mcc_of(request.business_type),
        # The operator's reference data outranks what the shop declares.
        size_class=reference.size_class if vouched and reference else request.size_class,
        district=request.district,
        lat=request.lat,
        lon=request.lon,
        bank_code=request.bank_code,
        account_no_enc=pii.encrypt(request.account_no, context=f"merchant:{merchant_id}"),
        status="active" if vouched else "pending_review",
        tax_compliant=bool(vouched and reference and reference.tax_compliant),
        balance_shards=reference.balance_shards if vouched and reference and reference.balance_shards else None,
        created_at=now,
    )
    tx = db.Transaction("register_merchant")
    tx.put_model("merchant", merchant, MerchantModel.merchant_id.does_not_exist())
    rejected = None
    if not squatting:
        rejected = _claim_tax(tx, tax_hash, merchant_id, now, owner_named=named_owner is not None)
    try:
        tx.commit()
    except db.ConditionsFailedError as exc:
        if "merchant" in exc:
            raise AlreadyExistsError("This owner already has a shop.", {"field": "owner"}) from exc
        raise AlreadyExistsError("A shop with this tax_id is already registered.", {"field": "tax_id"}) from exc
    if squatting:
        _tax_alert("tax_id_of_another_owner", merchant_id)
    if rejected is not None:
        _profiles().discard(rejected)
    return {"merchant_id": merchant_id, "status": merchant.status}


def _claim_tax(tx: db.Transaction, tax_hash: str, merchant_id: str, now: str, owner_named: bool) -> str | None:
    """The tax ID's claim for this shop. The owner named by the reference
    takes it from a shop of someone else that holds it (registered before
    the reference named the owner), and that shop is rejected: its id."""
    claim = MerchantTaxModel(tax_hash, merchant_id=merchant_id, created_at=now)
    holder = _claim_holder(tax_hash) if owner_named else None
    if holder is None or holder.merchant_id == merchant_id:
        tx.put_model("tax_claim", claim, MerchantTaxModel.tax_hash.does_not_exist())
        return None
    tx.put_model("tax_claim", claim, MerchantTaxModel.merchant_id == holder.merchant_id)
    tx.update_model("squatter", MerchantModel(holder.merchant_id), [
        MerchantModel.status.set("rejected"), MerchantModel.tax_compliant.set(False),
        MerchantModel.review_reason.set("the tax ID belongs to another owner on the Revenue Department's record"),
        MerchantModel.updated_at.set(now)], MerchantModel.merchant_id.exists())
    return str(holder.merchant_id)


def get_merchant(merchant_id: str) -> MerchantModel:
    try:
        return MerchantModel.get(merchant_id, consistent_read=True)
    except MerchantModel.DoesNotExist as exc:
        raise NotFoundError("No shop is registered for this account; register it with POST /v1/merchants.") from exc


def merchant_of_owner(owner_cid: str) -> MerchantModel:
    return get_merchant(merchant_id_of(owner_cid))


def _view(model: MerchantModel) -> MerchantView:
    return MerchantView(model.merchant_id, model.name, model.status, model.size_class, model.district,
                        shard_count(model.balance_shards))


def _profiles() -> TtlCache[MerchantView]:
    return runtime().cache("merchant-profiles", PROFILE_CACHE_TTL_S, PROFILE_CACHE_ENTRIES_MAX)


def merchant_views(merchant_ids: Iterable[str], accounts_to_read: Iterable[str] = ()
                   ) -> tuple[dict[str, MerchantView], dict[str, AccountModel]]:
    """Profiles (cached for a few seconds) and balance items (never cached),
    in one BatchGetItem per table at most: the reads a payment makes."""
    views: dict[str, MerchantView] = {}
    missing = []
    for merchant_id in dict.fromkeys(merchant_ids):
        cached = _profiles().get(merchant_id)
        if cached is None:
            missing.append(merchant_id)
        else:
            views[merchant_id] = cached
    wanted = list(dict.fromkeys(accounts_to_read))
    found = _batch_get({MerchantModel: missing, AccountModel: wanted}, consistent=True)
    for merchant in cast("list[MerchantModel]", found.get(MerchantModel, [])):
        view = _view(merchant)
        _profiles().put(view.merchant_id, view)
        views[view.merchant_id] = view
    balances = {a.account_id: a for a in cast("list[AccountModel]", found.get(AccountModel, []))}
    return views, balances


def known_shards(merchant_id: str) -> int:
    """The shop's shard count as the profile cache has it (1 when not
    cached): how many of its balance items a payment reads with the profile."""
    cached = _profiles().get(merchant_id)
    return cached.balance_shards if cached is not None else 1


def balances_of(merchant_id: str, shards: int) -> dict[str, int]:
    """Every shard of both of the shop's balances, in one consistent
    BatchGetItem (account id -> satang; an item never written is absent)."""
    wanted = (shard_accounts(accounts.merchant_spendable, merchant_id, shards)
              + shard_accounts(accounts.merchant_withdrawable, merchant_id, shards))
    found = _batch_get({AccountModel: wanted}, consistent=True)
    return {a.account_id: int(a.balance_satang) for a in cast("list[AccountModel]", found.get(AccountModel, []))}


def _batch_get(keys: dict[type[Model], list[str]], consistent: bool) -> dict[type[Model], list[Model]]:
    """Items of several tables (hash keys only) in one BatchGetItem request,
    and more only for keys DynamoDB left unprocessed."""
    request: dict[str, Any] = {}
    by_table: dict[str, type[Model]] = {}
    for model, hash_keys in keys.items():
        if not hash_keys:
            continue
        table = db.table_name(model)
        by_table[table] = model
        key_name = model._hash_key_attribute().attr_name  # type: ignore[no-untyped-call]  # PynamoDB
        request[table] = {"Keys": [{key_name: {"S": k}} for k in hash_keys], "ConsistentRead": consistent}
    out: dict[type[Model], list[Model]] = {}
    # Throttling and faults are botocore's to retry (db's policy); keys left
    # unprocessed are asked for again within the same budget.
    budget = db.RetryBudget("batch_get")
    while request:
        answer = db.dynamodb_client().batch_get_item(RequestItems=request)
        for table, items in answer.get("Responses", {}).items():
            out.setdefault(by_table[table], []).extend(by_table[table].from_raw_data(i) for i in items)
        request = answer.get("UnprocessedKeys") or {}
        if request:
            budget.wait()
    return out


def profile_body(merchant: MerchantModel) -> dict[str, Any]:
    shards = shard_count(merchant.balance_shards)
    found = balances_of(merchant.merchant_id, shards)
    return {
        "merchant_id": merchant.merchant_id,
        "name": merchant.name,
        "status": merchant.status,
        "district": merchant.district,
        "size_class": merchant.size_class,
        # The sum of the shards, read together (one consistent BatchGetItem).
        "spendable_satang": total_of(found, shard_accounts(accounts.merchant_spendable, merchant.merchant_id, shards)),
        "withdrawable_satang": total_of(found, shard_accounts(accounts.merchant_withdrawable, merchant.merchant_id,
                                                              shards)),
        "cash_out_eligible": may_cash_out(merchant.status, bool(merchant.tax_compliant)),
    }


def transactions_body(merchant_id: str, limit: int, cursor: str | None, ledger: Ledger | None = None
                      ) -> dict[str, Any]:
    """The shop's transfers, newest first, in the wallet list's shape."""
    return transactions_page(f"merchant:{merchant_id}", limit, cursor, ledger, hidden_kinds=INTERNAL_KINDS)


def upsert_reference(entries: list[ReferenceEntry]) -> dict[str, int]:
    """Save the operator's reference data; shops already registered with
    these tax IDs take the size class and tax compliance, and a shop still
    pending review becomes active (the reference data vouches for it)."""
    now = iso_now()
    by_hash = {pii.hash_id(e.tax_id, purpose="tax"): e for e in entries}
    owners = {tax_hash: pii.hash_id(e.owner_cid) if e.owner_cid else None for tax_hash, e in by_hash.items()}
    with MerchantReferenceModel.batch_write() as batch:
        for tax_hash, entry in by_hash.items():
            batch.save(MerchantReferenceModel(tax_hash, size_class=entry.size_class,
                                              tax_compliant=entry.tax_compliant, owner_hash=owners[tax_hash],
                                              balance_shards=entry.balance_shards, updated_at=now))
    for claim in MerchantTaxModel.batch_get(list(by_hash)):
        entry = by_hash[claim.tax_hash]
        owner_hash = owners[claim.tax_hash]
        if owner_hash is not None and get_merchant(claim.merchant_id).owner_hash != owner_hash:
            _hold_for_review(claim.merchant_id, now)
            continue
        _apply_reference(claim.merchant_id, entry, now)
    return {"upserted": len(by_hash)}


def _hold_for_review(merchant_id: str, now: str) -> None:
    """A shop holding a tax ID whose reference names another owner: it
    is not vouched for (pending review, not tax compliant) and an alert."""
    try:
        MerchantModel(merchant_id).update(actions=[
            MerchantModel.status.set("pending_review"), MerchantModel.tax_compliant.set(False),
            MerchantModel.updated_at.set(now)], condition=MerchantModel.status.is_in("active", "pending_review"))
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
    _profiles().discard(merchant_id)
    _tax_alert("tax_id_of_another_owner", merchant_id)


def _apply_reference(merchant_id: str, entry: ReferenceEntry, now: str) -> None:
    merchant = MerchantModel(merchant_id)
    actions: list[Action] = [MerchantModel.size_class.set(entry.size_class),
                             MerchantModel.tax_compliant.set(entry.tax_compliant), MerchantModel.updated_at.set(now)]
    try:
        merchant.update(actions=[*actions, MerchantModel.status.set("active")],
                        condition=MerchantModel.status == "pending_review")
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        merchant.update(actions=actions, condition=MerchantModel.merchant_id.exists())
    if entry.balance_shards:
        _raise_shards(merchant_id, entry.balance_shards)
    _profiles().discard(merchant_id)


def _raise_shards(merchant_id: str, shards: int) -> None:
    """Raise the shop's balance shards to ``shards``; never lower them: the
    shards beyond a lower count may hold money, and reads and debits take
    shards 0 to count - 1, so a count only grows (a lower one is ignored)."""
    try:
        MerchantModel(merchant_id).update(
            actions=[MerchantModel.balance_shards.set(shards)],
            condition=MerchantModel.merchant_id.exists() & (MerchantModel.balance_shards.does_not_exist()
                                                            | (MerchantModel.balance_shards < shards)))
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise


def review_merchant(merchant_id: str, decision: str, reason: str, operator: str) -> dict[str, Any]:
    allowed_from, to = _REVIEW[decision]
    merchant = MerchantModel(merchant_id)
    try:
        merchant.update(
            actions=[MerchantModel.status.set(to), MerchantModel.review_reason.set(reason),
                     MerchantModel.reviewed_by.set(operator), MerchantModel.updated_at.set(iso_now())],
            condition=MerchantModel.merchant_id.exists() & MerchantModel.status.is_in(*allowed_from),
        )
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        current = get_merchant(merchant_id)  # 404 if there is no such shop
        if current.status == to:
            return {"merchant_id": merchant_id, "status": to}  # the same decision again: done already
        raise ConflictError("invalid_transition",
                            f"A shop that is {current.status} cannot be given '{decision}'.",
                            {"status": current.status, "decision": decision}) from exc
    _profiles().discard(merchant_id)
    return {"merchant_id": merchant_id, "status": to}

