"""``python -m devstack run`` (the local stack), ``python -m devstack token``
and ``python -m devstack scenario`` (phase 3 end to end on the running stack),
``python -m devstack clock`` (the running stack's movable clock),
``python -m devstack metrics`` (what the dashboard would show),
``python -m devstack audit`` (the offline ledger audit of the running stack),
``python -m devstack audit-verify`` (the audit chains, recomputed offline),
``python -m devstack simulate`` (a launch day rehearsed, with its report)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devstack import tokens

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack",
                                     description="Local development stack of the wallet backend.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start DynamoDB Local, moto, the API and the pump")
    run.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    run.add_argument("--dynamodb-port", type=int, default=0, help="default: a free port")
    run.add_argument("--aws-port", type=int, default=0,
                     help="moto server (SQS, S3) port; default: a free port")
    run.add_argument("--db-path", type=Path, default=None,
                     help="keep DynamoDB Local's data in this folder (default: in memory)")
    run.add_argument("--schedule-rate-s", type=int, default=None,
                     help="seconds between schedule fires (default WALLET_SCHEDULE_RATE_S or 5)")
    run.add_argument("--stage", default="local", help="stage name in table/queue names")
    run.add_argument("--app", default="app", help="module holding the Chalice `app` (default app)")
    run.add_argument("-v", "--verbose", action="store_true")

    token = commands.add_parser("token", help="print a token of the local issuer")
    token.add_argument("--role", required=True, help=f"one of {', '.join(tokens.ROLES)}")
    token.add_argument("--claim", action="append", default=[], metavar="KEY=VALUE",
                       help="extra claim (repeatable); true/false become booleans")
    token.add_argument("--ttl-s", type=int, default=tokens.TOKEN_TTL_S)

    from devstack import auditcheck, scenario
    scenario.add_arguments(commands.add_parser(
        "scenario", help="phase 3 end to end on the running stack: register, activate, check"))
    auditcheck.add_arguments(commands.add_parser(
        "audit-verify", help="recompute the audit chains from the stack's DynamoDB, offline"))

    from devstack import bank
    bank.add_bank_arguments(commands.add_parser(
        "bank", help="the running stack's bank simulator: show | set BANK_CODE ... | statement BANK_CODE"))
    bank.add_dlq_arguments(commands.add_parser(
        "dlq", help="dead-letter queue depths of the running stack; --redrive QUEUE moves them back"))
    from devstack import metrics
    metrics.add_arguments(commands.add_parser(
        "metrics", help="counters and latency percentiles of the running stack, from its log stream"))

    from devstack import audit
    audit.add_arguments(commands.add_parser(
        "audit", help="the auditor's offline check of the running stack's ledger (a full scan)"))

    from devstack import simulate
    simulate.add_arguments(commands.add_parser(
        "simulate", help="a launch day rehearsed on the running stack, with its invariants and an HTML report"))

    from devstack import clock
    clock.add_arguments(commands.add_parser(
        "clock", help="show or move the running stack's clock: show | advance 30d | set <RFC3339> | reset"))
    return parser


def _token(args: argparse.Namespace) -> int:
    try:
        claims = tokens.parse_claims(args.claim)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.role not in tokens.ROLES:
        print(f"warning: role {args.role!r} is not one of {', '.join(tokens.ROLES)}",
              file=sys.stderr)
    token = tokens.mint(args.role, claims, ttl_s=args.ttl_s)
    print(f"# local issuer {tokens.LOCAL_ISSUER}, role {args.role}, valid {args.ttl_s} s",
          file=sys.stderr)
    print(token)
    return 0


def _run(args: argparse.Namespace) -> int:
    import os

    from devstack import env, stack

    stack.configure_logging(args.verbose)
    rate = args.schedule_rate_s or int(os.environ.get("WALLET_SCHEDULE_RATE_S")
                                       or env.DEFAULT_SCHEDULE_RATE_S)
    options = stack.StackOptions(api_port=args.port, dynamodb_port=args.dynamodb_port,
                                 aws_port=args.aws_port, db_path=args.db_path,
                                 schedule_rate_s=rate, stage=args.stage, app_module=args.app)
    return stack.run(options)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "scenario":
        from devstack import scenario
        return scenario.main(args)
    if args.command in ("bank", "dlq"):
        from devstack import bank
        return bank.bank_main(args) if args.command == "bank" else bank.dlq_main(args)
    if args.command == "metrics":
        from devstack import metrics
        return metrics.main(args)
    if args.command == "simulate":
        from devstack import simulate
        return simulate.main(args)
    if args.command == "audit-verify":
        from devstack import auditcheck
        return auditcheck.main(args)
    if args.command == "clock":
        from devstack import clock
        return clock.main(args)
    if args.command == "audit":
        from devstack import audit
        return audit.main(args)
    return _token(args) if args.command == "token" else _run(args)


if __name__ == "__main__":
    sys.exit(main())
