"""``python -m devstack bank show|set|statement`` and ``python -m devstack
dlq [--redrive QUEUE]``: steer the running stack's bank simulator and look
at its queues (BANKS.md, "Local bank simulator"), without a restart.

Every command finds the stack in ``.devstack/stack.json`` and says which
one it talks to. ``set`` writes the bank's behaviour to
``.devstack/banks-<stage>.json``, which the simulator reads again as soon as
it changes; ``statement`` writes the statement from the bank's book
(``.devstack/banks-<stage>/<bank>.jsonl``) straight into the stack's
statement bucket.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from chalicelib import queues
from chalicelib.clock import iso
from devstack import banksim, state
from devstack.clock import stack_now
from devstack.env import LOCAL_REGION, dummy_aws

__all__ = ["add_bank_arguments", "add_dlq_arguments", "bank_main", "dlq_main"]

_DEPTH = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


def add_bank_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("show", help="each simulated bank's behaviour and its queue depths")
    change = actions.add_parser("set", help="change one bank's behaviour from now on")
    change.add_argument("bank_code", choices=banksim.SIMULATED_BANKS)
    change.add_argument("--reject-share", type=float, help="share of transactions rejected, 0..1")
    change.add_argument("--delay-s", type=float, help="seconds before the bank answers")
    change.add_argument("--duplicate-share", type=float, help="share of answers sent twice, 0..1")
    change.add_argument("--reorder", action=argparse.BooleanOptionalAction, default=None,
                        help="answer out of order (--no-reorder: in order)")
    change.add_argument("--outage-s", type=float, help="answer nothing for N seconds from now (0: end it)")
    statement = actions.add_parser("statement", help="write a bank's camt.053 statement of a day now")
    statement.add_argument("bank_code", choices=banksim.SIMULATED_BANKS)
    statement.add_argument("--date", help="business day YYYY-MM-DD (default: the stack's today in Bangkok)")
    statement.add_argument("--break", dest="break_kind", choices=banksim.BREAK_KINDS,
                           help="put one break of this kind in the statement")


def add_dlq_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redrive", metavar="QUEUE",
                        help="move the messages of QUEUE's dead-letter queue back to QUEUE "
                             "(a short name such as bank-status or bank-004-instructions)")


def _stack() -> state.StackState | None:
    """The running stack, named on stderr (or None, after saying why there is none)."""
    stack = state.running()
    if stack is not None:
        print(f"# stack {stack.api_url} (stage {stack.stage}, pid {stack.pid})", file=sys.stderr)
    return stack


def _name(stack: state.StackState, short: str) -> str:
    return f"wallet-{stack.stage}-{short}"


def _client(service: str, stack: state.StackState) -> Any:
    """A client of the stack's moto server, with the dummy credentials it takes
    (whatever the shell has configured: never a real account)."""
    fake = dummy_aws()
    return boto3.client(service, endpoint_url=stack.aws_endpoint, region_name=LOCAL_REGION,  # type: ignore[call-overload]
                        aws_access_key_id=fake["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=fake["AWS_SECRET_ACCESS_KEY"])


def _sqs(stack: state.StackState) -> Any:
    return _client("sqs", stack)


def _depth(sqs: Any, stack: state.StackState, short: str) -> int | None:
    try:
        url = sqs.get_queue_url(QueueName=_name(stack, short))["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return None
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_DEPTH))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in _DEPTH)


def _show(stack: state.StackState, console: Console) -> int:
    sqs = _sqs(stack)
    behaviours = banksim.read_behaviours(stack.stage)
    table = Table(title=f"Simulated banks of stage {stack.stage}",
                  caption="reject/dup: shares; queue, dlq: its instructions waiting and dead; paid, rjct: its book")
    # Short headers: the table fits 80 columns.
    for column in ("bank", "reject", "delay s", "dup", "reorder", "down s", "queue", "dlq", "paid", "rjct"):
        table.add_column(column, justify="right")
    now_s = time.time()
    for bank, behaviour in behaviours.items():
        book = banksim.BankBook(banksim.book_dir(stack.stage) / f"{bank}.jsonl")
        paid = sum(1 for e in book.entries.values() if e["status"] == "ACSC")
        table.add_row(bank, f"{behaviour.reject_share:g}", f"{behaviour.delay_s:g}",
                      f"{behaviour.duplicate_share:g}", "yes" if behaviour.reorder else "no",
                      f"{max(0, behaviour.outage_until - now_s):.0f}",
                      str(_depth(sqs, stack, queues.bank_queue(bank))),
                      str(_depth(sqs, stack, queues.dlq_short_name(queues.bank_queue(bank)))),
                      str(paid), str(len(book.entries) - paid))
    console.print(table)
    console.print(f"status queue {_depth(sqs, stack, queues.STATUS_QUEUE)}, "
                  f"its DLQ {_depth(sqs, stack, queues.dlq_short_name(queues.STATUS_QUEUE))}")
    return 0


def _set(stack: state.StackState, args: argparse.Namespace, console: Console) -> int:
    changes: dict[str, Any] = {}
    for name in ("reject_share", "duplicate_share"):
        value = getattr(args, name)
        if value is not None:
            if not 0 <= value <= 1:
                print(f"error: --{name.replace('_', '-')} must be between 0 and 1", file=sys.stderr)
                return 2
            changes[name] = value
    if args.delay_s is not None:
        changes["delay_s"] = max(0.0, args.delay_s)
    if args.reorder is not None:
        changes["reorder"] = args.reorder
    if args.outage_s is not None:
        changes["outage_until"] = time.time() + args.outage_s if args.outage_s > 0 else 0.0
    behaviour = banksim.write_behaviour(stack.stage, args.bank_code, **changes)
    console.print(f"bank {args.bank_code} from now on: {asdict(behaviour)}")
    return 0


def _statement(stack: state.StackState, args: argparse.Namespace, console: Console) -> int:
    day = args.date or stack_now(stack).astimezone(banksim.BANGKOK).strftime("%Y-%m-%d")
    book = banksim.BankBook(banksim.book_dir(stack.stage) / f"{args.bank_code}.jsonl")
    try:
        body = banksim.statement_body(args.bank_code, day, book.paid_on(day), args.break_kind)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s3 = _client("s3", stack)
    key = banksim.write_statement(s3, f"wallet-{stack.stage}-statements", body)
    console.print(f"wrote s3://wallet-{stack.stage}-statements/{key}: {len(body['entries'])} entries, "
                  f"{sum(e['amount_satang'] for e in body['entries'])} satang"
                  f"{', break ' + args.break_kind if args.break_kind else ''} (at {iso(stack_now(stack))})")
    return 0


def bank_main(args: argparse.Namespace) -> int:
    console = Console()
    stack = _stack()
    if stack is None:
        return 1
    if args.action == "show":
        return _show(stack, console)
    if args.action == "set":
        return _set(stack, args, console)
    return _statement(stack, args, console)


def _redrive(sqs: Any, stack: state.StackState, short: str) -> int:
    source = sqs.get_queue_url(QueueName=_name(stack, queues.dlq_short_name(short)))["QueueUrl"]
    target = sqs.get_queue_url(QueueName=_name(stack, short))["QueueUrl"]
    moved = 0
    while True:
        got = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=target, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def dlq_main(args: argparse.Namespace) -> int:
    console = Console()
    stack = _stack()
    if stack is None:
        return 1
    sqs = _sqs(stack)
    if args.redrive:
        if args.redrive not in queues.QUEUES:
            print(f"error: {args.redrive} is not a queue of the stack; one of {', '.join(queues.QUEUES)}",
                  file=sys.stderr)
            return 2
        moved = _redrive(sqs, stack, args.redrive)
        console.print(f"moved {moved} messages from {queues.dlq_short_name(args.redrive)} back to {args.redrive}")
    table = Table(title=f"Dead-letter queues of stage {stack.stage}")
    table.add_column("queue")
    table.add_column("dead letters", justify="right")
    for short in queues.QUEUES:
        table.add_row(queues.dlq_short_name(short), str(_depth(sqs, stack, queues.dlq_short_name(short))))
    console.print(table)
    return 0
