"""Fixtures shared by every tier, and the tier markers.

A test's tier is its folder (tests/unit, functional, integration,
concurrency): ``pytest_collection_modifyitems`` marks each test with it, so
that ``pytest -m unit`` runs every unit test and a module cannot claim a tier
it is not in.

- ``moto_aws``: moto in-process (tables, queues, bucket) for fast
  single-threaded tests. Never for concurrency: moto loses money there.
- ``ddb_local_endpoint`` (session): DynamoDB Local on a free port, started on
  first use and stopped at the end of the session.
- ``ddb_local``: settings pointed at DynamoDB Local with a fresh stage (fresh
  tables) per test and its 10-item transaction limit.
- ``moto_server_endpoint`` (session): moto in server mode (SQS, S3) for tests
  that run the app in threads.
- ``local_api``: the Chalice app (app.py) served threaded on a free port
  against DynamoDB Local and moto server; yields its base URL.
- ``local_pump``: the pump running the app's SQS handlers and schedules for
  ``local_api``'s stage.
- ``mint_token``: ``mint_token(role, **claims)`` -> a token that the app
  accepts in every fixture above (local issuer).
"""
from __future__ import annotations

import base64
import functools
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack import dynamodb_local, env, moto_server, resources, tokens
from devstack.procs import free_port

# Tests never reach a real AWS account, whatever the shell has configured.
os.environ.pop("AWS_PROFILE", None)
os.environ.update(env.dummy_aws())

TEST_REGION = env.LOCAL_REGION
# Fixed test secrets: deterministic hashes and ciphertexts in tests.
TEST_SECRETS = {
    "WALLET_ID_PEPPER": "test-pepper-not-a-secret-0123456789",
    "WALLET_DATA_KEY": base64.b64encode(bytes(range(32))).decode(),
    "WALLET_QR_SIGNING_KEY": base64.b64encode(bytes(range(32, 64))).decode(),
}
TEST_SCHEDULE_RATE_S = 1
_ENDPOINT_VARS = ("WALLET_DYNAMODB_ENDPOINT", "WALLET_SQS_ENDPOINT", "WALLET_S3_ENDPOINT",
                  "WALLET_JWKS_URL")


TIERS = ("unit", "functional", "integration", "concurrency")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_root = os.path.dirname(__file__)
    for item in items:
        relative = os.path.relpath(str(item.path), tests_root).split(os.sep)
        tier = relative[0] if len(relative) > 1 else None
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in one of tests/{{{','.join(TIERS)}}}/")
        item.add_marker(getattr(pytest.mark, tier))


def _fresh_stage() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def _base_env(monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    """Dummy AWS credentials, test secrets, the local issuer; no endpoints."""
    _private, jwks = tokens.ensure_keys()
    for name in _ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    values = dict(env.dummy_aws())
    values.update(TEST_SECRETS)
    values.update({
        "WALLET_STAGE": stage,
        "WALLET_JWKS_FILE": str(jwks),
        "WALLET_JWT_ISSUER": tokens.LOCAL_ISSUER,
        "WALLET_JWT_AUDIENCE": tokens.AUDIENCE,
        "WALLET_SCHEDULE_RATE_S": str(TEST_SCHEDULE_RATE_S),
    })
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _apply_settings() -> Any:
    from chalicelib import db
    from chalicelib.config import get_settings, rebuild
    from chalicelib.models_index import import_all_models

    rebuild()
    import_all_models()
    db.bind_models()
    return get_settings()


@pytest.fixture
def mint_token() -> Callable[..., str]:
    """``mint_token("citizen", cid="...", district="1001")`` -> a bearer token."""
    def mint(role: str, **claims: Any) -> str:
        return tokens.mint(role, claims)
    return mint


@functools.cache
def _moto_client(service: str, region: str) -> Any:
    """Clients of the fixture itself, made once: moto resets boto3's default
    session on every start, and a new client costs ~0.1 s."""
    import boto3

    return boto3.session.Session().client(service, region_name=region)


def _moto_sqs_backend(region: str) -> Any:
    """moto's in-process SQS backend (to see which queues hold messages), or None."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends
    except ImportError:
        return None
    return sqs_backends[DEFAULT_ACCOUNT_ID][region]


def _forget_stream(region: str, table_name: str) -> None:
    """A table emptied for the next test starts its stream again, as a new
    table would (the ledger summary's aggregates are emptied too): else the
    summary's reader would fold every earlier test's history each test."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables[table_name].stream_shard
    if shard is not None:
        shard.items = []


def _moto_world(settings: Any) -> None:
    """Every table, queue and the bucket of ``settings``, present and empty.

    moto keeps its state between tests (started with ``reset=False``), so
    the resources are made once and emptied afterwards: emptying a dozen
    small tables costs a scan each, making them costs ~1 s a test."""
    from chalicelib import db, queues

    ddb = _moto_client("dynamodb", settings.region)
    existing = set(ddb.list_tables()["TableNames"])
    for model in db.registered_models():
        name = model.Meta.table_name
        if name not in existing:
            db.create_tables([model])
            continue
        keys = [k["AttributeName"] for k in ddb.describe_table(TableName=name)["Table"]["KeySchema"]]
        projection = ", ".join(f"#k{i}" for i in range(len(keys)))
        names = {f"#k{i}": k for i, k in enumerate(keys)}
        for page in ddb.get_paginator("scan").paginate(TableName=name, ProjectionExpression=projection,
                                                       ExpressionAttributeNames=names):
            for item in page["Items"]:
                ddb.delete_item(TableName=name, Key=item)
        _forget_stream(settings.region, name)
    sqs = _moto_client("sqs", settings.region)
    present = {url.rsplit("/", 1)[-1]: url for url in sqs.list_queues().get("QueueUrls", [])}
    wanted = [settings.queue_name(short) for short in queues.QUEUES]
    wanted += [settings.queue_name(queues.dlq_short_name(short)) for short in queues.QUEUES]
    if all(name in present for name in wanted):
        # Only the queues that hold messages: a purge costs ~15 ms through
        # the client, and a stage has 38 queues (a queue per bank).
        backend = _moto_sqs_backend(settings.region)
        for name in wanted:
            held = getattr(backend.queues.get(name), "_messages", None) if backend is not None else True
            if held:
                sqs.purge_queue(QueueUrl=present[name])
    else:
        resources.create_queues(settings)
    s3 = _moto_client("s3", settings.region)
    if settings.statement_bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.statement_bucket):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=settings.statement_bucket, Key=obj["Key"])
    else:
        resources.create_bucket(settings)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto in-process with every table, queue and the statement bucket, empty."""
    import moto

    _base_env(monkeypatch, "test")
    monkeypatch.delenv("WALLET_TRANSACTION_ITEM_LIMIT", raising=False)
    # One status at a time: moto does not isolate concurrent transactions
    # (it loses money under them, ARCHITECTURE.md); DynamoDB Local does.
    monkeypatch.setenv("WALLET_STATUS_WORKERS", "1")
    # Emptied queues between tests: moto's documented switch off AWS's one purge a minute.
    monkeypatch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
    mock = moto.mock_aws()
    mock.start(reset=False)
    try:
        settings = _apply_settings()
        _moto_world(settings)
        yield settings
    finally:
        mock.stop(remove_data=False)
        monkeypatch.undo()
        _apply_settings()


@pytest.fixture(scope="session")
def ddb_local_endpoint() -> Iterator[str]:
    """DynamoDB Local for the whole session (the jar is fetched once into .devstack/)."""
    child = dynamodb_local.start(free_port())
    try:
        yield child.url
    finally:
        child.stop(remove_log=True)


@pytest.fixture
def ddb_local(ddb_local_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Settings on DynamoDB Local with fresh tables of a stage unique to the test."""
    _base_env(monkeypatch, _fresh_stage())
    monkeypatch.setenv("WALLET_DYNAMODB_ENDPOINT", ddb_local_endpoint)
    monkeypatch.setenv("WALLET_TRANSACTION_ITEM_LIMIT", str(dynamodb_local.TRANSACTION_ITEM_LIMIT))
    settings = _apply_settings()
    resources.create_tables()
    try:
        yield settings
    finally:
        # Dropped so that a long session does not fill DynamoDB Local's memory.
        resources.delete_tables()
        monkeypatch.undo()
        _apply_settings()


@pytest.fixture(scope="session")
def moto_server_endpoint() -> Iterator[str]:
    """moto in server mode (SQS, S3), thread-safe for SQS, for the session."""
    child = moto_server.start(free_port())
    try:
        yield child.url.removesuffix("/moto-api/")
    finally:
        child.stop(remove_log=True)


@pytest.fixture
def local_aws(ddb_local: Any, moto_server_endpoint: str,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``ddb_local`` plus this stage's queues and bucket on moto server."""
    monkeypatch.setenv("WALLET_SQS_ENDPOINT", moto_server_endpoint)
    monkeypatch.setenv("WALLET_S3_ENDPOINT", moto_server_endpoint)
    settings = _apply_settings()
    resources.create_queues(settings)
    resources.create_bucket(settings)
    yield settings


@pytest.fixture
def local_api(local_aws: Any) -> Iterator[str]:
    """The app of app.py served threaded (as ``chalice local``) on a free port."""
    from devstack.procs import LOOPBACK
    from devstack.server import ApiServer, load_app

    with ApiServer(load_app(), LOOPBACK, free_port()) as server:
        yield server.url


@pytest.fixture
def local_pump(local_aws: Any) -> Iterator[Any]:
    """The pump for app.py's SQS handlers and schedules on this test's stage."""
    from devstack.pump import Pump, stage_queue_resolver
    from devstack.server import load_app

    pump = Pump(load_app(), local_aws.sqs_endpoint, local_aws.region,
                schedule_rate_s=TEST_SCHEDULE_RATE_S, visibility_timeout_s=2,
                queue_resolver=stage_queue_resolver(local_aws)).start()
    try:
        yield pump
    finally:
        pump.stop()


class MovableClock:
    """The app's clock (chalicelib/clock.py) moved through its clock file,
    as ``python -m devstack clock`` moves the local stack's."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset_s = 0.0

    def now(self) -> Any:
        from chalicelib.clock import utcnow

        return utcnow()

    def advance(self, delta: Any) -> Any:
        from chalicelib.clock import write_offset

        self.offset_s += delta.total_seconds()
        write_offset(self.path, self.offset_s)
        return self.now()


@pytest.fixture
def clock(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> MovableClock:
    """``clock.advance(timedelta(days=30))``: every reading of the app's time moves."""
    from chalicelib import clock as app_clock

    path = str(tmp_path / "clock.json")
    monkeypatch.setenv(app_clock.CLOCK_FILE_ENV, path)
    monkeypatch.setattr(app_clock, "_RECHECK_S", 0.0)
    return MovableClock(path)
