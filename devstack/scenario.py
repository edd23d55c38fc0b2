"""``python -m devstack scenario``: phase 3 end to end on the running stack.

Against the API of ``make run`` (HTTP only, as the operations console and
Tang Rat would call it), on the stack's movable clock:
1. an operator (mfa) defines a phase of 3 waves and 2 tranches whose
   registration is open for 20 days and whose waves start within seconds;
2. half of N synthetic citizens (valid Thai IDs, in the cohort) register;
   once the waves are due the operator activates once, and the other half
   registers late: the schedule credits them, nobody calls activate again;
3. the clock moves past the close (final sweeps) and to tranche 2's date;
4. every accepted citizen's wallet is checked (credited once per tranche);
5. the clock moves past the expiry: everything returns to the treasury once;
6. the counters against the ledger summary, in a final table.

Citizens and the phase get a fresh run id each time, so the scenario can be
run again on the same stack (one benefit per citizen across phases).
Exit code 0 when every check passed.
"""
from __future__ import annotations

import argparse
import random
import sys
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

from chalicelib.clock import read_offset, write_offset
from devstack import state, tokens
from devstack.settled import settled

__all__ = ["add_arguments", "run", "main", "valid_cid"]

CITIZENS_DEFAULT = 5_000
WAVES_DEFAULT = 3
WORKERS_DEFAULT = 8
AMOUNT_SATANG = 1_000_000
HTTP_TIMEOUT_S = 30
RATE_LIMITED_RETRIES = 5
ACTIVATION_TIMEOUT_S = 900
POLL_INTERVAL_S = 1.0
WAVE_SPACING_S = 2
WAVE_START_S = 10
CLOSE_AFTER_DAYS = 20
TRANCHE_1 = 600_000
TRANCHE_2 = AMOUNT_SATANG - TRANCHE_1
TRANCHE_2_AFTER_DAYS = 30
EXPIRES_AFTER_DAYS = 60
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
        "tranches": [{"amount_satang": TRANCHE_1, "after_days": 0},
                     {"amount_satang": TRANCHE_2, "after_days": TRANCHE_2_AFTER_DAYS}],
        "waves": [{"activate_at": _iso(t)} for t in wave_times],
        "expires_after_days": EXPIRES_AFTER_DAYS, "spending_scope": "district",
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
        for _attempt in range(RATE_LIMITED_RETRIES):
            response = self._session().request(method, f"{self.url}{path}", json=body, timeout=HTTP_TIMEOUT_S,
                                               headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 429 or 429 in expect:
                break
            # As a client should: come back when the API says (every call here is safe to repeat).
            time.sleep(float(response.headers.get("Retry-After") or 1))
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


class _Clock:
    """The stack's clock: read from its clock file, moved as `devstack clock advance` does."""

    def __init__(self, path: str | None, console: Console) -> None:
        self.path = path
        self.console = console

    def now(self) -> datetime:
        offset = read_offset(self.path) if self.path else 0.0
        return datetime.now(UTC) + timedelta(seconds=offset)

    def advance(self, delta: timedelta) -> None:
        if not self.path:
            raise RuntimeError("the stack has no movable clock; restart it with `make run`")
        write_offset(self.path, read_offset(self.path) + delta.total_seconds())
        self.console.print(f"[bold]clock moved {delta.days} days[/bold]: stack time {_iso(self.now())}")


def _follow(console: Console, api: Api, operator: str, phase_id: str, label: str, total: int,
            figure: Callable[[dict[str, Any]], int], deadline: float) -> dict[str, Any]:
    """Poll the phase GET until ``figure`` reaches ``total`` (or the deadline)."""
    phase: dict[str, Any] = {}
    with _progress(console) as bar:
        task = bar.add_task(label, total=total)
        while time.monotonic() < deadline:
            phase = api.call("GET", f"/v1/admin/phases/{phase_id}", operator)
            bar.update(task, completed=figure(phase))
            if figure(phase) >= total or any(w.get("status") == "stopped" for w in phase.get("waves", [])):
                break
            time.sleep(POLL_INTERVAL_S)
    return phase


def _tranche(phase: dict[str, Any], k: int) -> int:
    entries = phase.get("credits_per_tranche") or []
    return int(entries[k - 1]["credited_count"]) if len(entries) >= k else 0


def run(url: str, citizens: int = CITIZENS_DEFAULT, waves: int = WAVES_DEFAULT, workers: int = WORKERS_DEFAULT,
        timeout_s: int = ACTIVATION_TIMEOUT_S, console: Console | None = None,
        clock_file: str | None = None) -> bool:
    """Run the scenario against the API at ``url``; True when every check passed."""
    console = console or Console()
    clock = _Clock(clock_file, console)
    api = Api(url)
    run_id = f"{random.randrange(16**6):06x}"
    phase_id = f"phase3-{run_id}"
    base = random.randrange(CID_SPACE - citizens)
    operator = tokens.mint("operator", {"mfa": True})
    now = clock.now()
    # Registration open for 20 days; the waves start within seconds, while
    # citizens are still registering; tranche 2 thirty days after each wave.
    opens, closes = now - timedelta(minutes=1), now + timedelta(days=CLOSE_AFTER_DAYS)
    wave_times = [now + timedelta(seconds=WAVE_START_S + WAVE_SPACING_S * i) for i in range(waves)]

    console.rule(f"[bold]Phase {phase_id}: {citizens} citizens, {waves} waves, 2 tranches, on {url}")
    api.call("PUT", f"/v1/admin/phases/{phase_id}", operator,
             _phase_body(f"Phase 3 scenario {run_id}", opens, closes, wave_times, citizens), expect=(200, 201))
    console.print(f"phase saved: registration open until {_iso(closes)}, waves from {_iso(wave_times[0])}, "
                  f"tranches {TRANCHE_1:,} + {TRANCHE_2:,} satang (+{TRANCHE_2_AFTER_DAYS} days), "
                  f"expiry after {EXPIRES_AFTER_DAYS} days")

    people = []
    for i in range(citizens):
        cid = valid_cid(base + i)
        people.append(tokens.mint("citizen", {"cid": cid, "birth_date": BIRTH_DATES[i % len(BIRTH_DATES)],
                                              "district": DISTRICT, "nationality": "TH"}))
    early, late = people[: citizens // 2], people[citizens // 2:]

    def register(group: list[str], label: str) -> list[str]:
        with _progress(console) as bar:
            task = bar.add_task(label, total=len(group))
            results = _parallel(workers, group, lambda token: api.call(
                "POST", "/v1/registrations", token, {"phase_id": phase_id, "consent": True}, expect=(200, 201)),
                lambda: bar.advance(task))
        return [group[i] for i, r in enumerate(results) if r.get("status") == "accepted"]

    accepted = register(early, "registering (first half)")
    while clock.now() < wave_times[-1]:
        time.sleep(0.5)
    api.call("POST", f"/v1/admin/phases/{phase_id}/activate", operator, {}, expect=(202,))
    console.print("every wave is due, registration still open: the operator activates once; "
                  "the second half registers late and nobody calls activate again")
    late_accepted = register(late, "registering late (after the waves' time)")
    accepted += late_accepted
    deadline = time.monotonic() + timeout_s
    phase = _follow(console, api, operator, phase_id, "tranche 1 credited (late ones by the schedule)",
                    len(accepted), lambda p: _tranche(p, 1), deadline)
    open_statuses = {w.get("status") for w in phase.get("waves", [])}

    clock.advance(timedelta(days=CLOSE_AFTER_DAYS + 1))  # registration closed: the final sweeps
    clock.advance(timedelta(days=TRANCHE_2_AFTER_DAYS - CLOSE_AFTER_DAYS))  # tranche 2 is due
    phase = _follow(console, api, operator, phase_id, "tranche 2 credited", len(accepted),
                    lambda p: _tranche(p, 2), deadline)
    phase = _follow(console, api, operator, phase_id, "waves done", waves,
                    lambda p: sum(1 for w in p.get("waves", []) if w.get("status") == "done"), deadline)
    with _progress(console) as bar:
        task = bar.add_task("checking wallets", total=len(accepted))
        wallets = _parallel(workers, accepted, lambda token: api.call("GET", "/v1/wallet", token),
                            lambda: bar.advance(task))
    credited_once = sum(1 for w in wallets if w.get("balance_satang") == AMOUNT_SATANG
                        and w.get("credited_satang") == AMOUNT_SATANG and w.get("status") == "active")
    credited = dict(phase)

    clock.advance(timedelta(days=EXPIRES_AFTER_DAYS + 1))  # every wallet past its expiry
    phase = _follow(console, api, operator, phase_id, "returned to the treasury (satang / 10,000)",
                    len(accepted) * AMOUNT_SATANG // 10_000, lambda p: int(p.get("expired_satang", 0)) // 10_000,
                    deadline)
    expired = api.call("GET", "/v1/wallet", accepted[-1]) if accepted else {}
    summary = settled(lambda: api.call("GET", "/v1/admin/ledger/summary", operator))
    waves_shown = phase.get("waves", [])
    held = phase.get("credited_satang", 0) - phase.get("spent_satang", 0) - phase.get("expired_satang", 0)

    checks = [
        ("waves ran while registration was open", ", ".join(sorted(s for s in open_statuses if s)),
         open_statuses == {"running"}),
        ("late registrants credited without activate", f"{len(late_accepted)} late, "
                                                      f"{_tranche(credited, 1)} / {len(accepted)} credited",
         _tranche(credited, 1) == len(accepted)),
        ("every accepted citizen credited once per tranche", f"{credited_once} / {len(accepted)}",
         credited_once == len(accepted)),
        ("accepted counter", f"{credited.get('accepted')} (registered {credited.get('registered')})",
         credited.get("accepted") == len(accepted) and credited.get("registered") == citizens),
        ("credited_count (citizens)", str(credited.get("credited_count")),
         credited.get("credited_count") == len(accepted)),
        ("credits per tranche", ", ".join(f"{e['tranche']}:{e['credited_count']}"
                                          for e in credited.get("credits_per_tranche", [])),
         _tranche(credited, 1) == _tranche(credited, 2) == len(accepted)),
        ("credited_satang", f"{credited.get('credited_satang', 0):,}",
         credited.get("credited_satang") == len(accepted) * AMOUNT_SATANG),
        ("waves done", ", ".join(f"{w.get('wave')}:{w.get('status')}:{w.get('credited_count')}" for w in waves_shown),
         all(w.get("status") == "done" for w in waves_shown) and len(waves_shown) == waves),
        ("wave counts add up", str(sum(w.get("credited_count", 0) for w in waves_shown)),
         sum(w.get("credited_count", 0) for w in waves_shown) == len(accepted)),
        ("expired: all returned once", f"{phase.get('expired_satang', 0):,} satang, wallet {expired.get('status')}",
         phase.get("expired_satang") == len(accepted) * AMOUNT_SATANG and expired.get("status") == "expired"),
        # What the phase's wallets hold: nothing, once everything expired.
        ("progress = ledger", f"credited - spent - expired = {held:,}", held == 0),
        ("ledger balanced", f"funded {summary.get('funded_satang', 0):,} = treasury "
                            f"{summary.get('treasury_satang', 0):,} + wallets {summary.get('wallets_satang', 0):,} "
                            f"+ returned {summary.get('returned_satang', 0):,} + ...",
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
    parser.add_argument("--url", default=None,
                        help="the API (default: the running stack's, from .devstack/stack.json)")
    parser.add_argument("--citizens", type=int, default=CITIZENS_DEFAULT)
    parser.add_argument("--waves", type=int, default=WAVES_DEFAULT)
    parser.add_argument("--workers", type=int, default=WORKERS_DEFAULT, help="concurrent HTTP clients")
    parser.add_argument("--timeout-s", type=int, default=ACTIVATION_TIMEOUT_S)


def main(args: argparse.Namespace) -> int:
    stack = state.running()  # None: it said why on stderr
    if stack is None:
        return 1
    url = args.url or stack.api_url
    print(f"# stack {stack.api_url} (stage {stack.stage}, pid {stack.pid}); calling {url}", file=sys.stderr)
    ok = run(url, args.citizens, args.waves, args.workers, args.timeout_s, clock_file=stack.clock_file or None)
    return 0 if ok else 1
