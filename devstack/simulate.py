"""``python -m devstack simulate``: a launch day rehearsed against the running stack.

Over HTTP only, as Tang Rat, the registration points, the shops, the banks'
side and the operations console would call it (``--url``, default the stack
of ``.devstack/stack.json``), with rich progress bars per stage:

1. setup: the operator defines the phase (waves far ahead), lists the shops in
   the merchant reference data (small shops in four districts and a few large
   wholesalers on three banks) and the owners register them;
2. registration: N citizens arrive in a launch-day burst (arrival times drawn
   from a decaying exponential: most in the first minutes, faster than the
   stack can take them, so a queue builds as it did in 2024); a share at
   registration points (a registrar, a wallet card with a PIN), and the
   refusals in realistic shares (outside the cohort, not Thai) and some
   citizens tapping twice;
3. activation: registration closes, the waves are set a few seconds apart,
   the operator asks for activation, crediting is followed to the end;
4. round 1: citizens pay shops by QR (and card holders by card), amounts from
   a long-tailed distribution of baht, mostly in their own district, with
   rule violations in realistic shares (another district, a restricted
   category, more than the balance) and duplicate taps (the same
   Idempotency-Key twice); half-way an operator pauses one district's
   payments and resumes them, and the paused payments are retried;
5. round 2: shops pay the wholesalers (a few busy ones take most);
6. cash-outs: the wholesalers withdraw; one bank goes down (the operator
   pauses withdrawals to it: 503 paused) and comes back (resumed; the
   withdrawals are retried);
7. the invariants, checked at quiescence from the API: ledger balanced,
   money conserved against the run's own books, every accepted citizen
   credited once, every shop's balance equal to the payments made to it
   (no transfer twice), every payout listed once and accounted, every
   violation refused, no 5xx, no unexplained alert, pauses scoped.

Every call is timed; a sampler reads the ledger summary and the queue depths
meanwhile. The report is printed and written as one self-contained HTML page
(``--report``, plots embedded as PNG, devstack/simreport.py). ``--seed`` fixes
every choice (shares, amounts, districts, arrival times); the ids of a run are
fresh, so that it can run again on the same stack. Exit 1 when an invariant
fails. Each stage has a time budget, so a run is bounded in time.
"""
from __future__ import annotations

import argparse
import itertools
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from stdnum.th import pin as thai_pin

from chalicelib.limits import RATE_WINDOW_S, REGISTRAR_ACTIONS_PER_POINT_PER_WINDOW_MAX
from devstack import env, simreport, state, tokens
from devstack.scenario import valid_cid
from devstack.settled import settled as settled_summary

__all__ = ["CITIZENS_DEFAULT", "Options", "Outcome", "add_arguments", "main", "run"]

CITIZENS_DEFAULT = 20_000
SEED_DEFAULT = 13
WORKERS_DEFAULT = 8
AMOUNT_SATANG = 1_000_000
HTTP_TIMEOUT_S = 30
WAVES = 3
# The waves come due while registration is open, during the launch burst:
# the first this long after the setup, the next ones WAVE_DUE_SPACING_S apart.
# Whoever is accepted after their wave's time is credited by the schedule.
FIRST_WAVE_DUE_S = 30
WAVE_DUE_SPACING_S = 30
ACTIVATION_TIMEOUT_S = 600
# Districts of the citizens and their shops, with the share of citizens in each.
DISTRICTS = {"1001": 0.40, "1002": 0.25, "5001": 0.20, "5002": 0.15}
# Registration points: a point acts for at most
# limits.REGISTRAR_ACTIONS_PER_POINT_PER_WINDOW_MAX citizens a minute, and a
# district opens enough of them for its share of the assisted citizens (1 in
# 20) to be served within POINT_LOAD of the arrival window at that pace (the
# burst comes early: its first minutes still queue, and some desks are told
# to wait). Each point is one desk, serving its queue in turn.
POINT_LOAD = 0.5
POINTS_PER_DISTRICT_MIN = 2
# A registrar told to wait (429, Retry-After) waits and tries again, this often at most.
REGISTRAR_RETRIES = 3
PAUSED_DISTRICT = "1002"
IN_COHORT = ("2005-01-15", "2006-06-30", "2007-11-02", "2008-09-16", "2004-09-16")
OUT_OF_COHORT = "1990-01-01"
RESTRICTED = ["lottery", "alcohol", "tobacco", "cannabis_kratom", "gift_cards_vouchers", "gold_gems",
              "fuel_gas", "electronics", "services", "online"]
CATEGORIES = ["groceries", "food", "restaurant", "household", "clothing", "pharmacy"]
# Shares of the registrations and of round 1's attempts that break a rule.
SHARE_ASSISTED = 0.05
ASSISTED_EVERY = round(1 / SHARE_ASSISTED)  # every 20th citizen, at a registration point
SHARE_OUTSIDE_COHORT = 0.03
SHARE_NOT_THAI = 0.01
SHARE_TAP_TWICE = 0.02
SHARE_OTHER_DISTRICT = 0.05
SHARE_RESTRICTED = 0.03
SHARE_OVER_BALANCE = 0.01
SHARE_DUPLICATE_TAP = 0.02
SHARE_WRONG_PIN = 0.10  # of card payments
# A wholesaler's balances in this many items (CAPACITY.md, round 2: a
# national distributor's busiest hour), as the operator sets it.
WHOLESALER_SHARDS = 8
# Wholesalers: bank and the share of round 2's payments each receives.
WHOLESALERS = (("004", 0.6), ("014", 0.3), ("002", 0.1))
OUTAGE_BANK = "014"
SHOP_BANK = "006"
CITIZENS_PER_SHOP = 100
PAYMENTS_PER_CITIZEN = 0.25
SUMMARY_INTERVAL_S = 5.0
QUEUE_INTERVAL_S = 2.0


@dataclass(frozen=True)
class Options:
    url: str
    citizens: int = CITIZENS_DEFAULT
    seed: int = SEED_DEFAULT
    report: Path | None = None
    workers: int = WORKERS_DEFAULT
    payments_per_citizen: float = PAYMENTS_PER_CITIZEN
    # Time budgets: a stage that runs out stops and says so (bounded run).
    registration_budget_s: float = 480.0
    round1_budget_s: float = 180.0
    round2_budget_s: float = 60.0
    # Launch-day arrivals offered over this window (default: N / 60 s, at least 10 s).
    burst_window_s: float | None = None
    first_wave_due_s: float = FIRST_WAVE_DUE_S  # after the setup; the next waves WAVE_DUE_SPACING_S apart
    # How long the banks (the stack's simulator) have to answer every payout
    # of the run; 0: the stack has no bank answering, payouts may stay in flight.
    payout_wait_s: float = 300.0
    # How long a switch takes to reach every API process (chalicelib.switches.SWITCH_CACHE_TTL_S + 1).
    switch_settle_s: float = 6.0
    waves: int = WAVES
    # Queue depths: the stack's SQS (from .devstack/stack.json) when known.
    sqs_endpoint: str | None = None
    stage: str | None = None
    stack_note: str = ""


@dataclass
class Call:
    t: float
    op: str
    status: int
    code: str | None
    ms: float


@dataclass
class Check:
    name: str
    value: str
    ok: bool


@dataclass
class Outcome:
    ok: bool
    checks: list[Check]
    calls: list[Call]
    summaries: list[tuple[float, dict[str, Any]]]
    queues: list[tuple[float, dict[str, int]]]
    stages: list[tuple[str, float, float, str]]
    notes: list[str]
    options: Options
    started_at: str
    duration_s: float
    report_path: Path | None = None
    counts: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Every HTTP call: when, which operation, status, error code, latency."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.start

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None


class Api:
    """HTTP to the stack, one keep-alive session per thread, every call recorded."""

    def __init__(self, url: str, recorder: Recorder) -> None:
        self.url = url.rstrip("/")
        self.recorder = recorder
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def call(self, op: str, method: str, path: str, token: str, body: Any = None,
             key: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        t0 = time.monotonic()
        try:
            response = self._session().request(method, f"{self.url}{path}", json=body, headers=headers,
                                               timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            self.recorder.add(Call(t0 - self.recorder.start, op, 0, type(exc).__name__,
                                   (time.monotonic() - t0) * 1000))
            return Reply(0, {"error": {"code": type(exc).__name__, "message": str(exc)}}, {})
        ms = (time.monotonic() - t0) * 1000
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = {"error": {"code": "not_json", "message": response.text[:200]}}
        reply = Reply(response.status_code, payload, {k.lower(): v for k, v in response.headers.items()})
        self.recorder.add(Call(t0 - self.recorder.start, op, reply.status, reply.code, ms))
        return reply


# -- the people of the run ---------------------------------------------------------

@dataclass
class Citizen:
    cid: str
    district: str
    birth_date: str
    nationality: str
    assisted: bool
    token: str = ""
    status: str = ""  # accepted / rejected / failed
    card_code: str | None = None
    pin: str | None = None
    spent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Shop:
    tax_id: str
    owner_cid: str
    district: str
    size_class: str
    bank_code: str
    name: str
    token: str = ""
    merchant_id: str = ""
    received1: int = 0  # round 1, into spendable
    paid2: int = 0  # round 2, out of spendable
    received2: int = 0  # round 2, into withdrawable
    withdrawn: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Attempt:
    """One planned round 1 payment: who, where, what kind (a rule broken or not)."""
    index: int
    citizen: Citizen
    shop: Shop
    kind: str
    category: str
    amount: int
    wrong_pin: bool
    key: str


def _tax_id(n: int) -> str:
    body = f"0{n % 10**11:011d}"
    return body + thai_pin.calc_check_digit(body)


def _owner_cid(n: int) -> str:
    body = f"3{n % 10**11:011d}"
    return body + thai_pin.calc_check_digit(body)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pin(rng: random.Random) -> str:
    while True:
        digits = "".join(str(rng.randrange(10)) for _ in range(6))
        steps = {int(b) - int(a) for a, b in itertools.pairwise(digits)}
        if len(set(digits)) > 1 and steps not in ({1}, {-1}):
            return digits


def amount_satang(rng: random.Random, cap: int | None = None) -> int:
    """A sale in baht, long-tailed: median ~60 baht, 1 in 100 above ~600."""
    baht = min(5000.0, max(5.0, rng.lognormvariate(math.log(60), 1.0)))
    satang = round(baht) * 100 + rng.choice((0, 0, 0, 0, 25, 50, 75))
    return min(satang, cap) if cap is not None else satang


def arrival_times(rng: random.Random, count: int, window_s: float, decay: float = 4.0) -> list[float]:
    """Launch-day arrivals: a truncated exponential over the window, most
    in its first part (e^-4: 98% of the arrivals in the window's first ~70%)."""
    norm = 1 - math.exp(-decay)
    return sorted(-math.log(1 - rng.random() * norm) / decay * window_s for _ in range(count))


def _phase_body(name: str, opens: datetime, closes: datetime, waves: list[datetime], citizens: int) -> dict[str, Any]:
    return {
        "name": name, "kind": "wallet",
        "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16", "exclusion_lists": [],
        "registration_opens_at": _iso(opens), "registration_closes_at": _iso(closes),
        "amount_satang": AMOUNT_SATANG, "tranches": [{"amount_satang": AMOUNT_SATANG, "after_days": 0}],
        "waves": [{"activate_at": _iso(t)} for t in waves], "expires_after_days": 180,
        "spending_scope": "district", "allowed_size_classes": ["small"],
        "restricted_categories": RESTRICTED, "budget_satang": citizens * AMOUNT_SATANG, "payout_bank_code": None,
    }


# -- the sampler ---------------------------------------------------------------------

class Sampler(threading.Thread):
    """The ledger summary (every few seconds, slower when the summary itself
    is slow) and the depth of every queue of the stage."""

    def __init__(self, api: Api, operator: str, recorder: Recorder, sqs_endpoint: str | None,
                 stage: str | None) -> None:
        super().__init__(daemon=True, name="sampler")
        self.api, self.operator, self.recorder = api, operator, recorder
        self.summaries: list[tuple[float, dict[str, Any]]] = []
        self.queues: list[tuple[float, dict[str, int]]] = []
        self._halt = threading.Event()
        self._sqs: Any = None
        self._prefix = f"wallet-{stage}-" if stage else ""
        self._queue_urls: list[str] = []
        if sqs_endpoint and stage:
            creds = env.dummy_aws()
            self._sqs = boto3.client("sqs", endpoint_url=sqs_endpoint, region_name=env.LOCAL_REGION,
                                     aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                                     aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])

    def summary_now(self) -> dict[str, Any]:
        reply = self.api.call("ledger summary", "GET", "/v1/admin/ledger/summary", self.operator)
        body = reply.body if reply.status == 200 and isinstance(reply.body, dict) else {}
        self.summaries.append((self.recorder.now(), body))
        return body

    def _depths(self) -> None:
        if self._sqs is None:
            return
        try:
            if not self._queue_urls:
                listed = self._sqs.list_queues(QueueNamePrefix=self._prefix).get("QueueUrls", [])
                self._queue_urls = sorted(listed)
            depths = {}
            for url in self._queue_urls:
                attrs = self._sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                  "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
                depths[url.rsplit("/", 1)[-1].removeprefix(self._prefix)] = (
                    int(attrs.get("ApproximateNumberOfMessages", 0))
                    + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)))
            self.queues.append((self.recorder.now(), depths))
        except Exception:
            pass

    def run(self) -> None:
        next_summary = 0.0
        while not self._halt.is_set():
            self._depths()
            if time.monotonic() >= next_summary:
                t0 = time.monotonic()
                self.summary_now()
                took = time.monotonic() - t0
                # A slow summary (a scan) is read less often: at most ~10% of one server thread.
                next_summary = time.monotonic() + max(SUMMARY_INTERVAL_S, 10 * took)
            self._halt.wait(QUEUE_INTERVAL_S)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


# -- the run -------------------------------------------------------------------------

class Simulation:
    def __init__(self, options: Options, console: Console) -> None:
        self.o = options
        self.console = console
        self.rng = random.Random(options.seed)
        self.recorder = Recorder()
        self.api = Api(options.url, self.recorder)
        self.operator = tokens.mint("operator", {"mfa": True})
        # A citizen without a smartphone registers at a point of their own
        # district (citizen index -> the point's registrar token; _desks()).
        self.registrar_of: dict[int, str] = {}
        run_id = uuid.uuid4().hex[:6]
        self.phase_id = f"sim-{options.seed}-{run_id}"
        # Fresh ids each run (a citizen benefits once across phases); the choices stay the seed's.
        ids = random.Random(f"{options.seed}:{run_id}")
        self.cid_base = ids.randrange(10**11 - options.citizens - 1)
        self.tax_base = ids.randrange(10**11 - 10_000)
        self.citizens: list[Citizen] = []
        self.shops: list[Shop] = []
        self.wholesalers: list[Shop] = []
        self.stages: list[tuple[str, float, float, str]] = []
        self.notes: list[str] = []
        self.violations: Counter[str] = Counter()  # kind -> attempts
        self.violations_accepted: Counter[str] = Counter()
        self.paused_seen: Counter[str] = Counter()  # scope -> 503 paused answers
        self.paused_outside: int = 0
        self.replays_ok = 0
        self.replays_bad = 0
        self.withdrawals: dict[str, tuple[Shop, int]] = {}
        self.withdrawal_ids: dict[str, str] = {}
        self.paused_retry: list[Attempt] = []
        self._done1 = 0
        self._lock = threading.Lock()
        self.sampler = Sampler(self.api, self.operator, self.recorder, options.sqs_endpoint, options.stage)

    # helpers
    def _progress(self) -> Progress:
        return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console)

    def _stage(self, name: str, work: Callable[[], str]) -> None:
        t0 = self.recorder.now()
        self.console.rule(f"[bold]{name}")
        note = work()
        t1 = self.recorder.now()
        self.stages.append((name, t0, t1, note))
        self.console.print(f"{name}: {note} ({t1 - t0:.1f} s)")

    def _parallel(self, items: Iterable[Any], call: Callable[[Any], None], bar: Progress, task: Any,
                  deadline: float | None = None) -> int:
        """Run ``call`` over ``items`` on the workers; items not started by ``deadline`` are skipped."""
        with ThreadPoolExecutor(self.o.workers) as pool:
            return sum(future.result() for future in
                       [pool.submit(self._serial, [item], call, bar, task, deadline) for item in items])

    @staticmethod
    def _serial(items: Iterable[Any], call: Callable[[Any], None], bar: Progress, task: Any,
                deadline: float | None = None) -> int:
        """Run ``call`` over ``items`` one after another; how many were skipped (not started by ``deadline``)."""
        skipped = 0
        for item in items:
            if deadline is not None and time.monotonic() > deadline:
                skipped += 1
            else:
                call(item)
            bar.advance(task)
        return skipped

    def _switch(self, operation: str, state_: str, scope: str, reason: str) -> None:
        reply = self.api.call("switch", "PUT", "/v1/admin/switches", self.operator,
                              {"operation": operation, "state": state_, "scope": scope, "reason": reason})
        if reply.status != 200:
            self.notes.append(f"switch {operation} {state_} {scope}: {reply.status} {reply.code}")

    # 1. setup
    def setup(self) -> str:
        rng = self.rng
        now = datetime.now(UTC)
        self.waves_at = [now + timedelta(seconds=self.o.first_wave_due_s + WAVE_DUE_SPACING_S * i)
                         for i in range(self.o.waves)]
        self._now = now
        reply = self.api.call("define phase", "PUT", f"/v1/admin/phases/{self.phase_id}", self.operator,
                              _phase_body(f"Launch rehearsal {self.phase_id}", now - timedelta(minutes=1),
                                          now + timedelta(days=30), self.waves_at, self.o.citizens))
        if reply.status not in (200, 201):
            raise RuntimeError(f"the phase was refused: {reply.status} {reply.body}")
        small = max(len(DISTRICTS) * 2, self.o.citizens // CITIZENS_PER_SHOP)
        districts = list(DISTRICTS)
        for i in range(small):
            n = self.tax_base + i
            district = districts[i % len(districts)]
            self.shops.append(Shop(_tax_id(n), _owner_cid(n), district, "small", SHOP_BANK, f"Shop {i} {district}"))
        for j, (bank, _share) in enumerate(WHOLESALERS):
            n = self.tax_base + small + j
            self.wholesalers.append(Shop(_tax_id(n), _owner_cid(n), districts[j % len(districts)], "large", bank,
                                         f"Wholesaler {j} bank {bank}"))
        everyone = self.shops + self.wholesalers
        for start in range(0, len(everyone), 500):
            chunk = everyone[start:start + 500]
            reply = self.api.call("merchant reference", "POST", "/v1/admin/merchant-reference", self.operator,
                                  {"merchants": [{"tax_id": s.tax_id, "size_class": s.size_class,
                                                  "tax_compliant": True,
                                                  **({"balance_shards": WHOLESALER_SHARDS}
                                                     if s.size_class == "large" else {})} for s in chunk]})
            if reply.status != 200:
                raise RuntimeError(f"the merchant reference was refused: {reply.status} {reply.body}")

        def register(shop: Shop) -> None:
            shop.token = tokens.mint("merchant", {"cid": shop.owner_cid})
            body = {"name": shop.name, "tax_id": shop.tax_id, "business_type": "retail",
                    "size_class": shop.size_class, "district": shop.district,
                    "location": {"lat": 13.75, "lon": 100.5},
                    "bank": {"bank_code": shop.bank_code, "account_no": f"{rng_local.randrange(10**10):010d}"}}
            reply = self.api.call("register shop", "POST", "/v1/merchants", shop.token, body)
            if reply.status == 201 and isinstance(reply.body, dict):
                shop.merchant_id = reply.body["merchant_id"]

        rng_local = random.Random(rng.random())
        with self._progress() as bar:
            task = bar.add_task("shops", total=len(everyone), info="")
            self._parallel(everyone, register, bar, task)
        missing = [s.name for s in everyone if not s.merchant_id]
        if missing:
            raise RuntimeError(f"{len(missing)} shops could not register, e.g. {missing[:3]}")
        return f"phase {self.phase_id}, {small} shops in {len(DISTRICTS)} districts, {len(WHOLESALERS)} wholesalers"

    # 2. registration
    def _people(self) -> None:
        rng = self.rng
        districts, weights = list(DISTRICTS), list(DISTRICTS.values())
        for i in range(self.o.citizens):
            roll = rng.random()
            birth = OUT_OF_COHORT if roll < SHARE_OUTSIDE_COHORT else rng.choice(IN_COHORT)
            assisted = i % ASSISTED_EVERY == ASSISTED_EVERY // 2
            # A registration point serves holders of a Thai ID card (the card
            # shows the nationality; the request has no field for it): the
            # people of other nationalities try the app, whose token says it.
            foreign = SHARE_OUTSIDE_COHORT <= roll < SHARE_OUTSIDE_COHORT + SHARE_NOT_THAI and not assisted
            nationality = "MM" if foreign else "TH"
            citizen = Citizen(valid_cid(self.cid_base + i), rng.choices(districts, weights)[0], birth, nationality,
                              assisted=assisted)
            citizen.token = tokens.mint("citizen", {"cid": citizen.cid, "birth_date": birth,
                                                    "district": citizen.district, "nationality": nationality})
            if citizen.assisted:
                citizen.pin = _pin(rng)
            self.citizens.append(citizen)

    def _desks(self, window_s: float) -> list[list[int]]:
        """The registration points' queues (citizen indices in arrival order),
        each point's registrar token in ``registrar_of``."""
        per_point = REGISTRAR_ACTIONS_PER_POINT_PER_WINDOW_MAX * window_s / RATE_WINDOW_S * POINT_LOAD
        desks: list[list[int]] = []
        for district in DISTRICTS:
            queue = [i for i, c in enumerate(self.citizens) if c.assisted and c.district == district]
            points = max(POINTS_PER_DISTRICT_MIN, math.ceil(len(queue) / per_point))
            for k in range(points):
                token = tokens.mint("registrar", {"point_id": f"point-{district}-{k + 1:02d}",
                                                  "sub": f"sim-registrar-{district}-{k + 1:02d}"})
                desks.append(queue[k::points])
                self.registrar_of.update(dict.fromkeys(desks[-1], token))
        return [desk for desk in desks if desk]

    def registration(self) -> str:
        self._people()
        rng = self.rng
        # Offered faster than a 2-core stack takes them, so that a queue builds.
        window = self.o.burst_window_s if self.o.burst_window_s is not None else max(10.0, self.o.citizens / 60.0)
        arrivals = arrival_times(rng, self.o.citizens, window)
        taps = {i for i in range(self.o.citizens) if rng.random() < SHARE_TAP_TWICE}
        t_start = time.monotonic()
        deadline = t_start + self.o.registration_budget_s

        def register(index: int) -> None:
            citizen = self.citizens[index]
            wait = t_start + arrivals[index] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if citizen.assisted:
                body = {"phase_id": self.phase_id, "cid": citizen.cid, "birth_date": citizen.birth_date,
                        "district": citizen.district, "consent": True, "pin": citizen.pin}
                registrar = self.registrar_of[index]
                for _attempt in range(REGISTRAR_RETRIES + 1):
                    reply = self.api.call("assisted registration", "POST", "/v1/assisted-registrations",
                                          registrar, body)
                    if reply.status != 429 or time.monotonic() >= deadline:
                        break
                    time.sleep(min(float(reply.headers.get("retry-after", "5")), 60.0))
            else:
                reply = self.api.call("registration", "POST", "/v1/registrations", citizen.token,
                                      {"phase_id": self.phase_id, "consent": True})
            if reply.status in (200, 201) and isinstance(reply.body, dict):
                citizen.status = str(reply.body.get("status"))
                citizen.card_code = reply.body.get("card_code") or None
                expected = "rejected" if (citizen.birth_date == OUT_OF_COHORT or citizen.nationality != "TH") \
                    else "accepted"
                if citizen.status != expected:
                    # Counted under the violation's own name, so the check names it.
                    self.violations_accepted["registration outside cohort / not Thai" if expected == "rejected"
                                             else "registration of an eligible citizen refused"] += 1
            else:
                citizen.status = "failed"
            if index in taps and not citizen.assisted:
                again = self.api.call("registration", "POST", "/v1/registrations", citizen.token,
                                      {"phase_id": self.phase_id, "consent": True})
                same = again.status == 200 and isinstance(again.body, dict) and \
                    again.body.get("status") == citizen.status
                self.replays_ok += same
                self.replays_bad += not same

        # A registration point's desk serves its own queue, one citizen after
        # another: told to wait (429), it waits, and only its queue waits with
        # it; the people registering in the app meanwhile go on on the workers.
        desks = self._desks(window)
        in_app = [i for i, c in enumerate(self.citizens) if not c.assisted]
        with self._progress() as bar:
            task = bar.add_task("registering", total=self.o.citizens, info="")
            with ThreadPoolExecutor(max(1, len(desks))) as points:
                queues = [points.submit(self._serial, queue, register, bar, task, deadline) for queue in desks]
                skipped = self._parallel(in_app, register, bar, task, deadline)
                skipped += sum(queue.result() for queue in queues)
        self.violations["registration outside cohort / not Thai"] = sum(
            1 for c in self.citizens if c.birth_date == OUT_OF_COHORT or c.nationality != "TH")
        counts = Counter(c.status or "not sent" for c in self.citizens)
        if skipped:
            self.notes.append(f"registration budget ({self.o.registration_budget_s:.0f} s) ran out: "
                              f"{skipped} citizens not sent")
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))

    # 3. activation
    def _phase_progress(self, phase: dict[str, Any]) -> dict[str, Any]:
        reply = self.api.call("phase progress", "GET", f"/v1/admin/phases/{self.phase_id}", self.operator)
        return reply.body if reply.status == 200 and isinstance(reply.body, dict) else phase

    def activation(self) -> str:
        """The waves came due during the registration burst: the schedule
        credits while registration is open (late registrants within about a
        minute). Once everyone accepted is credited, the operator closes
        registration and the waves' final sweeps make them ``done``."""
        accepted = sum(1 for c in self.citizens if c.status == "accepted")
        deadline = time.monotonic() + ACTIVATION_TIMEOUT_S
        phase: dict[str, Any] = self._phase_progress({})
        self.notes.append(f"waves running while registration was open: {phase.get('credited_count', 0)} of "
                          f"{accepted} accepted citizens credited when the registration burst ended")
        # One activate while registration is open, as an operator would (the schedule does the rest).
        self.api.call("activate", "POST", f"/v1/admin/phases/{self.phase_id}/activate", self.operator, {})
        closed: datetime | None = None
        with self._progress() as bar:
            task = bar.add_task("crediting", total=max(1, accepted), info="")
            waves = bar.add_task("waves done", total=self.o.waves, info="")
            while time.monotonic() < deadline:
                phase = self._phase_progress(phase)
                statuses = [w.get("status") for w in phase.get("waves", [])]
                bar.update(task, completed=phase.get("credited_count", 0))
                bar.update(waves, completed=statuses.count("done"))
                if statuses.count("done") == self.o.waves or "stopped" in statuses:
                    break
                if closed is None and phase.get("credited_count", 0) >= accepted:
                    closed = self._close_registration()
                time.sleep(1.0)
        self.phase = phase
        return f"credited {phase.get('credited_count')} of {accepted} accepted, waves " + ", ".join(
            f"{w.get('wave')}:{w.get('status')}" for w in phase.get("waves", []))

    def _close_registration(self) -> datetime:
        closed = datetime.now(UTC)
        reply = self.api.call("define phase", "PUT", f"/v1/admin/phases/{self.phase_id}", self.operator,
                              _phase_body(f"Launch rehearsal {self.phase_id}", self._now - timedelta(minutes=1),
                                          closed, self.waves_at, self.o.citizens))
        if reply.status != 200:
            raise RuntimeError(f"closing registration was refused: {reply.status} {reply.body}")
        self.notes.append(f"registration closed at {self.recorder.now():.0f} s; the waves' final sweeps follow")
        return closed

    # 4. round 1
    def _shop_in(self, district: str) -> Shop:
        return self.rng.choice([s for s in self.shops if s.district == district])

    def _round1_plan(self, payers: list[Citizen]) -> list[Attempt]:
        rng = self.rng
        plan = []
        edges = list(itertools.accumulate((SHARE_OTHER_DISTRICT, SHARE_RESTRICTED, SHARE_OVER_BALANCE,
                                           SHARE_DUPLICATE_TAP)))
        for index in range(int(len(payers) * self.o.payments_per_citizen) if payers else 0):
            citizen = rng.choice(payers)
            kinds = ("other district", "restricted category", "over balance", "duplicate tap")
            roll = rng.random()
            kind = next((k for k, edge in zip(kinds, edges, strict=True) if roll < edge), "ok")
            district = citizen.district if kind != "other district" else \
                rng.choice([d for d in DISTRICTS if d != citizen.district])
            category = rng.choice(RESTRICTED) if kind == "restricted category" else rng.choice(CATEGORIES)
            plan.append(Attempt(index, citizen, self._shop_in(district), kind, category, amount_satang(rng),
                                rng.random() < SHARE_WRONG_PIN, f"{self.phase_id}-r1-{index}"))
        return plan

    def _send_payment(self, a: Attempt, amount: int) -> tuple[Reply, dict[str, Any] | None]:
        """A card payment (the shop's terminal) or a QR shown by the shop and paid in the app."""
        if a.citizen.card_code is not None:
            pin = a.citizen.pin if not a.wrong_pin else "000001"
            body = {"card_code": a.citizen.card_code, "pin": pin, "amount_satang": amount, "category": a.category}
            return self.api.call("card payment", "POST", "/v1/card-payments", a.shop.token, body, key=a.key), None
        qr = self.api.call("create QR", "POST", "/v1/merchants/me/qr", a.shop.token, {"amount_satang": amount})
        if qr.status != 201:
            return qr, None
        body = {"qr": qr.body["qr"], "category": a.category}
        return self.api.call("QR payment", "POST", "/v1/payments", a.citizen.token, body, key=a.key), body

    def _pay1(self, a: Attempt, retry: bool = False) -> None:
        with a.citizen.lock:
            if a.kind == "over balance":
                amount = AMOUNT_SATANG - a.citizen.spent + 100
            elif a.amount > AMOUNT_SATANG - a.citizen.spent:
                return  # the citizen would not try: the app shows the balance
            else:
                amount = a.amount
            reply, body = self._send_payment(a, amount)
            if reply.status == 503 and reply.code == "paused":
                with self._lock:
                    # A district's pause covers its citizens and its shops.
                    self.paused_seen[f"district:{PAUSED_DISTRICT}"] += 1
                    self.paused_outside += PAUSED_DISTRICT not in (a.shop.district, a.citizen.district)
                    self.paused_retry.append(a)
                return
            violation = "wrong PIN" if a.wrong_pin and a.citizen.card_code is not None else a.kind
            if violation not in ("ok", "duplicate tap") and not retry:
                with self._lock:
                    self.violations[violation] += 1
                    self.violations_accepted[violation] += reply.status == 201
            if reply.status != 201 or (violation not in ("ok", "duplicate tap") and not retry):
                return
            a.citizen.spent += amount
            with a.shop.lock:
                a.shop.received1 += amount
            if a.kind == "duplicate tap" and body is not None:
                again = self.api.call("QR payment", "POST", "/v1/payments", a.citizen.token, body, key=a.key)
                good = again.status == 201 and again.headers.get("idempotent-replayed") == "true"
                with self._lock:
                    self.replays_ok += good
                    self.replays_bad += not good

    def _tick1(self, total: int) -> None:
        """An operator pauses one district's payments at 40% of round 1 and resumes them at 60%."""
        with self._lock:
            self._done1 += 1
            done = self._done1
        if done == int(total * 0.4):
            self._switch("payments", "paused", f"district:{PAUSED_DISTRICT}", "rehearsal: district incident")
            self.notes.append(f"payments paused in district {PAUSED_DISTRICT} at {self.recorder.now():.0f} s")
        elif done == int(total * 0.6):
            self._switch("payments", "on", f"district:{PAUSED_DISTRICT}", "rehearsal: incident over")
            self.notes.append(f"payments resumed in district {PAUSED_DISTRICT} at {self.recorder.now():.0f} s")

    def round1(self) -> str:
        plan = self._round1_plan([c for c in self.citizens if c.status == "accepted"])
        self._done1 = 0
        deadline = time.monotonic() + self.o.round1_budget_s

        def pay(a: Attempt) -> None:
            self._pay1(a)
            self._tick1(len(plan))

        with self._progress() as bar:
            task = bar.add_task("round 1 payments", total=len(plan), info="")
            skipped = self._parallel(plan, pay, bar, task, deadline)
        if self._done1 < int(len(plan) * 0.6):
            self._switch("payments", "on", f"district:{PAUSED_DISTRICT}", "rehearsal: incident over")
        if self.paused_retry:
            time.sleep(self.o.switch_settle_s)  # past the switches' cache
            with self._progress() as bar:
                task = bar.add_task("retrying paused payments", total=len(self.paused_retry), info="")
                self._parallel(list(self.paused_retry), lambda a: self._pay1(a, retry=True), bar, task)
        if skipped:
            self.notes.append(f"round 1 budget ({self.o.round1_budget_s:.0f} s) ran out: {skipped} payments not made")
        paid = sum(s.received1 for s in self.shops)
        return f"{len(plan)} planned, {paid / 100:,.2f} baht paid, {len(self.paused_retry)} paused and retried"

    # 5. round 2
    def round2(self) -> str:
        rng = self.rng
        shares = [share for _bank, share in WHOLESALERS]
        plan = []
        for shop in self.shops:
            if shop.received1 <= 0:
                continue
            for _ in range(rng.choice((1, 1, 2, 3))):
                plan.append((shop, rng.choices(self.wholesalers, shares)[0], rng.uniform(0.2, 0.5)))
        deadline = time.monotonic() + self.o.round2_budget_s

        def pay(item: tuple[Shop, Shop, float]) -> None:
            shop, wholesaler, fraction = item
            with shop.lock:
                amount = int((shop.received1 - shop.paid2) * fraction)
                if amount <= 0:
                    return
                qr = self.api.call("create QR", "POST", "/v1/merchants/me/qr", wholesaler.token, {})
                if qr.status != 201:
                    return
                reply = self.api.call("merchant payment", "POST", "/v1/merchant-payments", shop.token,
                                      {"qr": qr.body["qr"], "amount_satang": amount, "category": "groceries"},
                                      key=f"{self.phase_id}-r2-{uuid.uuid4().hex[:12]}")
                if reply.status == 201:
                    shop.paid2 += amount
                    with wholesaler.lock:
                        wholesaler.received2 += amount

        with self._progress() as bar:
            task = bar.add_task("round 2 payments", total=len(plan), info="")
            skipped = self._parallel(plan, pay, bar, task, deadline)
        if skipped:
            self.notes.append(f"round 2 budget ran out: {skipped} payments not made")
        return f"{len(plan)} payments to {len(self.wholesalers)} wholesalers, " + ", ".join(
            f"{w.bank_code}: {w.received2 / 100:,.2f} baht" for w in self.wholesalers)

    # 6. cash-outs, one bank down
    def _withdraw(self, shop: Shop, amount: int, key: str) -> Reply:
        reply = self.api.call("withdrawal", "POST", "/v1/withdrawals", shop.token, {"amount_satang": amount}, key=key)
        if reply.status == 202 and isinstance(reply.body, dict):
            if key not in self.withdrawals:
                shop.withdrawn += amount
            self.withdrawals[key] = (shop, amount)
            self.withdrawal_ids[key] = reply.body["withdrawal_id"]
        return reply

    def cashouts(self) -> str:
        self._switch("withdrawals", "paused", f"bank:{OUTAGE_BANK}", "rehearsal: bank outage")
        self.notes.append(f"bank {OUTAGE_BANK} down at {self.recorder.now():.0f} s: its withdrawals paused")
        time.sleep(self.o.switch_settle_s)  # past the switches' cache
        waiting = []
        with self._progress() as bar:
            task = bar.add_task("cash-outs", total=len(self.wholesalers) * 2 + 1, info="")
            for w in self.wholesalers:
                for part in (1, 2):
                    amount = (w.received2 - w.withdrawn) // (3 - part)
                    if amount > 0:
                        key = f"{self.phase_id}-wd-{w.bank_code}-{part}"
                        reply = self._withdraw(w, amount, key)
                        if reply.status == 503:
                            self.paused_seen[f"bank:{w.bank_code}"] += 1
                            if w.bank_code != OUTAGE_BANK:
                                self.paused_outside += 1
                            waiting.append((w, amount, key))
                    bar.advance(task)
            small = next((s for s in self.shops if s.received1 > 0), self.shops[0])
            over = self.api.call("withdrawal", "POST", "/v1/withdrawals", small.token, {"amount_satang": 100},
                                 key=f"{self.phase_id}-wd-spendable")
            self.violations["withdrawal from spendable"] += 1
            self.violations_accepted["withdrawal from spendable"] += over.status == 202
            bar.advance(task)
        self._switch("withdrawals", "on", f"bank:{OUTAGE_BANK}", "rehearsal: bank back")
        self.notes.append(f"bank {OUTAGE_BANK} back at {self.recorder.now():.0f} s: {len(waiting)} withdrawals retried")
        time.sleep(self.o.switch_settle_s)
        for w, amount, key in waiting:
            self._withdraw(w, amount, key)
        total = sum(w.withdrawn for w in self.wholesalers)
        return (f"{len(self.withdrawals)} withdrawals, {total / 100:,.2f} baht; "
                f"{len(waiting)} waited for bank {OUTAGE_BANK}")

    # 7. the banks answer
    def settlement(self) -> str:
        """Wait (bounded) until the banks answered every payout of the run."""
        ours = set(self.withdrawal_ids.values())
        if not self.o.payout_wait_s or not ours:
            return "not waited for (no bank answers this stack)" if ours else "no payouts"
        deadline = time.monotonic() + self.o.payout_wait_s
        statuses: Counter[str] = Counter()
        with self._progress() as bar:
            task = bar.add_task("payouts answered", total=len(ours), info="")
            while True:
                statuses = Counter(p.get("status") for p in self._payouts() if p.get("payout_id") in ours)
                final = statuses.get("settled", 0) + statuses.get("rejected", 0)
                bar.update(task, completed=final)
                if final >= len(ours) or time.monotonic() >= deadline:
                    break
                time.sleep(2.0)
        return ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))

    # 8. invariants
    def _payouts(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(1000):
            path = "/v1/admin/payouts?limit=100" + (f"&cursor={requests.utils.quote(cursor)}" if cursor else "")
            reply = self.api.call("list payouts", "GET", path, self.operator)
            if reply.status != 200:
                self.notes.append(f"payout list: {reply.status} {reply.code}")
                break
            items += reply.body.get("items", [])
            cursor = reply.body.get("next_cursor")
            if not cursor:
                break
        return items

    def _alerts(self) -> list[dict[str, Any]]:
        reply = self.api.call("list alerts", "GET", "/v1/admin/alerts?status=open&limit=100", self.operator)
        return list(reply.body.get("items", [])) if reply.status == 200 else []

    def invariants(self, first: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        last = settled_summary(self.sampler.summary_now)  # the stream's reader caught up with the end of traffic
        checks.append(Check("ledger balanced", f"funded {last.get('funded_satang', 0):,} satang",
                            last.get("balanced") is True))
        accepted = [c for c in self.citizens if c.status == "accepted"]
        phase = self.api.call("phase progress", "GET", f"/v1/admin/phases/{self.phase_id}", self.operator).body or {}
        checks.append(Check("every accepted citizen credited once (phase counters)",
                            f"{phase.get('credited_count')} credited, {len(accepted)} accepted, "
                            f"{phase.get('credited_satang', 0):,} satang",
                            phase.get("credited_count") == len(accepted)
                            and phase.get("credited_satang") == len(accepted) * AMOUNT_SATANG))
        sample = accepted if len(accepted) <= 2000 else random.Random(self.o.seed).sample(accepted, 2000)
        wrong: list[str] = []
        lock = threading.Lock()

        def check_wallet(c: Citizen) -> None:
            body = self.api.call("wallet", "GET", "/v1/wallet", c.token).body or {}
            if body.get("credited_satang") != AMOUNT_SATANG or body.get("balance_satang") != AMOUNT_SATANG - c.spent:
                with lock:
                    wrong.append(f"{body.get('credited_satang')}/{body.get('balance_satang')}")

        with self._progress() as bar:
            task = bar.add_task("checking wallets", total=len(sample), info="")
            self._parallel(sample, check_wallet, bar, task)
        checks.append(Check("wallets: credited once, balance = credit - own payments",
                            f"{len(sample) - len(wrong)} of {len(sample)} right"
                            + (f", e.g. {wrong[:3]}" if wrong else ""),
                            not wrong and len(sample) > 0))
        shops_wrong = []
        for s in self.shops + self.wholesalers:
            me = self.api.call("merchant", "GET", "/v1/merchants/me", s.token).body or {}
            want = (s.received1 - s.paid2, s.received2 - s.withdrawn)
            have = (me.get("spendable_satang"), me.get("withdrawable_satang"))
            if have != want:
                shops_wrong.append(f"{s.name}: {have} != {want}")
        checks.append(Check("every shop holds exactly what was paid to it (no transfer twice)",
                            f"{len(self.shops) + len(self.wholesalers) - len(shops_wrong)} shops right"
                            + (f"; {shops_wrong[:3]}" if shops_wrong else ""), not shops_wrong))
        spent1 = sum(c.spent for c in self.citizens)
        credited = int(phase.get("credited_satang") or 0)

        def delta(*names: str) -> int:
            return sum(int(last.get(n) or 0) - int(first.get(n) or 0) for n in names)

        merchants = delta("merchants_spendable_satang", "merchants_withdrawable_satang", "in_flight_satang",
                          "paid_out_satang")
        checks.append(Check("money conserved against the run's own books",
                            f"wallets +{delta('wallets_satang'):,} = credited {credited:,} - spent {spent1:,}; "
                            f"shops and payouts +{merchants:,}",
                            delta("wallets_satang") == credited - spent1 and merchants == spent1))
        ours = {self.withdrawal_ids[k] for k in self.withdrawals}
        listed = [p for p in self._payouts() if p.get("payout_id") in ours]
        ids = Counter(p["payout_id"] for p in listed)
        amounts_ok = all(p.get("amount_satang") == self.withdrawals[k][1]
                         for k in self.withdrawals for p in listed if p["payout_id"] == self.withdrawal_ids[k])
        statuses = Counter(p.get("status") for p in listed)
        settled = sum(p["amount_satang"] for p in listed if p.get("status") == "settled")
        open_ = sum(p["amount_satang"] for p in listed if p.get("status") in ("pending", "sent"))
        answered = not self.o.payout_wait_s or not (statuses.get("pending") or statuses.get("sent"))
        checks.append(Check("every payout listed once with its amount, settled or returned"
                            + ("" if self.o.payout_wait_s else " or in flight"),
                            f"{len(ids)} of {len(ours)} listed; " + ", ".join(f"{k} {v}" for k, v in statuses.items()),
                            set(ids) == ours and all(v == 1 for v in ids.values()) and amounts_ok and answered))
        checks.append(Check("payouts accounted: in flight and paid out = the open and settled payouts",
                            f"in flight +{delta('in_flight_satang'):,} = {open_:,}; "
                            f"paid out +{delta('paid_out_satang'):,}"
                            f" = {settled:,}",
                            delta("in_flight_satang") == open_ and delta("paid_out_satang") == settled))
        if statuses.get("pending") or statuses.get("sent"):
            self.notes.append(f"{statuses.get('pending', 0) + statuses.get('sent', 0)} payouts still in flight"
                              + ("" if self.o.payout_wait_s else ": this stack has no bank answering") +
                              " (their money stays in flight, accounted)")
        refused = {k: v - self.violations_accepted[k] for k, v in self.violations.items()}
        others = [f"{k}: {v}" for k, v in sorted(self.violations_accepted.items())
                  if v and k not in self.violations]
        checks.append(Check("every rule violation refused",
                            ", ".join([f"{k} {refused[k]}/{v}" for k, v in sorted(self.violations.items())] + others),
                            not any(self.violations_accepted.values())))
        checks.append(Check("a repeated request answers the first (registration, duplicate tap)",
                            f"{self.replays_ok} replays right, {self.replays_bad} wrong", self.replays_bad == 0))
        server_errors = Counter(f"{c.op} {c.status}" for c in self.recorder.calls
                                if (c.status >= 500 and c.status != 503)
                                or c.status == 0)
        checks.append(Check("no 5xx and no failed connection", ", ".join(f"{k}: {v}" for k, v in server_errors.items())
                            or "none", not server_errors))
        checks.append(Check("pauses scoped to their district and bank",
                            (", ".join(f"{k}: {v}" for k, v in self.paused_seen.items()) or "none seen")
                            + f"; outside the scope {self.paused_outside}", self.paused_outside == 0))
        alerts = self._alerts()
        unexplained = [a for a in alerts if a.get("created_at", "") >= self.started_at]
        checks.append(Check("no alert unexplained", ", ".join(sorted({a.get('kind', '?') for a in unexplained}))
                            or "no alert raised", not unexplained))
        return checks

    def run(self) -> Outcome:
        self.started_at = _iso(datetime.now(UTC))
        t0 = time.monotonic()
        self.sampler.start()
        first = self.sampler.summary_now()
        checks: list[Check] = []
        try:
            self._stage("setup", self.setup)
            self._stage("registration", self.registration)
            self._stage("activation", self.activation)
            self._stage("round 1", self.round1)
            self._stage("round 2", self.round2)
            self._stage("cash-outs", self.cashouts)
            self._stage("banks answer", self.settlement)
            self.console.rule("[bold]invariants")
            t_inv = self.recorder.now()
            checks = self.invariants(first)
            self.stages.append(("invariants", t_inv, self.recorder.now(), f"{sum(c.ok for c in checks)} of "
                                f"{len(checks)} hold"))
        except RuntimeError as exc:
            checks.append(Check("the run completed", str(exc)[:300], False))
        finally:
            self.sampler.stop()
        return Outcome(ok=bool(checks) and all(c.ok for c in checks), checks=checks, calls=list(self.recorder.calls),
                       summaries=self.sampler.summaries, queues=self.sampler.queues, stages=self.stages,
                       notes=self.notes, options=self.o, started_at=self.started_at,
                       duration_s=time.monotonic() - t0,
                       counts={"citizens": len(self.citizens), "shops": len(self.shops),
                               "wholesalers": len(self.wholesalers), "phase_id": self.phase_id})


def _print(outcome: Outcome, console: Console) -> None:
    table = Table(title="latency per operation (ms)")
    for column in ("operation", "calls", "p50", "p95", "p99", "errors"):
        table.add_column(column)
    for row in simreport.latency_rows(outcome.calls):
        table.add_row(*[str(x) for x in row])
    console.print(table)
    checks = Table(title=f"invariants (seed {outcome.options.seed}, {outcome.duration_s:.0f} s)")
    for column in ("invariant", "value", "ok"):
        checks.add_column(column)
    for c in outcome.checks:
        checks.add_row(c.name, c.value, "[green]yes" if c.ok else "[red]NO")
    console.print(checks)
    for note in outcome.notes:
        console.print(f"note: {note}")


def run(options: Options, console: Console | None = None) -> Outcome:
    """Rehearse the launch against ``options.url``; writes the report when asked."""
    console = console or Console()
    console.print(f"simulating against {options.url}{options.stack_note}: {options.citizens} citizens, "
                  f"seed {options.seed}")
    outcome = Simulation(options, console).run()
    _print(outcome, console)
    if options.report is not None:
        outcome.report_path = simreport.write(outcome, options.report)
        console.print(f"report: {outcome.report_path}")
    return outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="the API (default: the running stack of .devstack/stack.json)")
    parser.add_argument("--citizens", type=int, default=CITIZENS_DEFAULT, help=f"default {CITIZENS_DEFAULT:,}")
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT, help="fixes every choice of the run")
    parser.add_argument("--report", type=Path, default=Path(".devstack/simulation.html"),
                        help="the HTML report (default .devstack/simulation.html)")
    parser.add_argument("--workers", type=int, default=WORKERS_DEFAULT, help="concurrent HTTP clients")
    parser.add_argument("--payments-per-citizen", type=float, default=PAYMENTS_PER_CITIZEN)
    parser.add_argument("--payout-wait-s", type=float, default=Options.payout_wait_s,
                        help="how long the banks have to answer every payout (0: a stack without banks)")


def main(args: argparse.Namespace) -> int:
    if args.citizens < 1:
        print("error: --citizens must be at least 1")
        return 2
    sqs_endpoint = stage = None
    note = " (no local stack state for this URL: queue depths not sampled)"
    if args.url is None:
        stack = state.running()
        if stack is None:
            return 2
    else:
        try:
            stack = state.read()
        except state.NoStackError:
            stack = None  # another stack, named by --url
    if stack is not None and (args.url is None or args.url.rstrip("/") == stack.api_url.rstrip("/")):
        sqs_endpoint, stage = stack.aws_endpoint, stack.stage
        note = f" (the stack of {state.state_path()}, stage {stack.stage}, pid {stack.pid})"
    url = args.url or (stack.api_url if stack is not None else "")
    options = Options(url=url, citizens=args.citizens, seed=args.seed, report=args.report, workers=args.workers,
                      payments_per_citizen=args.payments_per_citizen, sqs_endpoint=sqs_endpoint, stage=stage,
                      stack_note=note, payout_wait_s=args.payout_wait_s)
    return 0 if run(options).ok else 1
