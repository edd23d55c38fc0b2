"""Two-phase transfers: hold, then settle (post) or void, once.

``hold`` moves the money to a holding account (e.g. in flight at a bank) in a
record that is ``pending`` and knows where it goes (``post_to``). Resolving
it is one transaction: the move out of the holding account (transfer
``<id>.post`` to ``post_to``, or ``<id>.void`` back to where it came from)
and the mark ``pending -> posted | voided`` on condition that it is still
pending, so of two racing resolutions exactly one moves money.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.ledger import accounts, reads
from chalicelib.ledger.exceptions import PendingStateError
from chalicelib.ledger.posting import Context, Resolution, net_changes, post_once, transfer_changes
from chalicelib.ledger.records import PENDING, POSTED, VOIDED, ExtraWrite, Posted, Transfer, TransferRecord

__all__ = ["hold", "resolve", "OUTCOMES"]

OUTCOMES = {POSTED: "post", VOIDED: "void"}


def hold(ctx: Context, transfer: Transfer, post_to: str, extra: Sequence[ExtraWrite] = (),
         linked: Sequence[Transfer] = ()) -> Posted:
    """``linked`` transfers (e.g. a shop's other balance shards into the
    one the hold draws on) go in the same transaction, each with its own
    record, the accounts with their net change (as ``post_linked``)."""
    transfer.check()
    for each in linked:
        each.check()
    accounts.kind_of(post_to)
    now = ctx.clock()
    record = TransferRecord.of(transfer, transfer.debit_account, now, state=PENDING, post_to=post_to)
    records = [record, *(TransferRecord.of(each, each.debit_account, now) for each in linked)]
    changes = net_changes([transfer, *linked]) if linked else transfer_changes(transfer)
    return post_once(ctx, "hold", records, changes, expected=transfer, extra=extra)


def _move(pending: TransferRecord, outcome: str, details: Mapping[str, Any] | None) -> Transfer:
    return Transfer(
        transfer_id=f"{pending.transfer_id}.{OUTCOMES[outcome]}",
        debit_account=pending.credit_account,
        credit_account=pending.post_to if outcome == POSTED and pending.post_to else pending.debit_account,
        amount_satang=pending.amount_satang,
        kind=f"{pending.kind}_{outcome}",
        details=details,
    )


def _done_already(move: Transfer) -> Posted | None:
    existing = reads.get_transfer(move.transfer_id)
    return Posted(existing, created=False) if existing is not None else None


def resolve(ctx: Context, transfer_id: str, outcome: str, details: Mapping[str, Any] | None,
            extra: Sequence[ExtraWrite] = ()) -> Posted:
    """Settle (``outcome`` posted) or void a pending transfer, once; again
    the same way returns the first resolution (``extra`` is not written
    again), the other way PendingStateError. ``extra`` items (e.g. the
    payout record's new status) are written in the resolving transaction."""
    if outcome not in OUTCOMES:
        raise ValueError(f"a pending transfer is resolved {' or '.join(OUTCOMES)}, not {outcome}")
    pending = reads.get_transfer(transfer_id)
    if pending is None or pending.post_to is None:
        raise PendingStateError(transfer_id, None)
    move = _move(pending, outcome, details)
    if pending.state == outcome and (done := _done_already(move)) is not None:
        return done
    if pending.state != PENDING:
        raise PendingStateError(transfer_id, pending.state)
    move.check()
    record = TransferRecord.of(move, move.debit_account, ctx.clock())
    changes = transfer_changes(move)
    try:
        return post_once(ctx, f"resolve_{outcome}", [record], changes, expected=move,
                         resolves=Resolution(transfer_id, outcome), extra=extra)
    except PendingStateError as exc:
        # Another worker resolved it between our read and our write.
        if exc.state == outcome and (done := _done_already(move)) is not None:
            return done
        raise
