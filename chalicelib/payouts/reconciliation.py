"""Reconciliation and net settlement (BANKS.md).

``reconcile(bank, day)`` reads the bank's camt.053 statement of a business
day from the statement bucket and matches its entries with the payouts
settled here for that bank and day (``settled-index``). Every break is
listed and raised as an alert, never fixed: ``missing_here`` (paid by the
bank, not settled here), ``missing_in_statement`` (settled here, not in the
statement), ``amount_differs``. The result is stored per bank and day and
read with ``get_reconciliation``; running it again recomputes it (a
statement that was corrected) and raises no alert twice.

``settlement(day)``: per bank, what was settled that business day: what the
treasury owes each bank.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from pynamodb.attributes import MapAttribute

from chalicelib import alerts, db, limits
from chalicelib.clock import iso, parse_iso, utcnow
from chalicelib.config import get_settings, runtime
from chalicelib.payouts.models import PayoutModel, ReconciliationModel
from chalicelib.payouts.rules import BANGKOK, BREAK_KINDS

__all__ = ["BREAK_KINDS", "statement_key", "reconcile", "get_reconciliation",
           "settlement", "run_schedule"]

# A bank whose statement is not in yet is looked for again after this long
# (the schedule fires every few seconds locally).
NO_STATEMENT_RETRY = timedelta(minutes=15)
logger = Logger(service="payouts")


def statement_key(bank_code: str, business_date: str) -> str:
    return f"statements/{bank_code}/{business_date}.json"


def _s3() -> Any:
    """The runtime's S3 client (built once per container)."""
    settings = get_settings()
    return runtime().component("s3", lambda: boto3.client("s3", endpoint_url=settings.s3_endpoint,
                                                         region_name=settings.region))


def _statement(bank_code: str, business_date: str) -> dict[str, Any] | None:
    settings = get_settings()
    client = _s3()
    try:
        raw = client.get_object(Bucket=settings.statement_bucket, Key=statement_key(bank_code, business_date))
    except client.exceptions.NoSuchKey:
        return None
    return json.loads(raw["Body"].read())  # type: ignore[no-any-return]


def _entries(bank_code: str, business_date: str, statement: Any) -> dict[str, int]:
    """end_to_end_id -> amount of a statement; ValueError if it is not a camt.053 of that bank and day."""
    if not isinstance(statement, dict) or statement.get("message_type") != "camt.053":
        raise ValueError("not a camt.053 statement")
    if statement.get("bank_code") != bank_code or statement.get("business_date") != business_date:
        raise ValueError("the statement is of another bank or day")
    entries = statement.get("entries")
    if not isinstance(entries, list):
        raise ValueError("entries is not a list")
    out: dict[str, int] = {}
    for entry in entries:
        e2e, amount = (entry or {}).get("end_to_end_id"), (entry or {}).get("amount_satang")
        if not isinstance(e2e, str) or isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError("an entry lacks end_to_end_id or an integer amount_satang")
        out[e2e] = out.get(e2e, 0) + amount
    return out


def _ours(bank_code: str, business_date: str) -> dict[str, int]:
    return {item.payout_id: int(item.amount_satang)
            for item in PayoutModel.settled_index.query(f"{bank_code}#{business_date}")}


def _breaks(ours: dict[str, int], theirs: dict[str, int]) -> tuple[int, list[dict[str, Any]]]:
    found: list[dict[str, Any]] = []
    matched = 0
    for e2e in sorted(ours.keys() | theirs.keys()):
        if e2e not in ours:
            found.append({"end_to_end_id": e2e, "kind": "missing_here", "bank_satang": theirs[e2e]})
        elif e2e not in theirs:
            found.append({"end_to_end_id": e2e, "kind": "missing_in_statement", "ours_satang": ours[e2e]})
        elif ours[e2e] != theirs[e2e]:
            found.append({"end_to_end_id": e2e, "kind": "amount_differs", "ours_satang": ours[e2e],
                          "bank_satang": theirs[e2e]})
        else:
            matched += 1
    return matched, found


def _plain_break(found: Any) -> dict[str, Any]:
    """A stored break as plain values (PynamoDB gives a MapAttribute once read back)."""
    raw = found.as_dict() if isinstance(found, MapAttribute) else dict(found)  # type: ignore[no-untyped-call]  # PynamoDB
    return dict(db.plain(raw))


def _body(item: ReconciliationModel) -> dict[str, Any]:
    return {"bank_code": item.bank_code, "business_date": item.business_date, "status": item.status,
            "matched_count": int(item.matched_count),
            "breaks": [_plain_break(b) for b in item.breaks],
            "reconciled_at": item.reconciled_at}


def reconcile(bank_code: str, business_date: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    statement = _statement(bank_code, business_date)
    if statement is None:
        item = ReconciliationModel(f"{bank_code}#{business_date}", bank_code=bank_code, business_date=business_date,
                                   status="no_statement", matched_count=0, breaks=[], reconciled_at=iso(now))
        item.save()
        return _body(item)
    try:
        theirs = _entries(bank_code, business_date, statement)
    except ValueError as exc:
        alerts.raise_alert("unparseable_message", f"statement:{bank_code}:{business_date}:{exc}", {
            "statement": statement_key(bank_code, business_date), "error": str(exc)})
        item = ReconciliationModel(f"{bank_code}#{business_date}", bank_code=bank_code, business_date=business_date,
                                   status="no_statement", matched_count=0, breaks=[], reconciled_at=iso(now))
        item.save()
        return _body(item)
    matched, found = _breaks(_ours(bank_code, business_date), theirs)
    for each in found:
        key = f"{bank_code}:{business_date}:{each['end_to_end_id']}:{each['kind']}"
        alerts.raise_alert("reconciliation_break", key,
                           {"bank_code": bank_code, "business_date": business_date, **each})
    item = ReconciliationModel(f"{bank_code}#{business_date}", bank_code=bank_code, business_date=business_date,
                               status="breaks" if found else "matched", matched_count=matched, breaks=found,
                               reconciled_at=iso(now))
    item.save()
    logger.info("reconciled", extra={"bank_code": bank_code, "business_date": business_date,
                                     "matched": matched, "breaks": len(found)})
    return _body(item)


def get_reconciliation(bank_code: str, business_date: str) -> dict[str, Any]:
    try:
        return _body(ReconciliationModel.get(f"{bank_code}#{business_date}", consistent_read=True))
    except ReconciliationModel.DoesNotExist:
        return {"bank_code": bank_code, "business_date": business_date, "status": "pending", "matched_count": 0,
                "breaks": []}


def settlement(business_date: str, banks: Iterable[str] = limits.BANK_CODES) -> dict[str, Any]:
    rows = []
    for bank_code in sorted(banks):
        amounts = list(_ours(bank_code, business_date).values())
        if amounts:
            rows.append({"bank_code": bank_code, "settled_count": len(amounts), "settled_satang": sum(amounts)})
    return {"business_date": business_date, "banks": rows, "total_satang": sum(r["settled_satang"] for r in rows)}


def run_schedule(now: datetime | None = None, banks: Iterable[str] = limits.BANK_CODES) -> dict[str, str]:
    """Reconcile yesterday (Bangkok) for every bank not yet reconciled;
    a bank without a statement yet is tried again next time."""
    now = now or utcnow()
    day = (now.astimezone(BANGKOK) - timedelta(days=1)).strftime("%Y-%m-%d")
    done: dict[str, str] = {}
    for bank_code in sorted(banks):
        last = get_reconciliation(bank_code, day)
        if last["status"] in ("matched", "breaks"):
            continue
        if last["status"] == "no_statement" and now - parse_iso(last["reconciled_at"]) < NO_STATEMENT_RETRY:
            continue
        done[bank_code] = reconcile(bank_code, day, now)["status"]
    return done
