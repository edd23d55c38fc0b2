"""``python -m devstack scenario``: phase 3 end to end on the running stack.

Against the API of ``make run`` (HTTP only, as the operations console and
Tang Rat would call it):
1. an operator (mfa) defines a phase of 3 waves whose registration is open;
2. N synthetic citizens (valid Thai IDs, in the cohort) register;
3. the operator closes registration and sets the waves a few seconds apart
   (allowed: no wave has started), then asks for activation;
4. the scenario follows the phase's progress until every wave is done;
5. it checks every accepted citizen's wallet (credited once, active), the
   counters and the ledger summary, and prints a final table.

Citizens and the phase get a fresh run id each time, so the scenario can be
run again on the same stack (one benefit per citizen across phases).
Exit code 0 when every check passed.
"""
from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from stdnum.th import pin

from devstack import tokens

__all__ = ["add_arguments", "run", "main", "valid_cid"]

CITIZENS_DEFAULT = 5_000
WAVES_DEFAULT = 3
WORKERS_DEFAULT = 8
AMOUNT_SATANG = 1_000_000
HTTP_TIMEOUT_S = 30
ACTIVATION_TIMEOUT_S = 900
POLL_INTERVAL_S = 1.0
WAVE_SPACING_S = 5
# The planner waits this long after registration closes for the by-wave
# index to settle (chalicelib.activation.plan.INDEX_SETTLE_S), plus a margin.
INDEX_SETTLE_WAIT_S = 12
DISTRICT = "1001"
BIRTH_DATES = ("2005-01-15", "2006-06-30", "2007-11-02", "2008-09-16", "2004-09-16")
CID_SPACE = 10**11  # 11 free digits after the leading "1" of a synthetic ID


def valid_cid(n: int) -> str:
    """A 13-digit ID with a valid Thai checksum (stdnum.th.pin)."""
    body = f"1{n % CID_SPACE:011d}"
    return body + pin.calc_check_digit(body)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _phase_body(name: str, opens: datetime, closes: datetime, wave_times: list[datetime],
                citizens: int) -> dict[str, Any]:
    return {
        "name": name, "kind": "wallet",
        "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
        "exclusion_lists": [],
        "registration_opens_at": _iso(opens), "registration_closes_at": _iso(closes),
        "amount_satang": AMOUNT_SATANG,
        "tranches": [{"amount_satang": AMOUNT_SATANG, "after_days": 0}],
        "waves": [{"activate_at": _iso(t)} for t in wave_times],
        "expires_after_days": 180, "spending_scope": "district",
        "allowed_size_classes": ["small"],
        "restricted_categories": ["lottery", "alcohol", "tobacco", "cannabis_kratom", "gift_cards_vouchers",
                                  "gold_gems", "fuel_gas", "electronics", "services", "online"],
        "budget_satang": citizens * AMOUNT_SATANG, "payout_bank_code": None,
    }


class Api:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session  # type: ignore[no-any-return]

    def call(self, method: str, path: str, token: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        response = self._session().request(method, f"{self.url}{path}", json=body, timeout=HTTP_TIMEOUT_S,
                                           headers={"Authorization": f"Bearer {token}"})
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _parallel(workers: int, items: list[Any], call: Callable[[Any], Any], advance: Callable[[], None]) -> list[Any]:
    def one(item: Any) -> Any:
        try:
            return call(item)
        finally:
            advance()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, items))


def run(url: str, citizens: int = CITIZENS_DEFAULT, waves: int = WAVES_DEFAULT, workers: int = WORKERS_DEFAULT,
        timeout_s: int = ACTIVATION_TIMEOUT_S, console: Console | None = None) -> bool:
    """Run the scenario against the API at ``url``; True when every check passed."""
    console = console or Console()
    api = Api(url)
    run_id = f"{random.randrange(16**6):06x}"
    phase_id = f"phase3-{run_id}"
    base = random.randrange(CID_SPACE - citizens)
    operator = tokens.mint("operator", {"mfa": True})
    now = datetime.now(UTC)
    far = [now + timedelta(days=30 + i) for i in range(waves)]

    console.rule(f"[bold]Phase {phase_id}: {citizens} citizens, {waves} waves")
    created = api.call("PUT", f"/v1/admin/phases/{phase_id}", operator,
                       _phase_body(f"Phase 3 scenario {run_id}", now - timedelta(minutes=1),
                                   now + timedelta(hours=1), far, citizens), expect=(200, 201))
    console.print(f"phase saved: {len(created.get('waves', []))} waves, budget {citizens * AMOUNT_SATANG:,} satang")

    people = []
    for i in range(citizens):
        cid = valid_cid(base + i)
        people.append(tokens.mint("citizen", {"cid": cid, "birth_date": BIRTH_DATES[i % len(BIRTH_DATES)],
                                              "district": DISTRICT, "nationality": "TH"}))
    with _progress(console) as bar:
        task = bar.add_task("registering", total=citizens)
        results = _parallel(workers, people, lambda token: api.call(
            "POST", "/v1/registrations", token, {"phase_id": phase_id, "consent": True}, expect=(200, 201)),
            lambda: bar.advance(task))
    accepted = [people[i] for i, r in enumerate(results) if r.get("status") == "accepted"]
    console.print(f"registered {len(results)}: accepted {len(accepted)}, rejected {len(results) - len(accepted)}")

    closed = datetime.now(UTC)
    soon = [closed + timedelta(seconds=INDEX_SETTLE_WAIT_S + WAVE_SPACING_S * i) for i in range(waves)]
    api.call("PUT", f"/v1/admin/phases/{phase_id}", operator,
             _phase_body(f"Phase 3 scenario {run_id}", now - timedelta(minutes=1), closed, soon, citizens),
             expect=(200,))
    console.print(f"registration closed; waves at +{INDEX_SETTLE_WAIT_S}s, spaced {WAVE_SPACING_S}s")

    deadline = time.monotonic() + timeout_s
    phase: dict[str, Any] = {}
    with _progress(console) as bar:
        task = bar.add_task("crediting", total=len(accepted))
        waves_task = bar.add_task("waves done", total=waves)
        next_activate = time.monotonic() + INDEX_SETTLE_WAIT_S
        while time.monotonic() < deadline:
            if time.monotonic() >= next_activate:
                # The schedule would do it too; the operator asks to hurry.
                api.call("POST", f"/v1/admin/phases/{phase_id}/activate", operator, {}, expect=(202,))
                next_activate = time.monotonic() + WAVE_SPACING_S
            phase = api.call("GET", f"/v1/admin/phases/{phase_id}", operator)
            done = sum(1 for w in phase.get("waves", []) if w.get("status") == "done")
            bar.update(task, completed=phase.get("credited_count", 0))
            bar.update(waves_task, completed=done)
            if done == waves or any(w.get("status") == "stopped" for w in phase.get("waves", [])):
                break
            time.sleep(POLL_INTERVAL_S)

    with _progress(console) as bar:
        task = bar.add_task("checking wallets", total=len(accepted))
        wallets = _parallel(workers, accepted, lambda token: api.call("GET", "/v1/wallet", token),
                            lambda: bar.advance(task))
    credited_once = sum(1 for w in wallets if w.get("balance_satang") == AMOUNT_SATANG
                        and w.get("credited_satang") == AMOUNT_SATANG and w.get("status") == "active")
    summary = api.call("GET", "/v1/admin/ledger/summary", operator)

    checks = [
        ("every accepted citizen credited once", f"{credited_once} / {len(accepted)}",
         credited_once == len(accepted)),
        ("accepted counter", f"{phase.get('accepted')} (registered {phase.get('registered')})",
         phase.get("accepted") == len(accepted) and phase.get("registered") == citizens),
        ("credited_count", str(phase.get("credited_count")), phase.get("credited_count") == len(accepted)),
        ("credited_satang", f"{phase.get('credited_satang', 0):,}",
         phase.get("credited_satang") == len(accepted) * AMOUNT_SATANG),
        ("waves done", ", ".join(f"{w.get('wave')}:{w.get('status')}:{w.get('credited_count')}"
                                 for w in phase.get("waves", [])),
         all(w.get("status") == "done" for w in phase.get("waves", [])) and len(phase.get("waves", [])) == waves),
        ("wave counts add up", str(sum(w.get("credited_count", 0) for w in phase.get("waves", []))),
         sum(w.get("credited_count", 0) for w in phase.get("waves", [])) == len(accepted)),
        ("ledger balanced", f"funded {summary.get('funded_satang', 0):,} = treasury "
                            f"{summary.get('treasury_satang', 0):,} + wallets "
                            f"{summary.get('wallets_satang', 0):,} + ...",
         summary.get("balanced") is True),
    ]
    table = Table(title=f"Phase {phase_id}")
    table.add_column("check")
    table.add_column("value")
    table.add_column("ok")
    for name, value, ok in checks:
        table.add_row(name, value, "[green]yes" if ok else "[red]NO")
    console.print(table)
    return all(ok for _, _, ok in checks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the API of `make run`")
    parser.add_argument("--citizens", type=int, default=CITIZENS_DEFAULT)
    parser.add_argument("--waves", type=int, default=WAVES_DEFAULT)
    parser.add_argument("--workers", type=int, default=WORKERS_DEFAULT, help="concurrent HTTP clients")
    parser.add_argument("--timeout-s", type=int, default=ACTIVATION_TIMEOUT_S)


def main(args: argparse.Namespace) -> int:
    ok = run(args.url, args.citizens, args.waves, args.workers, args.timeout_s)
    return 0 if ok else 1
