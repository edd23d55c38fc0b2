"""The API and its background handlers (Chalice).

Routes live in blueprints (chalicelib/api/*.py); each module gives ``bp`` and
``OPENAPI_PATHS``. To add one: import it and list it in BLUEPRINT_MODULES.
SQS handlers and schedules go in the marked section below.
"""
from __future__ import annotations

from chalice import Chalice, Rate

from chalicelib import functions, observability, openapi, queues, secrets
from chalicelib.api import activation, admin, citizen, merchant, payments, payouts, public, registrar, settlement
from chalicelib.api.common import contract_errors, map_errors
from chalicelib.lazy import lazy_module
from chalicelib.limits import BANK_CODES

# Every function imports this file: the modules of the queue workers and
# schedules are loaded when their function first runs, not on every cold
# start of every other function (bench/coldstart.py).
activation_jobs = lazy_module("chalicelib.activation.service")
exclusion_imports = lazy_module("chalicelib.exclusions.imports")
ledger_checks = lazy_module("chalicelib.ledger.check")
payout_dispatch = lazy_module("chalicelib.payouts.dispatch")
reconciliation = lazy_module("chalicelib.payouts.reconciliation")
payout_statuses = lazy_module("chalicelib.payouts.statuses")

# On AWS: the pepper and keys from Secrets Manager, once per cold start.
secrets.load()

app = Chalice(app_name="wallet")
# Logs with a correlation id, metrics and traces of every route, message and
# schedule (chalicelib/observability.py); registered first, so it sees the
# answers as they leave.
app.register_middleware(observability.middleware, "all")
# Every answer, the framework's own included (405, 415), in the contract's error shape.
app.register_middleware(contract_errors, "http")
# Every route runs in this one function: it touches every table.
# Settings from `python -m bench --only functions` (bench/functions.py; the
# figures with DynamoDB Local on one core, mapped to Lambda's CPU share at the
# declared memory; memory >= 1.5x the peak, timeout >= 2x the worst batch;
# ranges are of two runs on a shared machine).
# measured: peak 101 MiB (43 after import app); a request p50 0.03 s, p99
# 0.23-0.26 s, worst 0.34-0.52 s, over a mix with card payments (the PIN's
# Argon2: 19 MiB and most of a request's CPU).
# 1024 MB for the CPU (0.58 vCPU) a payment at the till waits on, not memory.
functions.declare(
    functions.API_HANDLER, memory_mb=1024, timeout_s=25, why="the HTTP API (every route)",
    # 25 s: a request gives up within 19 s (chalicelib/db.py), API Gateway at 29 s.
    reads=("activation-runs", "phase-counters"),
    writes=("accounts", "activation-runs", "alerts", "audit", "benefits", "cards", "exclusion-import-chunks",
            "exclusion-imports", "exclusion-lists", "exclusions", "merchant-reference", "merchant-tax-ids", "merchants",
            "payouts", "phases", "qr-nonces", "rate-counters",
            "reconciliations", "registrations", "switches", "transfers"),
    sends=(queues.ACTIVATION_QUEUE, queues.EXCLUSION_IMPORTS_QUEUE),
    # POST /v1/admin/reconciliation/{bank}/{date} reads the bank's statement.
    statement_bucket="read",
    # the previous QR key: QRs signed before a rotation still verify (optional)
    secrets=("id-pepper", "data-key", "qr-signing-key", "qr-previous-signing-key"),
)

BLUEPRINT_MODULES = (public, admin, citizen, registrar, merchant, payments, activation, payouts, settlement)

for _module in BLUEPRINT_MODULES:
    app.register_blueprint(_module.bp)
    openapi.add_paths(_module.OPENAPI_PATHS)


# -- SQS handlers and schedules ------------------------------------------------------
# (@app.on_sqs_message(queue=...) / @app.schedule(...); keep each a one-line
#  call into its package, with its functions.declare(...) above it: memory,
#  timeout, concurrency and every table, queue and secret it touches, from
#  which infra/ builds its settings and its IAM role.)

# measured: peak 75 MiB; 10 messages of 400 registrations in 13-32 s, a
# message p99 2.4-8.7 s, a page of 200 at worst 1.0-4.9 s (50 transactions on
# DynamoDB Local, 5 on AWS): inside the 10 s + 3 s a message keeps past its budget.
ACTIVATION_WORKER = functions.declare(
    "activation_worker", memory_mb=1024, timeout_s=300, why="credits or expires one bucket of a wave per message",
    # 10 messages share one invocation's time (crediting budgets each from
    # the time left: ~20 s each of 300 s). 20 workers at 10 transactions/s of
    # 49 wallets: 20,000 write units/s on `accounts` (warmed to 25,000) and 25
    # transactions/s per treasury shard (CAPACITY.md, Issuance); 1024 MB keeps
    # a worker's CPU off a page's critical path (0.58 vCPU).
    consumes=queues.ACTIVATION_QUEUE, batch_size=10, max_concurrency=20, reserved_concurrency=20,
    reads=("phases", "registrations"),
    # A cash_transfer phase's credit is a payout: its record, and the
    # citizen's PromptPay id decrypted from the registration, encrypted again
    # for the payout (the data key).
    writes=("accounts", "transfers", "activation-runs", "phase-counters", "phases", "payouts"),
    sends=(queues.ACTIVATION_QUEUE,),
    secrets=("data-key",),
)


@app.on_sqs_message(queue=queues.queue_name(ACTIVATION_WORKER.consumes or ""), batch_size=ACTIVATION_WORKER.batch_size,
                    maximum_concurrency=ACTIVATION_WORKER.max_concurrency)
def activation_worker(event):  # type: ignore[no-untyped-def]
    return activation_jobs.handle_sqs_event(event.to_dict(), event.context)


# measured: peak 76 MiB; a wave's 64 messages sent in 1.3-2.9 s at 512 MB.
functions.declare(
    "activation_schedule", memory_mb=512, timeout_s=60, why="every minute: sends due waves' and expiries' messages",
    reserved_concurrency=2,  # two overlapping planners are safe (a claim per run), more is waste
    reads=("phases",), writes=("activation-runs",), sends=(queues.ACTIVATION_QUEUE,),
)


@app.schedule(Rate(1, unit=Rate.MINUTES))  # locally: every settings.schedule_rate_s (the pump)
def activation_schedule(event):  # type: ignore[no-untyped-def]
    activation_jobs.run_schedule()


# measured: peak 97 MiB; 1,000 statuses (from 2 or 10 messages of 100) in
# 28-59 s at 512 MB: a batch of 2 full messages (1,000 statuses; it has no
# budget) needs 56-118 s with the headroom; 10 full ones would need 400 s.
BANK_STATUS_WORKER = functions.declare(
    "bank_status_worker", memory_mb=512, timeout_s=180, why="settles or reverses payouts from the banks' pacs.002",
    # 2 messages of up to 500 statuses each; 5 workers x 8 threads settle
    # ~1,300 payouts/s on AWS, 83/s per in-flight shard of a bank (CAPACITY.md),
    # and keep one bank's burst from taking the account's concurrency.
    consumes=queues.STATUS_QUEUE, batch_size=2, max_concurrency=5, reserved_concurrency=10,
    writes=("accounts", "transfers", "payouts", "alerts", "audit", "phase-counters"),
    sends=(queues.dlq_short_name(queues.STATUS_QUEUE),),
)


@app.on_sqs_message(queue=queues.queue_name(BANK_STATUS_WORKER.consumes or ""),
                    batch_size=BANK_STATUS_WORKER.batch_size, maximum_concurrency=BANK_STATUS_WORKER.max_concurrency)
def bank_status_worker(event):  # type: ignore[no-untyped-def]
    return payout_statuses.handle_sqs_event(event.to_dict(), event.context)


# measured: peak 83 MiB; 1,000 payouts of 10 banks dispatched in 9-22 s at
# 512 MB (9-22 ms each): a minute's 1,200 at the withdrawal peak in <= 27 s.
functions.declare(
    "payout_schedule", memory_mb=512, timeout_s=120,
    why="every minute: each bank's pending payouts to its queue, timeouts",
    reserved_concurrency=1,  # one dispatcher at a time (each payout is marked sent once, conditionally)
    writes=("payouts", "alerts", "audit"),
    sends=tuple(queues.bank_queue(code) for code in sorted(BANK_CODES)),
    # The instruction carries the creditor's account number or PromptPay id,
    # stored encrypted: the dispatcher decrypts it.
    secrets=("data-key",),
)


@app.schedule(Rate(1, unit=Rate.MINUTES))  # dispatch each bank's pending payouts, flag timeouts
def payout_schedule(event):  # type: ignore[no-untyped-def]
    payout_dispatch.run_schedule(time_left=functions.time_left(event.context))


# measured: peak 115 MiB; a statement of 10,000 entries in 3.1-7.9 s at 512 MB.
functions.declare(
    "reconciliation_schedule", memory_mb=512, timeout_s=300, why="hourly: each bank's statement against the payouts",
    reserved_concurrency=1, reads=("payouts",), writes=("reconciliations", "alerts", "audit"),
    statement_bucket="read",
)


@app.schedule(Rate(1, unit=Rate.HOURS))  # reconcile yesterday's statements until each bank's is in
def reconciliation_schedule(event):  # type: ignore[no-untyped-def]
    reconciliation.run_schedule()



# measured: peak 76 MiB; 20 chunks of 1,000 IDs in one message in 17-20 s, a
# chunk at worst 1.4-1.7 s, inside the 25 s the message keeps past its budget.
EXCLUSIONS_IMPORT_WORKER = functions.declare(
    "exclusions_import_worker", memory_mb=1024, timeout_s=300,
    why="imports a stored exclusion list chunk by chunk from its cursor",
    # One import per message; an import is serial (its cursor), two at once
    # (Lambda's least) keep bulk writes clear of the registrations' reads.
    consumes=queues.EXCLUSION_IMPORTS_QUEUE, batch_size=1, max_concurrency=2, reserved_concurrency=2,
    reads=("exclusion-import-chunks",),
    writes=("alerts", "audit", "exclusion-imports", "exclusion-lists", "exclusions"),
    sends=(queues.EXCLUSION_IMPORTS_QUEUE,),
)


@app.on_sqs_message(queue=queues.queue_name(EXCLUSIONS_IMPORT_WORKER.consumes or ""),
                    batch_size=EXCLUSIONS_IMPORT_WORKER.batch_size,
                    maximum_concurrency=EXCLUSIONS_IMPORT_WORKER.max_concurrency)
def exclusions_import_worker(event):  # type: ignore[no-untyped-def]
    return exclusion_imports.handle_sqs_event(event.to_dict(), event.context)


# measured: peak 74 MiB; a check in 0.9 s at 512 MB (1.9 s at 1024 in a busier run). 300 s:
# its stream read has no budget, for a reader that fell behind.
functions.declare(
    "ledger_check", memory_mb=512, timeout_s=300, why="hourly: the ledger summary as metrics (ledger imbalance alarm)",
    # reads the balances' stream itself before the summary (O(stream shards x buckets), no scan)
    reserved_concurrency=1, reads=("accounts",), writes=("alerts", "ledger-summary"), streams=("accounts",),
)


@app.schedule(Rate(1, unit=Rate.HOURS))
def ledger_check(event):  # type: ignore[no-untyped-def]
    ledger_checks.check_ledger()


# measured: peak 84 MiB; a pass over a wave's and the payouts' balance changes in 3.5-6.3 s at 512 MB.
functions.declare(
    "ledger_summary_reader", memory_mb=512, timeout_s=60,
    why="every minute: folds the balances' stream into the ledger summary's aggregate items",
    # One at a time (two would be safe: each write is conditional on the shard's sequence number).
    reserved_concurrency=1, reads=("accounts",), writes=("ledger-summary",), streams=("accounts",),
)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def ledger_summary_reader(event):  # type: ignore[no-untyped-def]
    ledger_checks.read_ledger_stream(event.context)


# Last: every route answers errors as the contract's body (also those above).
map_errors(app)
