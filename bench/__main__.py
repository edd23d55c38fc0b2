"""``make bench``: every benchmark against one DynamoDB Local, as ratios to the
raw engine measured in the same run.

    python -m bench [--only ledger,activation,payments] [--quick] [--json FILE]

Exits 1 when a target is missed, so that a regression is seen.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

BENCHES = ("ledger", "activation", "payments")
console = Console()


def _say(message: str) -> None:
    console.print(f"[dim]  {message}[/dim]")


def _ledger(endpoint: str, quick: bool) -> dict[str, Any]:
    from bench import ledger

    return ledger.run(endpoint, posts=150 if quick else ledger.POSTS_DEFAULT, progress=_say)


def _activation(endpoint: str, quick: bool) -> dict[str, Any]:
    from bench import activation

    return activation.run(endpoint, citizens=1_000 if quick else 5_000, progress=_say)


def _payments(endpoint: str, quick: bool) -> dict[str, Any]:
    from bench import payments

    return payments.run(payments=100 if quick else payments.PAYMENTS_DEFAULT, ddb_endpoint=endpoint, progress=_say)


_RUNNERS: dict[str, Callable[[str, bool], dict[str, Any]]] = {
    "ledger": _ledger, "activation": _activation, "payments": _payments,
}


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows += _rows(f"{prefix}.{key}" if prefix else key, inner)
        return rows
    return [(prefix, str(value))]


def _targets_met(figures: dict[str, Any]) -> bool:
    """Every boolean under a ``targets``/``targets_met`` key, and the ledger balanced."""
    verdicts: list[bool] = []

    def walk(node: Any, inside: bool) -> None:
        if isinstance(node, dict):
            for key, inner in node.items():
                walk(inner, inside or str(key).startswith("targets"))
                if key in ("ledger_balanced", "balanced") and isinstance(inner, bool):
                    verdicts.append(inner)
        elif inside and isinstance(node, bool):
            verdicts.append(node)

    walk(figures, False)
    return all(verdicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")

    import os

    from devstack import dynamodb_local, env
    from devstack.procs import free_port

    # Dummy credentials and region for the emulator; each benchmark sets its own stage.
    os.environ.update(env.dummy_aws())
    results: dict[str, Any] = {}
    for name in chosen:
        # A DynamoDB Local of its own per benchmark: what an earlier one left
        # in the emulator's memory (tables, items, garbage) weighs on the next.
        console.print(f"[bold]{name}[/bold]: starting DynamoDB Local (the numbers are relative to it)")
        child = dynamodb_local.start(free_port())
        try:
            results[name] = _RUNNERS[name](child.url, args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            console.print_exception(max_frames=5)
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "targets_met": {"ran": False}}
        finally:
            child.stop(remove_log=True)

    all_met = True
    for name, figures in results.items():
        met = _targets_met(figures)
        all_met &= met
        table = Table(title=f"{name}: {'targets met' if met else 'TARGET MISSED'}", show_lines=False)
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in _rows("", figures):
            table.add_row(key, value)
        console.print(table)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    console.print("[bold green]all targets met[/bold green]" if all_met else "[bold red]a target was missed[/bold red]")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
