"""``python -m devstack audit-verify``: recompute the audit chains offline.

Reads every stored event of the audit table straight from the running
stack's DynamoDB (``.devstack/stack.json``; or ``--endpoint``/``--stage``),
not through the API, recomputes each chain with the same function as
``GET /v1/admin/audit/verify`` (``chalicelib.audit.verify_events``), and
points at the first broken link. Exit 0 when every chain holds, 1 otherwise.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import boto3
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from chalicelib.audit import verify_events
from devstack import state

__all__ = ["add_arguments", "main", "stored_events"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default=None, help="DynamoDB endpoint (default: the running stack's)")
    parser.add_argument("--stage", default=None, help="stage of the tables (default: the running stack's)")
    parser.add_argument("--region", default="ap-southeast-1")


def stored_events(endpoint: str, table: str, region: str, progress: Any = None) -> Iterator[dict[str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region,
                          aws_access_key_id="local", aws_secret_access_key="local")
    task = progress.add_task("reading events", total=None) if progress is not None else None
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            yield {"chain": item["chain"]["S"], "sort": item["sort"]["S"], "seq": int(item["seq"]["N"]),
                   "event_json": item["event_json"]["S"], "prev_hash": item["prev_hash"]["S"],
                   "hash": item["hash"]["S"]}
        if progress is not None:
            progress.advance(task, len(page["Items"]))


def main(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    endpoint, stage = args.endpoint, args.stage
    if endpoint is None or stage is None:
        running = state.running()  # None: it said why on stderr
        if running is None:
            console.print("or give --endpoint and --stage")
            return 2
        endpoint, stage = endpoint or running.dynamodb_endpoint, stage or running.stage
    table = f"wallet-{stage}-audit"
    console.print(f"audit chains of stage [bold]{stage}[/bold], table {table} at {endpoint}")
    with Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed} events"),
                  console=console, transient=True) as progress:
        result = verify_events(stored_events(endpoint, table, args.region, progress))
    if result["ok"]:
        console.print(f"[green]ok[/green]: {result['events_checked']} events, every chain holds")
        return 0
    broken = result["first_broken"]
    console.print(f"[red]broken[/red] at event {broken['event_id']}: {broken['reason']} "
                  f"({result['events_checked']} events checked)")
    return 1
