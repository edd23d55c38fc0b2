"""``make bench``: each benchmark in a process of its own against a DynamoDB
Local of its own, as ratios to the raw engine measured in the same run.

    python -m bench [--only ledger,activation,payments] [--quick] [--json FILE]

Exits 1 when a target is missed, so that a regression is seen.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.runner import BENCHES, run_one

console = Console()


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


def _ratios(prefix: str, value: Any) -> list[tuple[str, float]]:
    """Every ratio to the raw engine in a benchmark's figures (wall clock and CPU)."""
    found: list[tuple[str, float]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(inner, int | float) and not isinstance(inner, bool) and str(key).endswith(
                    ("ratio", "ratio_to_raw", "median_of_round_ratios")):
                found.append((path, float(inner)))
            else:
                found += _ratios(path, inner)
    return found


def _overview(results: dict[str, Any]) -> Table:
    """One table of every ratio of the run, and each benchmark's verdict."""
    table = Table(title="every figure as a ratio to raw TransactWriteItems of the same shape, this run")
    table.add_column("benchmark")
    table.add_column("figure")
    table.add_column("ratio", justify="right")
    for name, figures in results.items():
        for path, ratio in _ratios("", figures):
            table.add_row(name, path, f"{ratio:.3f}")
        table.add_row(name, "all targets", "met" if _targets_met(figures) else "[red]MISSED[/red]")
    return table


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

    results: dict[str, Any] = {}
    for name in chosen:
        console.print(f"[bold]{name}[/bold]: " + ("the deployment package's imports" if name == "coldstart" else
                                                  "starting DynamoDB Local (the numbers are relative to it)"))
        # A process and a DynamoDB Local of its own per benchmark: what an
        # earlier one left in memory (the emulator's tables and garbage, this
        # interpreter's heap that the app's garbage collector walks) would
        # weigh on the next, and on the app more than on raw calls.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                results[name] = pool.submit(run_one, name, args.quick).result()
            except Exception as exc:
                console.print(f"[red]{name} failed: {type(exc).__name__}: {exc}[/red]")
                results[name] = {"error": f"{type(exc).__name__}: {exc}", "targets_met": {"ran": False}}

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
    console.print(_overview(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    console.print("[bold green]all targets met[/bold green]" if all_met else "[bold red]a target was missed[/bold red]")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
