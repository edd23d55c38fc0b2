"""The local bank simulator (BANKS.md): one simulated bank per configured
bank code, inside the local stack.

Each bank reads its own instruction queue (bulk pacs.008) and answers on the
shared status queue (pacs.002), with a behaviour set per bank and changed
while the stack runs (``python -m devstack bank set``): a share of
rejections and their reason codes (an account number ending in ``000`` is
always ``AC01``), a delay, a share of duplicated answers, out-of-order
answers and outage windows in which it answers nothing (its instructions
wait in its queue). It pays each ``end_to_end_id`` once, however often the
instruction comes: a repeated instruction gets the first answer again.

What a bank paid is its book, one JSON line per transaction in
``.devstack/banks-<stage>/<bank>.jsonl``, so that the daily camt.053
statement (``statements/<bank>/<date>.json`` in the statement bucket) can be
written by the simulator at the end of each business day and by
``python -m devstack bank statement`` on demand, optionally with one break
of a named kind for reconciliation to find.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from chalicelib.clock import iso, utcnow
from chalicelib.payouts.rules import BANGKOK, REASON_CODES, TRANSACTIONS_PER_MESSAGE_MAX
from devstack.paths import state_dir

__all__ = ["SIMULATED_BANKS", "BREAK_KINDS", "Behaviour", "BankBook", "BankSimulator", "behaviour_path",
           "book_dir", "read_behaviours", "write_behaviour", "statement_body", "write_statement"]

# Banks the local stack simulates (BANKS.md: at least these).
SIMULATED_BANKS = ("002", "004", "006", "011", "014", "025")
BREAK_KINDS = ("missing_here", "missing_in_statement", "amount_differs")
# The reasons a random rejection draws from (AC01 is for accounts ending in 000).
RANDOM_REASONS = tuple(r for r in REASON_CODES if r != "AC01")
ALWAYS_REJECTED_SUFFIX = "000"
POLL_WAIT_S = 1
log = logging.getLogger("devstack.banksim")


@dataclass(frozen=True)
class Behaviour:
    reject_share: float = 0.0
    delay_s: float = 0.0
    duplicate_share: float = 0.0
    reorder: bool = False
    outage_until: float = 0.0  # epoch seconds; answers nothing before

    def in_outage(self, now_s: float) -> bool:
        return now_s < self.outage_until


def behaviour_path(stage: str) -> Path:
    return state_dir() / f"banks-{stage}.json"


def book_dir(stage: str) -> Path:
    return state_dir() / f"banks-{stage}"


def read_behaviours(stage: str, banks: Iterable[str] = SIMULATED_BANKS) -> dict[str, Behaviour]:
    try:
        raw = json.loads(behaviour_path(stage).read_text())
    except (FileNotFoundError, ValueError):
        raw = {}
    return {bank: Behaviour(**raw.get(bank, {})) for bank in banks}


def write_behaviour(stage: str, bank: str, **changes: Any) -> Behaviour:
    """Change one bank's behaviour from now on (the running simulator reads the file)."""
    path = behaviour_path(stage)
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        raw = {}
    updated = replace(Behaviour(**raw.get(bank, {})), **changes)
    raw[bank] = asdict(updated)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return updated


class BankBook:
    """What one simulated bank answered, per end_to_end_id, kept on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.entries.setdefault(entry["end_to_end_id"], entry)

    def answer(self, e2e: str, decide: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(the answer, new?): the first answer for an id stands for ever."""
        with self._lock:
            found = self.entries.get(e2e)
            if found is not None:
                return found, False
            entry = {"end_to_end_id": e2e, **decide()}
            self.entries[e2e] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as out:
                out.write(json.dumps(entry, sort_keys=True) + "\n")
            return entry, True

    def paid_on(self, business_date: str) -> list[dict[str, Any]]:
        return sorted((e for e in self.entries.values()
                       if e["status"] == "ACSC" and _business_date(e["booked_at"]) == business_date),
                      key=lambda e: e["booked_at"])


def _business_date(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.astimezone(BANGKOK).strftime("%Y-%m-%d")


def statement_body(bank: str, business_date: str, paid: list[dict[str, Any]],
                   break_kind: str | None = None) -> dict[str, Any]:
    """The camt.053 of a day, with one break of ``break_kind`` if asked."""
    entries = [{"end_to_end_id": e["end_to_end_id"], "amount_satang": e["amount_satang"],
                "booked_at": e["booked_at"]} for e in paid]
    if break_kind == "missing_here":
        entries.append({"end_to_end_id": f"wd_{uuid.uuid4().hex}", "amount_satang": 12_345,
                        "booked_at": f"{business_date}T03:00:00.000000Z"})
    elif break_kind in ("missing_in_statement", "amount_differs"):
        if not entries:
            raise ValueError(f"bank {bank} paid nothing on {business_date}: no entry to break")
        if break_kind == "missing_in_statement":
            entries.pop()
        else:
            entries[-1] = {**entries[-1], "amount_satang": entries[-1]["amount_satang"] + 100}
    elif break_kind is not None:
        raise ValueError(f"break must be one of {', '.join(BREAK_KINDS)}")
    return {"message_type": "camt.053", "bank_code": bank, "business_date": business_date, "entries": entries}


def write_statement(s3: Any, bucket: str, body: dict[str, Any]) -> str:
    key = f"statements/{body['bank_code']}/{body['business_date']}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, sort_keys=True).encode(),
                  ContentType="application/json")
    return key


@dataclass
class _Outbox:
    """Statuses waiting for their time (a bank's delay)."""

    due: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class BankSimulator:
    """One thread per bank; ``stop()`` ends them."""

    def __init__(self, stage: str, sqs_endpoint: str | None, s3_endpoint: str | None, region: str,
                 queue_name: Callable[[str], str], bucket: str, banks: Iterable[str] = SIMULATED_BANKS,
                 seed: int | None = None, now: Callable[[], datetime] = utcnow) -> None:
        self.stage = stage
        self.banks = tuple(banks)
        self.bucket = bucket
        self.now = now
        self._queue_name = queue_name
        self._sqs = boto3.client("sqs", endpoint_url=sqs_endpoint, region_name=region)
        self._s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=region)
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self.books = {bank: BankBook(book_dir(stage) / f"{bank}.jsonl") for bank in self.banks}
        self._outboxes = {bank: _Outbox() for bank in self.banks}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._behaviours = read_behaviours(stage, self.banks)
        self._behaviour_mtime = 0.0
        self._statement_day = self._today()
        self.stats = {"instructions": 0, "transactions": 0, "statuses_sent": 0}

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> BankSimulator:
        status_url = self._sqs.get_queue_url(QueueName=self._queue_name("bank-status"))["QueueUrl"]
        for bank in self.banks:
            url = self._sqs.get_queue_url(QueueName=self._queue_name(f"bank-{bank}-instructions"))["QueueUrl"]
            self._spawn(f"bank-{bank}", self._loop, bank, url, status_url)
        self._spawn("bank-statements", self._statement_loop)
        log.info("bank simulator: banks %s", ", ".join(self.banks))
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"sim-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- behaviour -----------------------------------------------------------------

    def behaviour(self, bank: str) -> Behaviour:
        path = behaviour_path(self.stage)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if mtime != self._behaviour_mtime:
            self._behaviour_mtime = mtime
            self._behaviours = read_behaviours(self.stage, self.banks)
        return self._behaviours[bank]

    def _chance(self, share: float) -> bool:
        with self._random_lock:
            return share > 0 and self._random.random() < share

    def _reason(self) -> str:
        with self._random_lock:
            return self._random.choice(RANDOM_REASONS)

    # -- one bank ------------------------------------------------------------------

    def _loop(self, bank: str, url: str, status_url: str) -> None:
        while not self._stop.is_set():
            try:
                self._flush(bank, status_url)
                if self.behaviour(bank).in_outage(time.time()):
                    self._stop.wait(POLL_WAIT_S)  # down: instructions wait in the queue
                    continue
                got = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=POLL_WAIT_S)
                for message in got.get("Messages", []):
                    self.take(bank, message["Body"])
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                self._flush(bank, status_url)
            except Exception:
                log.exception("bank %s: poll failed; retrying", bank)
                self._stop.wait(POLL_WAIT_S)

    def _decide(self, bank: str, tx: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
        creditor = tx.get("creditor") or {}
        account = str(creditor.get("account_no") or creditor.get("promptpay_id") or "")
        if account.endswith(ALWAYS_REJECTED_SUFFIX):
            return {"status": "RJCT", "reason_code": "AC01", "amount_satang": tx["amount_satang"]}
        if self._chance(behaviour.reject_share):
            return {"status": "RJCT", "reason_code": self._reason(), "amount_satang": tx["amount_satang"]}
        return {"status": "ACSC", "reason_code": None, "amount_satang": tx["amount_satang"],
                "booked_at": iso(self.now())}

    def take(self, bank: str, body: str) -> int:
        """One instruction message: answer each transaction (once per id)."""
        message = json.loads(body)
        behaviour = self.behaviour(bank)
        answers = []
        for tx in message.get("transactions", []):
            entry, _new = self.books[bank].answer(
                tx["end_to_end_id"], lambda tx=tx: self._decide(bank, tx, behaviour))  # type: ignore[misc]
            answers.append({"original_end_to_end_id": entry["end_to_end_id"], "status": entry["status"],
                            "reason_code": entry.get("reason_code"), "settled_at": entry.get("booked_at")})
        answers += [a for a in answers if self._chance(behaviour.duplicate_share)]
        if behaviour.reorder:
            with self._random_lock:
                self._random.shuffle(answers)
        due = time.time() + behaviour.delay_s
        with self._outboxes[bank].lock:
            self._outboxes[bank].due.extend((due, a) for a in answers)
        self.stats["instructions"] += 1
        self.stats["transactions"] += len(message.get("transactions", []))
        return len(answers)

    def _flush(self, bank: str, status_url: str) -> None:
        outbox = self._outboxes[bank]
        now_s = time.time()
        with outbox.lock:
            ready = [a for t, a in outbox.due if t <= now_s]
            outbox.due = [(t, a) for t, a in outbox.due if t > now_s]
        if not ready:
            return
        behaviour = self.behaviour(bank)
        # Out of order: the answers go in two messages, the later half first.
        chunks = [ready[i:i + TRANSACTIONS_PER_MESSAGE_MAX] for i in range(0, len(ready), TRANSACTIONS_PER_MESSAGE_MAX)]
        if behaviour.reorder and len(ready) > 1:
            half = len(ready) // 2
            chunks = [ready[half:], ready[:half]]
        for chunk in chunks:
            body = {"message_type": "pacs.002", "msg_id": f"{bank}-{uuid.uuid4().hex}", "bank_code": bank,
                    "statuses": chunk}
            self._sqs.send_message(QueueUrl=status_url, MessageBody=json.dumps(body))
            self.stats["statuses_sent"] += len(chunk)

    # -- statements ----------------------------------------------------------------

    def _today(self) -> str:
        return self.now().astimezone(BANGKOK).strftime("%Y-%m-%d")

    def _statement_loop(self) -> None:
        """At each new business day, every bank's statement of the day before."""
        while not self._stop.wait(POLL_WAIT_S * 5):
            today = self._today()
            if today == self._statement_day:
                continue
            finished, self._statement_day = self._statement_day, today
            for bank in self.banks:
                try:
                    self.statement(bank, finished)
                except Exception:
                    log.exception("bank %s: statement of %s failed", bank, finished)

    def statement(self, bank: str, business_date: str, break_kind: str | None = None) -> str:
        body = statement_body(bank, business_date, self.books[bank].paid_on(business_date), break_kind)
        return write_statement(self._s3, self.bucket, body)

