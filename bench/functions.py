"""Every Lambda function of app.py, one realistic unit of its work through
its real handler, measured against the settings app.py declares for it
(issue: deployable, function settings chosen from measurements).

Each function runs in a process of its own (a new Lambda container: a fresh
interpreter that imports app.py), invoked as Lambda invokes it
(``app.handler_map[name](event, context)``, the API through Chalice's local
gateway, which builds API Gateway's proxy event), with a context whose
remaining time is the declared timeout, against DynamoDB Local and moto's
SQS and S3. What each invocation works on is seeded beforehand by this
process, outside the measured one:

- ``api_handler``: a mix of citizens' and shops' requests (wallet views and
  history, QR issue and payment, card payment with its PIN's Argon2, the
  shop's profile, health), the container warmed by a third of them first;
- ``activation_schedule``: the planner dispatching a due wave (64 messages);
- ``activation_worker``: a batch of 10 of those messages, each a bucket of
  ``bucket`` registrations (the worker pages 200 at a time, so memory does
  not grow with the bucket, and stops each message at its share of the
  time left, so time does not either);
- ``payout_schedule``: one run dispatching ``payouts`` pending cash
  transfers over ``banks`` banks (100 each);
- ``bank_status_worker``: a batch of 10 of the banks' pacs.002 answers to
  those instructions;
- ``reconciliation_schedule``: a bank's camt.053 of ``statement`` entries
  against as many settled payouts;
- ``exclusions_import_worker``: one message of an import of ``excluded`` IDs
  (chunks of 1,000);
- ``ledger_summary_reader`` and ``ledger_check``: a pass over the balances'
  stream after all of the above.

Figures per function: the peak resident memory of its process (VmHWM: what
Lambda reports as "Max Memory Used", less its runtime client) and the
import's share of it; duration per unit (request, message, run: p50, p99)
and of the worst batch, each also as it maps to Lambda at the declared
memory (below). Targets: every declared function measured, and for each

- ``memory_mb >= peak MiB x MEMORY_HEADROOM`` (1.5: Lambda's runtime client
  and its buffers are not in this process, a warm container's heap grows
  past one invocation's, and inputs larger than the bench's);
- ``timeout_s >= worst batch at the declared memory x TIMEOUT_HEADROOM`` (2:
  DynamoDB's tail latencies and retries with backoff, a cold start). Lambda
  gives a function CPU in proportion to its memory, one vCPU at 1,769 MB;
  this machine runs the handler on one core, so the batch's CPU time is
  scaled by 1,769 / memory_mb (when below) and its waiting time (DynamoDB
  Local, moto) kept as measured: ``waiting + cpu x max(1, 1769 / memory)``.
  DynamoDB Local answers slower than DynamoDB (and takes 4 wallets a
  transaction where AWS takes 49), so the waiting share is pessimistic;
- for the handlers that budget from the time left (activation worker,
  exclusions import, stream reader), their worst step (a page, a chunk) x
  TIMEOUT_HEADROOM fits in the margin they keep past their budget;
- concurrency by the capacity model (CAPACITY.md, ``capacity_verdicts``).

``python -m bench --only functions [--quick]``.
"""
from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MEMORY_HEADROOM",
    "TIMEOUT_HEADROOM",
    "VCPU_MB",
    "Measured",
    "Sizes",
    "capacity_verdicts",
    "lambda_seconds",
    "run",
    "setting_verdicts",
]

# Lambda: one vCPU at 1,769 MB, CPU in proportion below it.
VCPU_MB = 1769
MEMORY_HEADROOM = 1.5
TIMEOUT_HEADROOM = 2.0

# The capacity model (CAPACITY.md), as the concurrency settings must respect it.
REGIONAL_CONCURRENCY = 1000       # Lambda's default per region
UNRESERVED_MIN = 100              # Lambda keeps at least this much unreserved
API_PEAK_CONCURRENCY = 400        # registration day: GET /v1/me + POST /v1/registrations
ISSUANCE_TX_PER_WORKER_S = 10     # 100 ms per 100-item transaction on AWS
WALLETS_PER_TX = 49               # 100 items: 49 records + 49 wallets + 1 shard + 1 spare
ACCOUNTS_WCU_PER_TX = WALLETS_PER_TX * 2 + 2   # transactional writes on `accounts` (wallets + treasury shard)
TREASURY_SHARDS = 8
ITEM_WRITES_S_HALF = 250          # half of one item's 500 transactional writes/s
SETTLE_S_AWS = 0.03               # a settle: 2 reads + 1 TransactWriteItems of 5 items
PAYOUT_SHARDS = 16                # a bank's in-flight and paid-out accounts (payouts/rules.py)

FUNCTIONS = ("api_handler", "activation_schedule", "activation_worker", "payout_schedule", "bank_status_worker",
             "reconciliation_schedule", "exclusions_import_worker", "ledger_summary_reader", "ledger_check")
BANKS = ("002", "004", "006", "011", "014", "022", "024", "025", "030", "033")
AMOUNT_SATANG = 100_000
PHASE_ID = "bench-fn"
CASH_PHASE = "bench-fn-cash"


@dataclass(frozen=True)
class Sizes:
    api_requests: int
    bucket: int         # registrations per activation message
    payouts: int        # pending payouts one dispatch run sends (and the status batch answers)
    banks: int          # over how many banks: 100 a bank makes pacs.002 messages of 100 statuses
    statement: int      # entries of one bank's statement
    excluded: int       # IDs of one exclusion import

    @staticmethod
    def of(quick: bool) -> Sizes:
        if quick:
            return Sizes(api_requests=60, bucket=120, payouts=200, banks=2, statement=2_000, excluded=5_000)
        return Sizes(api_requests=240, bucket=400, payouts=1_000, banks=10, statement=10_000,
                     excluded=20_000)


# -- the comparisons (pure) -----------------------------------------------------------

def lambda_seconds(wall_s: float, cpu_s: float, memory_mb: int) -> float:
    """What a run of ``wall_s`` (``cpu_s`` of it on this machine's CPU) takes
    on Lambda at ``memory_mb``: the CPU share scaled to its vCPU fraction,
    the waiting kept."""
    share = min(1.0, memory_mb / VCPU_MB)
    cpu = min(cpu_s, wall_s) if wall_s > 0 else cpu_s
    return max(0.0, wall_s - cpu) + cpu_s / share


@dataclass(frozen=True)
class Measured:
    """One function's figures: peak MiB, the worst batch as it maps to Lambda
    at the declared memory, and for a budgeted handler its worst step."""

    peak_mib: float
    worst_batch_s: float
    worst_step_s: float | None = None
    step_margin_s: float | None = None


def setting_verdicts(memory_mb: int, timeout_s: int, measured: Measured) -> dict[str, bool]:
    """Whether the declared memory and timeout cover the measurement with the headrooms."""
    verdicts = {
        "memory_covers_peak": memory_mb >= measured.peak_mib * MEMORY_HEADROOM,
        "timeout_covers_worst_batch": timeout_s >= measured.worst_batch_s * TIMEOUT_HEADROOM,
    }
    if measured.worst_step_s is not None and measured.step_margin_s is not None:
        verdicts["margin_covers_worst_step"] = measured.step_margin_s >= measured.worst_step_s * TIMEOUT_HEADROOM
    return verdicts


def capacity_verdicts(specs: Mapping[str, Any], warm_accounts_wcu: int) -> dict[str, bool]:
    """The concurrency settings against CAPACITY.md's model: the reserved
    pools leave the API its registration-day peak, an SQS consumer's
    maximum concurrency fits in its reserved concurrency, issuance's
    workers stay inside the accounts table's warm throughput and the
    treasury shards' half rate, the status workers inside a bank's payout
    shards', and every schedule has one reserved at least."""
    reserved = sum(int(s.reserved_concurrency or 0) for s in specs.values())
    verdicts = {"reserved_leave_the_api_its_peak":
                reserved + API_PEAK_CONCURRENCY + UNRESERVED_MIN <= REGIONAL_CONCURRENCY}
    for name, spec in specs.items():
        if spec.consumes is not None:
            verdicts[f"{name}_max_concurrency_within_reserved"] = (
                spec.max_concurrency is not None and spec.reserved_concurrency is not None
                and spec.max_concurrency <= spec.reserved_concurrency)
        elif name != "api_handler":
            verdicts[f"{name}_reserved"] = (spec.reserved_concurrency or 0) >= 1
    worker = specs.get("activation_worker")
    if worker is not None and worker.max_concurrency is not None:
        tx_s = worker.max_concurrency * ISSUANCE_TX_PER_WORKER_S
        verdicts["activation_within_warm_accounts"] = tx_s * ACCOUNTS_WCU_PER_TX <= warm_accounts_wcu
        verdicts["activation_within_treasury_shards"] = tx_s / TREASURY_SHARDS <= ITEM_WRITES_S_HALF
    status = specs.get("bank_status_worker")
    if status is not None and status.max_concurrency is not None:
        from chalicelib.config import Settings

        threads = int(Settings.__dataclass_fields__["status_workers"].default)  # type: ignore[arg-type]
        settles_s = status.max_concurrency * threads / SETTLE_S_AWS
        verdicts["status_within_payout_shards"] = settles_s / PAYOUT_SHARDS <= ITEM_WRITES_S_HALF
    return verdicts


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (0 of none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


# -- the child: one container per function --------------------------------------------

_CHILD: dict[str, Any] = {}


def _status_kib() -> dict[str, int]:
    found: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def _child_app() -> Any:
    """app.py, imported once per container; the import's memory recorded."""
    if "app" in _CHILD:
        return _CHILD["app"]
    # The handlers' JSON logs and metrics go to stdout: not this bench's output.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    before = _status_kib()
    started = time.process_time()
    from chalicelib import observability
    from devstack.server import load_app

    app = load_app()
    after = _status_kib()
    _CHILD.update(app=app, import_cpu_s=time.process_time() - started, steps=[], units=[],
                  import_mib={"interpreter": round(before["VmRSS"] / 1024, 1),
                              "after_import_app": round(after["VmRSS"] / 1024, 1)})
    timing = observability.timing

    def recorded(name: str, value_ms: float, **dimensions: str) -> None:
        if name in ("MessageLatencyMs", "ScheduleLatencyMs", "LatencyMs"):
            _CHILD["units"].append(value_ms / 1000)
        timing(name, value_ms, **dimensions)

    observability.timing = recorded  # type: ignore[assignment]
    _time_steps()
    return app


def _time_steps() -> None:
    """The budgeted handlers' steps timed: a page of activation credits, a
    chunk of an exclusion import, a pass's shard of the balances' stream."""
    from chalicelib.activation import crediting
    from chalicelib.exclusions import imports

    def timed(owner: Any, attribute: str) -> None:
        original = getattr(owner, attribute)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                _CHILD["steps"].append(time.perf_counter() - started)

        setattr(owner, attribute, wrapper)

    timed(crediting.WalletCrediter, "__call__")
    timed(imports, "_import_chunk")


def _invoke(name: str, kind: str, payload: Any, timeout_s: int, memory_mb: int) -> dict[str, Any]:
    """One invocation of ``name`` in this container; its figures."""
    app = _child_app()
    from chalicelib.config import get_settings
    from devstack.pump import LambdaContext, scheduled_event

    region = get_settings().region
    _CHILD["steps"].clear()
    _CHILD["units"].clear()
    context = LambdaContext(f"wallet-bench-{name}", region, timeout_ms=timeout_s * 1000, memory_mb=memory_mb)
    statuses: dict[str, int] = {}
    batches: list[tuple[float, float]] = []  # (wall, cpu) of each invocation Lambda would see
    cpu, started = time.process_time(), time.perf_counter()
    if kind == "http":
        from chalice.config import Config
        from chalice.local import LocalGateway

        gateway = _CHILD.get("gateway")
        if gateway is None:
            gateway = LocalGateway(app, Config.create(chalice_stage="bench", app_name=app.app_name,
                                                      lambda_timeout=timeout_s, lambda_memory_size=memory_mb))
            _CHILD["gateway"] = gateway
        for method, path, headers, body in payload:
            one_cpu, one_started = time.process_time(), time.perf_counter()
            answer = gateway.handle_request(method=method, path=path, headers=headers, body=body)
            batches.append((time.perf_counter() - one_started, time.process_time() - one_cpu))
            code = str(answer["statusCode"])
            statuses[code] = statuses.get(code, 0) + 1
        result: Any = statuses
    elif kind == "sqs":
        result = app.handler_map[name](payload, context)
        result = {"failed": len((result or {}).get("batchItemFailures", []))}
    else:
        app.handler_map[name](scheduled_event(name, region), context)
        result = {}
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    status = _status_kib()
    return {"wall_s": wall_s, "cpu_s": cpu_s, "batches": batches or [(wall_s, cpu_s)],
            "units": list(_CHILD["units"]), "steps": list(_CHILD["steps"]),
            "peak_mib": round(status["VmHWM"] / 1024, 1), "rss_mib": round(status["VmRSS"] / 1024, 1),
            "import_mib": _CHILD["import_mib"], "import_cpu_s": round(_CHILD["import_cpu_s"], 3),
            "result": result}


class _Container:
    """A process of its own for one function, kept warm across its invocations."""

    def __init__(self, name: str) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from chalicelib import functions

        self.name = name
        self.spec = functions.declared()[name]
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, kind: str, payload: Any) -> dict[str, Any]:
        figures = self._pool.submit(_invoke, self.name, kind, payload, self.spec.timeout_s,
                                    self.spec.memory_mb).result()
        self.invocations.append(figures)
        return figures

    def close(self) -> None:
        self._pool.shutdown()

    def report(self, unit: str, step: str | None = None, step_margin_s: float | None = None,
               worst_scale: float = 1.0) -> dict[str, Any]:
        """The figures and verdicts; ``worst_scale`` takes the worst batch
        measured to the largest one the handler can be given (its time per
        item the same)."""
        spec = self.spec
        memory = spec.memory_mb
        batches = [tuple(b) for i in self.invocations for b in i["batches"]]
        worst_wall, worst_cpu = (v * worst_scale for v in max(batches))
        # Each unit (request, message, run) scaled as its batch maps to Lambda.
        units: list[float] = []
        for invocation in self.invocations:
            scale = lambda_seconds(invocation["wall_s"], invocation["cpu_s"], memory) / max(invocation["wall_s"], 1e-9)
            units += [u * scale for u in invocation["units"]]
        steps = [s for i in self.invocations for s in i["steps"]]
        peak = max(i["peak_mib"] for i in self.invocations)
        worst_step = max(steps) if steps else None
        measured = Measured(peak_mib=peak, worst_batch_s=lambda_seconds(worst_wall, worst_cpu, memory),
                            worst_step_s=worst_step if step_margin_s is not None else None,
                            step_margin_s=step_margin_s)
        first = self.invocations[0]
        figures: dict[str, Any] = {
            "declared": {"memory_mb": memory, "timeout_s": spec.timeout_s, "batch_size": spec.batch_size,
                         "reserved_concurrency": spec.reserved_concurrency, "max_concurrency": spec.max_concurrency},
            "peak_mib": peak, "import_mib": first["import_mib"], "import_cpu_s": first["import_cpu_s"],
            "memory_needed_mb": math.ceil(peak * MEMORY_HEADROOM),
            "unit": unit, "units": len(units),
            "unit_p50_s": round(statistics.median(units), 3) if units else 0.0,
            "unit_p99_s": round(percentile(units, 0.99), 3),
            "worst_batch_wall_s": round(worst_wall, 2), "worst_batch_cpu_s": round(worst_cpu, 3),
            "worst_batch_lambda_s": round(measured.worst_batch_s, 2),
            "worst_batch_scaled_by": round(worst_scale, 2),
            "timeout_needed_s": math.ceil(measured.worst_batch_s * TIMEOUT_HEADROOM),
            "results": [i["result"] for i in self.invocations],
        }
        if step is not None and steps:
            figures.update({"step": step, "steps": len(steps), "step_p50_s": round(statistics.median(steps), 3),
                            "step_worst_s": round(max(steps), 3)})
            if step_margin_s is not None:
                figures["step_margin_s"] = step_margin_s
        figures["targets"] = setting_verdicts(memory, spec.timeout_s, measured)
        return figures


# -- the world each function works on --------------------------------------------------

def _valid_cid(n: int, first: str = "1") -> str:
    from stdnum.th import pin

    body = f"{first}{n:011d}"
    return body + pin.calc_check_digit(body)


def _api_requests(count: int) -> list[tuple[str, str, dict[str, str], str | None]]:
    """Shops and funded wallets, and a mix of what their phones send."""
    import json

    from bench.payments import _setup, _setup_cold
    from chalicelib.merchants.service import get_merchant
    from chalicelib.payments.service import make_qr
    from devstack import tokens

    carded = _setup(4, with_cards=True)["people"]  # card payments: the PIN's Argon2 is the API's largest allocation
    people = _setup_cold(max(8, count // 7), 6)
    owners = {}
    for person in people:
        owners.setdefault(person["merchant_id"], person)
    shop_tokens = {m: tokens.mint("merchant", {"cid": _valid_cid(40_000 + i)}) for i, m in enumerate(owners)}
    requests: list[tuple[str, str, dict[str, str], str | None]] = []
    for i in range(count):
        person = people[i % len(people)]
        citizen = {"Authorization": f"Bearer {person['citizen_token']}"}
        shop = {"Authorization": f"Bearer {shop_tokens[person['merchant_id']]}", "Content-Type": "application/json"}
        turn = i % 7
        if turn == 6:
            holder = carded[i % len(carded)]
            requests.append(("POST", "/v1/card-payments", {
                "Authorization": f"Bearer {holder['merchant_token']}", "Content-Type": "application/json",
                "Idempotency-Key": f"bench-fn-card-{i}"}, json.dumps({
                    "card_code": holder["card_code"], "pin": holder["pin"], "amount_satang": 500,
                    "category": "groceries"})))
        elif turn == 0:
            requests.append(("GET", "/v1/wallet", citizen, None))
        elif turn == 1:
            requests.append(("POST", "/v1/merchants/me/qr", shop, json.dumps({"amount_satang": 500})))
        elif turn in (2, 3):
            qr = make_qr(get_merchant(person["merchant_id"]), 500)["qr"]
            requests.append(("POST", "/v1/payments", {**citizen, "Content-Type": "application/json",
                                                      "Idempotency-Key": f"bench-fn-{i}"},
                             json.dumps({"qr": qr, "category": "groceries"})))
        elif turn == 4:
            requests.append(("GET", "/v1/wallet/transactions", citizen, None))
        else:
            requests.append(("GET", "/v1/merchants/me", shop, None))
    requests.append(("GET", "/v1/health", {}, None))
    return requests


def _seed_phase(bucket: int, buckets: int) -> None:
    """A wallet phase due now, with ``bucket`` accepted registrations in each
    of its first ``buckets`` buckets, and its treasury funded."""
    from datetime import timedelta

    from chalicelib.clock import iso, utcnow
    from chalicelib.eligibility import wallet_id_for
    from chalicelib.phases import service as phases
    from chalicelib.registration.models import RegistrationModel, registration_key, wave_bucket_key

    now = utcnow()
    phases.save_phase(PHASE_ID, {
        "name": "Bench", "kind": "wallet", "amount_satang": AMOUNT_SATANG,
        "registration_opens_at": iso(now - timedelta(days=3)),
        "registration_closes_at": iso(now - timedelta(minutes=2)),
        "waves": [{"activate_at": iso(now - timedelta(minutes=1))}], "expires_after_days": 180,
        "budget_satang": 2 * bucket * buckets * AMOUNT_SATANG, "birth_date_from": "2004-09-16",
        "birth_date_to": "2008-09-16", "exclusion_lists": [], "spending_scope": "district",
        "tranches": [{"amount_satang": AMOUNT_SATANG, "after_days": 0}], "allowed_size_classes": ["small"],
        "restricted_categories": ["lottery"], "payout_bank_code": None}, now)
    with RegistrationModel.batch_write() as batch:
        for b in range(buckets):
            for i in range(bucket):
                citizen = f"bench-fn-{b:02d}-{i:06d}"
                batch.save(RegistrationModel(
                    registration_key(PHASE_ID, citizen), registration_id=f"r{b}-{i}", phase_id=PHASE_ID,
                    citizen_hash=citizen, status="accepted", wave=1, wave_key=wave_bucket_key(PHASE_ID, 1, b),
                    wallet_id=wallet_id_for(PHASE_ID, citizen), created_at=iso(now)))


def _receive(queue_short: str, at_most: int | None = None) -> list[dict[str, Any]]:
    """Every message waiting on a queue of this stage (deleted), as Lambda's poller takes them."""
    import boto3

    from chalicelib.config import get_settings

    settings = get_settings()
    sqs = boto3.client("sqs", endpoint_url=settings.sqs_endpoint, region_name=settings.region)
    url = sqs.get_queue_url(QueueName=settings.queue_name(queue_short))["QueueUrl"]
    taken: list[dict[str, Any]] = []
    while at_most is None or len(taken) < at_most:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                  MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        taken += got
    return taken


def _event(messages: list[dict[str, Any]], queue_short: str) -> dict[str, Any]:
    from chalicelib.config import get_settings
    from devstack.pump import LOCAL_ACCOUNT_ID, sqs_event

    settings = get_settings()
    arn = f"arn:aws:sqs:{settings.region}:{LOCAL_ACCOUNT_ID}:{settings.queue_name(queue_short)}"
    return sqs_event(messages, arn, settings.region)


def _seed_cash_payouts(count: int, banks: tuple[str, ...]) -> None:
    """``count`` pending cash transfers over ``banks``, their holds in the ledger."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.clock import utcnow
    from chalicelib.config import get_settings
    from chalicelib.ledger import Ledger, Transfer, accounts
    from chalicelib.payouts.cash_transfers import pay_cash_transfer

    settings = get_settings()
    ledger = Ledger()
    per_bank = -(-count // len(banks))
    for bank in banks:
        for shard in range(settings.treasury_shards):
            ledger.post(Transfer(f"fund-{CASH_PHASE}-{bank}-{shard}", accounts.BUDGET_ACCOUNT,
                                 accounts.treasury_shard(f"{CASH_PHASE}-{bank}", shard), per_bank * AMOUNT_SATANG,
                                 "phase_funding"))
    now = utcnow()

    def request(i: int) -> None:
        bank = banks[i % len(banks)]
        pay_cash_transfer(phase_id=f"{CASH_PHASE}-{bank}", citizen_hash=f"bench-fn-cash-{i}",
                          promptpay_id=f"{1_100_000_000_000 + i * 10 + 1:013d}", amount_satang=AMOUNT_SATANG,
                          bank_code=bank, now=now)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(request, range(count)))


def _bank_answers(banks: tuple[str, ...]) -> list[dict[str, Any]]:
    """The simulated banks' pacs.002 for every instruction on their queues,
    as messages of the status queue."""
    import json
    import tempfile

    from chalicelib import queues
    from chalicelib.config import get_settings
    from devstack import banksim

    settings = get_settings()
    os.environ.setdefault("WALLET_DEVSTACK_DIR", tempfile.mkdtemp(prefix="bench-fn-banks-"))
    sim = banksim.BankSimulator(settings.stage, settings.sqs_endpoint, settings.s3_endpoint, settings.region,
                                settings.queue_name, settings.statement_bucket, banks=banks, seed=7)
    for bank in banks:
        banksim.write_behaviour(settings.stage, bank, reject_share=0.02)
        for message in _receive(queues.bank_queue(bank)):
            sim.take(bank, message["Body"])
    status_url = sim._sqs.get_queue_url(QueueName=settings.queue_name(queues.STATUS_QUEUE))["QueueUrl"]
    for bank in banks:
        sim._flush(bank, status_url)
    answers = _receive(queues.STATUS_QUEUE)
    assert all(json.loads(m["Body"])["message_type"] == "pacs.002" for m in answers)
    return answers


def _seed_statement(entries: int) -> tuple[str, str]:
    """Yesterday's (Bangkok) settled payouts of one bank and its statement of them."""
    from datetime import timedelta

    import boto3

    from chalicelib.clock import iso, utcnow
    from chalicelib.config import get_settings
    from chalicelib.payouts.models import PayoutModel
    from chalicelib.payouts.reconciliation import BANGKOK
    from devstack import banksim

    settings = get_settings()
    bank = "069"
    now = utcnow()
    day = (now.astimezone(BANGKOK) - timedelta(days=1)).strftime("%Y-%m-%d")
    booked = iso(now - timedelta(days=1))
    paid = []
    with PayoutModel.batch_write() as batch:
        for i in range(entries):
            payout_id = f"wd_{i:024x}"
            batch.save(PayoutModel(payout_id, kind="withdrawal", bank_code=bank, amount_satang=AMOUNT_SATANG,
                                   status="settled", created_at=booked, settled_at=booked, business_date=day,
                                   list_sort=f"{booked}#{payout_id}", source_account="x", hold_account="y",
                                   owner_key="merchant:bench", creditor_name="Shop", creditor_id_kind="account_no",
                                   creditor_id_enc="x" * 60, timeout_hours=24, settled_key=f"{bank}#{day}"))
            paid.append({"end_to_end_id": payout_id, "amount_satang": AMOUNT_SATANG, "status": "ACSC",
                         "booked_at": booked})
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint, region_name=settings.region)
    banksim.write_statement(s3, settings.statement_bucket, banksim.statement_body(bank, day, paid))
    return bank, day


def _exclusion_import(count: int) -> dict[str, Any]:
    """A stored import of ``count`` IDs and the message that starts it."""
    from types import SimpleNamespace

    from chalicelib.exclusions import imports

    view, _created = imports.start("welfare_card", [_valid_cid(i, "3") for i in range(1, count + 1)],
                                   SimpleNamespace(role="operator", sub="bench"))
    messages = _receive(imports.QUEUE)
    return {"import_id": view["import_id"], "messages": messages}


# -- the run ---------------------------------------------------------------------------

def _environment(ddb_endpoint: str) -> Callable[[], None]:
    """A fresh stage with SQS and S3 on moto; returns its undoing."""
    import tempfile
    import uuid

    from chalicelib import db
    from chalicelib.config import rebuild
    from chalicelib.models_index import import_all_models
    from devstack import env, moto_server, resources
    from devstack.procs import free_port

    saved = dict(os.environ)
    moto = moto_server.start(free_port())
    os.environ["WALLET_DEVSTACK_DIR"] = tempfile.mkdtemp(prefix="bench-fn-")  # keys and banks of this run only
    os.environ.update(env.local_environment(ddb_endpoint, moto.url.removesuffix("/moto-api/"),
                                            stage=f"bfn{uuid.uuid4().hex[:8]}"))
    os.environ["WALLET_RATE_LIMITS"] = "off"  # a few synthetic callers, many requests
    rebuild()
    import_all_models()
    db.bind_models()
    resources.create_all()

    def undo() -> None:
        try:
            resources.delete_tables()
        finally:
            moto.stop(remove_log=True)
            os.environ.clear()
            os.environ.update(saved)
            rebuild()
            db.bind_models()
    return undo


def _quiet(fn: Callable[..., Any], *args: Any) -> Any:
    """Seeding, without the metrics the use cases print as they go."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _measure(name: str, say: Callable[[str], None], work: Callable[[_Container], dict[str, Any]]) -> dict[str, Any]:
    container = _Container(name)
    try:
        started = time.perf_counter()
        figures = work(container)
        say(f"{name}: peak {figures['peak_mib']} MiB, worst batch {figures['worst_batch_wall_s']} s here, "
            f"{figures['worst_batch_lambda_s']} s at {figures['declared']['memory_mb']} MB "
            f"({time.perf_counter() - started:.0f} s)")
        return figures
    finally:
        container.close()


def run(ddb_endpoint: str, quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Every declared function measured against DynamoDB Local at ``ddb_endpoint``."""
    import json

    from chalicelib import functions, observability, queues
    from chalicelib.activation import service as activation
    from chalicelib.exclusions import imports
    from chalicelib.ledger import stream_summary
    from chalicelib.payouts import reconciliation
    from chalicelib.payouts.rules import TRANSACTIONS_PER_MESSAGE_MAX

    sizes = Sizes.of(quick)
    undo = _environment(ddb_endpoint)
    results: dict[str, Any] = {"sizes": dict(sizes.__dict__)}
    try:
        import app  # noqa: F401  (the declarations)

        def api(c: _Container) -> dict[str, Any]:
            requests = _quiet(_api_requests, sizes.api_requests)
            c.invoke("http", requests[: len(requests) // 3])  # the container warm, as after its first minute
            c.invocations.clear()
            c.invoke("http", requests[len(requests) // 3:])
            return c.report("request")

        results["api_handler"] = _measure("api_handler", progress, api)

        _quiet(_seed_phase, sizes.bucket, 10)

        def planner(c: _Container) -> dict[str, Any]:
            c.invoke("schedule", None)
            c.invoke("schedule", None)  # the next minute's run: nothing more to send
            return c.report("run")

        results["activation_schedule"] = _measure("activation_schedule", progress, planner)
        messages = _receive(activation.ACTIVATION_QUEUE)
        seeded = [m for m in messages if json.loads(m["Body"]).get("bucket") in range(10)]

        def worker(c: _Container) -> dict[str, Any]:
            c.invoke("sqs", _event(seeded[:10], activation.ACTIVATION_QUEUE))
            margin = activation.PAGE_OVERRUN_S + observability.RECORD_MARGIN_MS / 1000
            return c.report("message", step="page of 200 registrations", step_margin_s=margin)

        results["activation_worker"] = _measure("activation_worker", progress, worker)
        _receive(activation.ACTIVATION_QUEUE)  # the continuations, if any, and the other buckets'

        _quiet(_seed_cash_payouts, sizes.payouts, BANKS[: sizes.banks])

        def dispatcher(c: _Container) -> dict[str, Any]:
            c.invoke("schedule", None)
            return c.report("run")

        results["payout_schedule"] = _measure("payout_schedule", progress, dispatcher)
        answers = _quiet(_bank_answers, BANKS[: sizes.banks])

        def statuses(c: _Container) -> dict[str, Any]:
            batch = answers[: c.spec.batch_size]
            measured = sum(len(json.loads(m["Body"])["statuses"]) for m in batch)
            c.invoke("sqs", _event(batch, queues.STATUS_QUEUE))
            # The worker has no budget: its timeout must cover a full batch of full pacs.002 messages.
            largest = c.spec.batch_size * TRANSACTIONS_PER_MESSAGE_MAX
            return {**c.report("status message", worst_scale=largest / max(1, measured)),
                    "statuses_measured": measured, "statuses_in_largest_batch": largest}

        results["bank_status_worker"] = _measure("bank_status_worker", progress, statuses)

        bank, day = _quiet(_seed_statement, sizes.statement)

        def reconciler(c: _Container) -> dict[str, Any]:
            c.invoke("schedule", None)
            figures = c.report("run")
            figures["targets"]["statement_matched"] = reconciliation.get_reconciliation(
                bank, day)["matched_count"] == sizes.statement
            return figures

        results["reconciliation_schedule"] = _measure("reconciliation_schedule", progress, reconciler)

        started = _quiet(_exclusion_import, sizes.excluded)

        def importer(c: _Container) -> dict[str, Any]:
            c.invoke("sqs", _event(started["messages"][:1], imports.QUEUE))
            return c.report("message", step="chunk of 1,000 IDs", step_margin_s=imports.CHUNK_WORK_S + 5.0)

        results["exclusions_import_worker"] = _measure("exclusions_import_worker", progress, importer)

        def reader(c: _Container) -> dict[str, Any]:
            c.invoke("schedule", None)
            return c.report("pass")

        results["ledger_summary_reader"] = _measure("ledger_summary_reader", progress, reader)

        def checker(c: _Container) -> dict[str, Any]:
            c.invoke("schedule", None)
            return c.report("run")

        results["ledger_check"] = _measure("ledger_check", progress, checker)
        balanced = stream_summary.consume() is not None
        from chalicelib.ledger import Ledger

        summary = Ledger().scan_summary()
        specs = functions.declared()
        with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cdk.json"),
                  encoding="utf-8") as cdk:
            warm = int(json.load(cdk)["context"]["warm_throughput"]["prod"]["accounts"])
        results["capacity"] = {"reserved_total": sum(int(s.reserved_concurrency or 0) for s in specs.values()),
                               "api_peak_concurrency": API_PEAK_CONCURRENCY,
                               "warm_accounts_wcu": warm,
                               "targets": capacity_verdicts(specs, warm)}
        results["targets"] = {"every_declared_function_measured": set(specs) <= set(results),
                              "every_message_handled": all(
                                  r.get("failed", 0) == 0 for name in ("activation_worker", "bank_status_worker",
                                                                       "exclusions_import_worker")
                                  for r in results[name]["results"])}
        results["ledger_balanced"] = bool(summary["balanced"]) and balanced
    finally:
        undo()
    return results
