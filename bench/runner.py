"""One benchmark by name, against a DynamoDB Local of its own: what
``python -m bench`` runs in a child process for each benchmark."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console

__all__ = ["BENCHES", "run_one"]

BENCHES = ("ledger", "activation", "payments", "payouts", "exclusions", "summary", "coldstart", "functions")
console = Console()


def _say(message: str) -> None:
    console.print(f"[dim]  {message}[/dim]")


def _ledger(endpoint: str, quick: bool, pid: int) -> dict[str, Any]:
    from bench import ledger

    return ledger.run(endpoint, posts=150 if quick else ledger.POSTS_DEFAULT, progress=_say, ddb_pid=pid)


def _activation(endpoint: str, quick: bool, pid: int) -> dict[str, Any]:
    from bench import activation

    citizens = 1_000 if quick else activation.CITIZENS_DEFAULT
    return activation.run(endpoint, citizens=citizens, progress=_say, ddb_pid=pid)


def _payments(endpoint: str, quick: bool, pid: int) -> dict[str, Any]:
    from bench import payments

    return payments.run(payments=480 if quick else payments.PAYMENTS_DEFAULT, ddb_endpoint=endpoint, ddb_pid=pid,
                        progress=_say, cold_citizens=96 if quick else payments.COLD_CITIZENS_DEFAULT)


def _payouts(endpoint: str, quick: bool, pid: int) -> dict[str, Any]:
    from bench import payouts

    return payouts.run(endpoint, payouts=160 if quick else payouts.PAYOUTS_DEFAULT,
                       pipeline=500 if quick else payouts.PIPELINE_DEFAULT, progress=_say, ddb_pid=pid)


def _exclusions(endpoint: str, quick: bool, _pid: int) -> dict[str, Any]:
    from bench import exclusions

    return exclusions.run(endpoint, ids=20_000 if quick else exclusions.IDS_DEFAULT, progress=_say)


def _summary(endpoint: str, quick: bool, pid: int) -> dict[str, Any]:
    from bench import summary

    return summary.run(endpoint, counts=(10, 200) if quick else summary.ACCOUNTS_DEFAULT, progress=_say,
                       ddb_pid=pid)


def _functions(endpoint: str, quick: bool, _pid: int) -> dict[str, Any]:
    from bench import functions

    return functions.run(endpoint, quick=quick, progress=_say)


# (DynamoDB Local's URL, quick, its process id)
_RUNNERS: dict[str, Callable[[str, bool, int], dict[str, Any]]] = {
    "ledger": _ledger, "activation": _activation, "payments": _payments, "payouts": _payouts,
    "exclusions": _exclusions, "summary": _summary, "functions": _functions,
}


def run_one(name: str, quick: bool) -> dict[str, Any]:
    """One benchmark against a DynamoDB Local of its own (in a child process);
    the cold start needs none (it imports the deployment package)."""
    if name == "coldstart":
        from bench import coldstart

        return coldstart.run(rounds=5 if quick else coldstart.ROUNDS_DEFAULT, progress=_say)
    import os

    from bench.cpu import JVM_OPTIONS
    from devstack import dynamodb_local, env
    from devstack.procs import free_port

    # Dummy credentials and region for the emulator; each benchmark sets its own stage.
    os.environ.update(env.dummy_aws())
    # The emulator as AWS publishes it: every ratio's raw side and its
    # history were measured on its stock request handler. The stack's and
    # the tests' sized body reader (devstack/LoopbackDynamoDBLocal.java)
    # takes ~2 ms of emulator CPU off every request on both sides, which
    # leaves the app's own Python a larger share of a payment's CPU: the
    # QR payments' CPU ratio measured 0.73 there (README, Benchmarks).
    # A fixed set of JIT compiler threads, whose CPU is kept apart (bench.cpu).
    child = dynamodb_local.start(free_port(), stock_handler=True, jvm_options=JVM_OPTIONS)
    try:
        return _RUNNERS[name](child.url, quick, child.pid)
    except Exception:
        console.print_exception(max_frames=5)
        raise
    finally:
        child.stop(remove_log=True)
