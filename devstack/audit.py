"""``python -m devstack audit``: the auditor's offline check of the running
stack's ledger, by a full scan (chalicelib/ledger/audit.py).

Replays every transfer record from zero and compares each balance (and each
wallet's in/out tallies) with what is stored, checks that no balance that
may not go negative is, and that all balances sum to zero. It reads the
stack's DynamoDB directly, not through the API: it is the check an auditor
runs against the tables, at quiescence (under traffic a scan is not a
snapshot). Exits 1 when anything is off, naming each account.
"""
from __future__ import annotations

import argparse
import os
import time

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from devstack import env, state

__all__ = ["add_arguments", "main"]

console = Console(stderr=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mismatches-shown-max", type=int, default=20,
                        help="how many mismatching accounts to list (default 20)")


def _point_at(stack: state.StackState) -> None:
    """This process reads the stack's tables: its DynamoDB and stage."""
    os.environ.update(env.dummy_aws())
    os.environ["WALLET_DYNAMODB_ENDPOINT"] = stack.dynamodb_endpoint
    os.environ["WALLET_STAGE"] = stack.stage


def main(args: argparse.Namespace) -> int:
    stack = state.running()
    if stack is None:
        return 1
    console.print(f"# stack {stack.api_url} (stage {stack.stage}, pid {stack.pid}), "
                  f"DynamoDB {stack.dynamodb_endpoint}: full scan of the ledger")
    _point_at(stack)
    # After the environment is set: the models bind to the stack's tables.
    from chalicelib import db
    from chalicelib.config import rebuild
    from chalicelib.ledger import audit_ledger
    from chalicelib.models_index import import_all_models

    rebuild()
    import_all_models()
    db.bind_models()
    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("scanning transfers and balances", total=None)
        report = audit_ledger(progress=lambda what, n: progress.update(
            task, description=f"scanning {what}: {n:,} read"))
    elapsed_s = time.monotonic() - started
    print(f"transfers replayed  {report.transfers_checked:,}")
    print(f"accounts checked    {report.accounts_checked:,}")
    print(f"sum of balances     {report.total_satang:,} satang (0 in a closed ledger)")
    print(f"scan took           {elapsed_s:.1f} s")
    shown = args.mismatches_shown_max
    for account_id, (have, want) in list(report.mismatches.items())[:shown]:
        print(f"MISMATCH {account_id}: stored {have:,}, its transfers say {want:,}")
    for (account_id, tally), (have, want) in list(report.tally_mismatches.items())[:shown]:
        print(f"TALLY MISMATCH {account_id} {tally}: stored {have:,}, its transfers say {want:,}")
    for account_id in report.negative[:shown]:
        print(f"NEGATIVE {account_id}")
    if report.ok:
        print("ledger audit: OK (every balance is what its transfers say, nothing below zero, sum 0)")
        return 0
    problems = len(report.mismatches) + len(report.tally_mismatches) + len(report.negative)
    print(f"ledger audit: FAILED ({problems} problem(s); at most {shown} of each kind listed)")
    return 1
