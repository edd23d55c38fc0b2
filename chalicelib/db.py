"""The database layer: model binding, the one connection, the one retry
policy, the one tagged transaction and the one way to read a failed condition.

- Binding: models declare a short table name (``Meta.short_name``);
  ``bind_models`` gives them the stage-prefixed name, the region and, locally,
  the endpoint, and makes every model use the one shared connection.
- Retries (one policy, here only): botocore's ``standard`` mode with
  ``BOTOCORE_ATTEMPTS_MAX`` attempts retries throttling, 5xx and timeouts of
  every call; a cancelled transaction whose reasons are only conflicts or
  throttling (botocore does not retry those) is retried by ``Transaction``
  with full jitter, ``TRANSACTION_ATTEMPTS_MAX`` times at most. No DynamoDB
  call starts after the request's deadline (``REQUEST_DEADLINE_S``, see
  ``request_deadline``). When attempts or time run out: ``RetriesExhaustedError``,
  a 429 ``rate_limited`` with Retry-After.
- A multi-item write is one ``Transaction``: every item has a role-prefixed tag
  (``<role>`` or ``<role>:<key>``); a failed condition comes back as
  ``ConditionsFailedError`` naming the tags that failed, each with the item as
  DynamoDB returned it, which the caller turns into its domain error
  ``raise ... from exc``.
- A single-item conditional write: ``except PutError as exc: if
  db.condition_failed(exc): ...``.

Bounds of one API request (``request_deadline``): at most
TRANSACTION_ATTEMPTS_MAX x BOTOCORE_ATTEMPTS_MAX = 15 HTTP calls per
transaction, BOTOCORE_ATTEMPTS_MAX = 3 per other call, none started after
10 s; a call started before that ends within CONNECT_TIMEOUT_S +
READ_TIMEOUT_S, and botocore's last backoff is 2 s at most, so a request
gives up within 10 + 7 + 2 = 19 s, inside API Gateway's 29 s.
"""
from __future__ import annotations

import contextlib
import contextvars
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, cast

import botocore.loaders
import botocore.session
import pynamodb.connection.base as pynamodb_base
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

from chalicelib.config import Settings, get_settings, runtime
from chalicelib.errors import RateLimitedError, WalletError

__all__ = [
    "register", "registered_models", "bind_models", "create_tables", "connection", "dynamodb_client", "table_name",
    "BOTOCORE_RETRY_MODE", "BOTOCORE_ATTEMPTS_MAX", "CONNECT_TIMEOUT_S", "READ_TIMEOUT_S",
    "TRANSACTION_ATTEMPTS_MAX", "REQUEST_DEADLINE_S", "RETRY_AFTER_S",
    "request_deadline", "RetryBudget", "RetriesExhaustedError",
    "Transaction", "ConditionsFailedError", "condition_failed", "is_throttling", "is_transient", "plain",
]

# Enough pooled HTTP connections for the concurrency the API runs with
# (threaded local server, benchmark workers); botocore's default is 10.
MAX_POOL_CONNECTIONS = 64

# "standard", not "adaptive": standard retries with bounded, jittered
# exponential backoff and a per-client retry quota that stops retrying when
# most calls fail (no retry storm against a throttled table). Adaptive adds a
# client-side rate limiter that sleeps before first attempts too, learned by
# each Lambda container alone, for a time no deadline of ours bounds; botocore
# documents it as experimental.
BOTOCORE_RETRY_MODE: Final = "standard"
# Attempts of one call, the first included: throttling backs off 0-1 s, then 0-2 s.
BOTOCORE_ATTEMPTS_MAX = 3
# DynamoDB answers in milliseconds; PynamoDB's defaults (15 s, 30 s) would
# let one stalled call outlive API Gateway's 29 s alone.
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
# Hand retries of a transaction cancelled for conflicts or throttling only.
TRANSACTION_ATTEMPTS_MAX = 5
RETRY_BACKOFF_BASE_S = 0.02
RETRY_BACKOFF_CAP_S = 0.5
# No DynamoDB call of one request starts later than this after it began.
REQUEST_DEADLINE_S = 10.0
# What a 429 tells the client: the whole request is idempotent, retry soon.
RETRY_AFTER_S = 1

# Cancellation reasons that are load, not a rule (the others: None,
# ConditionalCheckFailed, ItemCollectionSizeLimitExceeded, ValidationError).
_TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
# Error codes botocore's standard mode retries as throttling; seen here only
# once its attempts ran out.
_THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "Throttling", "TooManyRequestsException",
})
_CONDITION_FAILED = "ConditionalCheckFailedException"
_CANCELLED = "TransactionCanceledException"
_DESERIALIZER = TypeDeserializer()


class RetriesExhaustedError(RateLimitedError):
    """DynamoDB kept throttling or conflicting past the retry bound or the
    request's deadline: the client retries the whole (idempotent) request."""

    def __init__(self, operation: str) -> None:
        super().__init__("Too many requests at this moment; retry this request in a second.", RETRY_AFTER_S)
        self.operation = operation


# -- the request's deadline ----------------------------------------------------

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("dynamodb_deadline", default=None)


@contextlib.contextmanager
def request_deadline(seconds: float = REQUEST_DEADLINE_S) -> Iterator[None]:
    """No DynamoDB call starts ``seconds`` after entering (nested: the
    earlier deadline holds). The API's route helper enters it per request."""
    wanted = time.monotonic() + seconds
    current = _DEADLINE.get()
    token = _DEADLINE.set(wanted if current is None else min(current, wanted))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _refuse_after_deadline(**_: Any) -> None:
    """botocore ``before-send`` of every DynamoDB HTTP attempt, botocore's
    own retries included: past the deadline, the request gives up."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise RetriesExhaustedError("deadline")


class RetryBudget:
    """The hand retries of one operation: at most TRANSACTION_ATTEMPTS_MAX
    attempts, full jitter between them, none starting after the deadline
    (the request's, else REQUEST_DEADLINE_S from now)."""

    def __init__(self, operation: str, attempts_max: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.operation = operation
        self.attempts_max = attempts_max or TRANSACTION_ATTEMPTS_MAX
        self.attempts = 1
        own = time.monotonic() + REQUEST_DEADLINE_S
        request = _DEADLINE.get()
        self.deadline = own if request is None else min(own, request)
        self._sleep = sleep

    def wait(self, cause: BaseException | None = None) -> None:
        """Sleep before the next attempt, or raise RetriesExhaustedError
        (from ``cause``) when no attempt is left."""
        pause = random.uniform(0, min(RETRY_BACKOFF_CAP_S, RETRY_BACKOFF_BASE_S * 2 ** self.attempts))
        if self.attempts >= self.attempts_max or time.monotonic() + pause >= self.deadline:
            raise RetriesExhaustedError(self.operation) from cause
        self._sleep(pause)
        self.attempts += 1


# -- the one connection ----------------------------------------------------------

def _shared_sessions() -> None:
    """PynamoDB makes a botocore session per connection and thread, and each
    session parses the DynamoDB service model again (~0.1 s of CPU): on a cold
    start once per model class, locally once per request thread. One shared
    loader (it caches what it parsed) makes that once per process. Every
    session also carries the deadline check, so every DynamoDB client made
    from it does."""
    loader = botocore.loaders.create_loader()

    def session() -> botocore.session.Session:
        made = botocore.session.get_session()
        made.register_component("data_loader", loader)
        made.register("before-send.dynamodb", _refuse_after_deadline)
        return made

    # PynamoDB's stubs do not declare the module's get_session; it is what its connections call.
    pynamodb_base.get_session = session  # type: ignore[attr-defined,assignment]


_shared_sessions()

def connection(settings: Settings | None = None) -> Connection:
    """The low-level connection of the stage's endpoint, with the retry
    policy above: one per runtime and endpoint, so its HTTP pool is reused."""
    settings = settings or get_settings()
    return runtime().component(f"dynamodb:{settings.region}:{settings.dynamodb_endpoint}",
                               lambda: _new_connection(settings))


def _new_connection(settings: Settings) -> Connection:
    return Connection(
        region=settings.region, host=settings.dynamodb_endpoint,
        max_pool_connections=MAX_POOL_CONNECTIONS,
        connect_timeout_seconds=CONNECT_TIMEOUT_S, read_timeout_seconds=READ_TIMEOUT_S,
        retry_configuration={"mode": BOTOCORE_RETRY_MODE, "total_max_attempts": BOTOCORE_ATTEMPTS_MAX})


def dynamodb_client(settings: Settings | None = None) -> DynamoDBClient:
    """The low-level botocore client of the shared connection, typed."""
    return cast("DynamoDBClient", connection(settings).client)


def table_name(model: type[Model]) -> str:
    """The stage's table name of ``model`` (set by binding, see _bind_one)."""
    return str(model.Meta.table_name)


_MODELS: list[type[Model]] = []


def register(model: type[Model]) -> type[Model]:
    """Class decorator: the model takes part in binding and table creation."""
    if model not in _MODELS:
        _MODELS.append(model)
    _bind_one(model, get_settings())
    return model


def registered_models() -> list[type[Model]]:
    return list(_MODELS)


def _bind_one(model: type[Model], settings: Settings) -> None:
    meta = model.Meta
    meta.table_name = settings.table_name(meta.short_name)  # type: ignore[attr-defined]
    meta.region = settings.region
    meta.host = settings.dynamodb_endpoint
    meta.max_pool_connections = MAX_POOL_CONNECTIONS
    meta.billing_mode = "PAY_PER_REQUEST"
    model._connection = None
    # PynamoDB gives each model a connection and botocore client of its own
    # (~30 ms of CPU each, on every cold start, and its own retry settings);
    # every model of an endpoint shares one instead, with the model's table
    # description added to it.
    table = model._get_connection()
    shared = connection(settings)
    if table.table_name not in shared._tables:  # same description on a rebind
        shared.add_meta_table(table.connection.get_meta_table(table.table_name))
    table.connection = shared


def bind_models(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    for model in _MODELS:
        _bind_one(model, settings)


def create_tables(models: Iterable[type[Model]] | None = None) -> list[str]:
    """Create every missing table (idempotent); returns the names created."""
    created = []
    for model in models or _MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
    return created


# -- reading what DynamoDB says ----------------------------------------------------

def _error_code(exc: BaseException) -> str | None:
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_code
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def condition_failed(exc: BaseException) -> bool:
    """A single-item write (PutError, UpdateError, DeleteError or a botocore
    ClientError) failed its condition: the caller's rule said no."""
    return _error_code(exc) == _CONDITION_FAILED


def is_throttling(exc: BaseException) -> bool:
    """DynamoDB throttled a call past botocore's attempts: load, not a fault."""
    return _error_code(exc) in _THROTTLING_CODES


def is_transient(exc: BaseException) -> bool:
    """A transaction cancelled only for conflicts with other transactions or
    throttling (botocore does not retry those): worth another attempt."""
    if not isinstance(exc, ClientError) or _error_code(exc) != _CANCELLED:
        return False
    codes = {reason.get("Code") for reason in exc.response.get("CancellationReasons") or []} - {"None", None}
    return bool(codes) and codes <= _TRANSIENT_REASONS


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; money and counts are ints."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    return value


def _item_of(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return {k: plain(_DESERIALIZER.deserialize(v)) for k, v in raw.items()} if raw else None


# -- the one tagged transaction ----------------------------------------------------

_TAG = re.compile(r"[a-z][a-z_]*(:.+)?", re.DOTALL)


class ConditionsFailedError(WalletError):
    """Items of a transaction failed their conditions; nothing was written.

    ``failed`` maps each failed item's tag to the item as DynamoDB returned
    it (plain values; None when the item did not exist), in the order sent.
    Never shown to a client: the caller turns it into its domain error.
    """

    def __init__(self, failed: dict[str, dict[str, Any] | None]) -> None:
        super().__init__(f"conditions failed: {', '.join(failed)}")
        self.failed = failed

    def __contains__(self, tag: object) -> bool:
        return tag in self.failed

    def item(self, tag: str) -> dict[str, Any]:
        """The failed item of ``tag`` as DynamoDB returned it ({} if it did not exist)."""
        return self.failed.get(tag) or {}

    def keys(self, role: str) -> dict[str, dict[str, Any] | None]:
        """``{key: item}`` of the failed tags ``<role>:<key>``, in the order sent."""
        prefix = f"{role}:"
        return {tag[len(prefix):]: item for tag, item in self.failed.items() if tag.startswith(prefix)}


class Transaction:
    """One TransactWriteItems whose every item carries a tag.

    A tag is ``<role>`` or ``<role>:<key>`` (role: lower-case letters and
    ``_``; key: anything, ``:`` included), unique in the transaction, so that
    one caller's key can never be read as another role. The items go out in
    the order they were added and DynamoDB's cancellation reasons, one per
    item in that order, are matched back to the tags here and only here.
    Every item asks for its old value on a failed condition
    (``ReturnValuesOnConditionCheckFailure=ALL_OLD``).

    ``put``/``update`` take the low-level request (the ledger builds its own:
    they are on every payment's path), ``put_model``/``update_model`` a
    PynamoDB model with its condition and actions.
    """

    def __init__(self, operation: str, item_limit: int | None = None, via: Connection | None = None) -> None:
        self.operation = operation
        self.item_limit = item_limit or get_settings().transaction_item_limit
        self._via = via
        self._tags: list[str] = []
        self._seen: set[str] = set()
        self._items: list[dict[str, Any]] = []
        # Names this transaction on every item it writes that says so (the
        # ledger's balances: ``last_tx``), so that a reader of the stream can
        # tell the changes of one transaction apart from the others'.
        self.id = secrets.token_hex(8)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    def add(self, tag: str, kind: str, request: dict[str, Any]) -> None:
        """An item of ``kind`` Put, Update, Delete or ConditionCheck."""
        if not _TAG.fullmatch(tag):
            raise ValueError(f"tag {tag!r} is not <role> or <role>:<key>")
        if tag in self._seen:
            raise ValueError(f"tag {tag!r} is already in this transaction")
        if len(self._items) >= self.item_limit:
            raise ValueError(f"more than {self.item_limit} items in one transaction ({self.operation})")
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        self._tags.append(tag)
        self._seen.add(tag)
        self._items.append({kind: request})

    def put(self, tag: str, request: dict[str, Any]) -> None:
        self.add(tag, "Put", request)

    def update(self, tag: str, request: dict[str, Any]) -> None:
        self.add(tag, "Update", request)

    def put_model(self, tag: str, model: Model, condition: Condition | None = None) -> None:
        self.add(tag, "Put", model.get_save_kwargs_from_instance(condition=condition))

    def update_model(self, tag: str, model: Model, actions: Sequence[Action],
                     condition: Condition | None = None) -> None:
        self.add(tag, "Update", model.get_update_kwargs_from_instance(actions=list(actions), condition=condition))

    def commit(self) -> None:
        """Write every item or none. Raises ConditionsFailedError (some
        condition failed), RetriesExhaustedError (conflicts or throttling
        past the bound), or the ClientError of anything else (a fault)."""
        client = cast("DynamoDBClient", (self._via or connection()).client)
        budget = RetryBudget(self.operation)
        while True:
            try:
                # No consumed capacity: nothing here reads it.
                client.transact_write_items(TransactItems=cast("Any", self._items), ReturnConsumedCapacity="NONE")
                return
            except ClientError as exc:
                self._raise_unless_transient(exc)
                budget.wait(exc)

    def _raise_unless_transient(self, exc: ClientError) -> None:
        code = _error_code(exc)
        if code in _THROTTLING_CODES:
            raise RetriesExhaustedError(self.operation) from exc  # botocore retried it already
        if code != _CANCELLED:
            raise exc
        reasons = exc.response.get("CancellationReasons") or []
        if len(reasons) != len(self._tags):
            raise exc  # not an answer to what was sent
        failed = {tag: _item_of(reason.get("Item")) for tag, reason in zip(self._tags, reasons, strict=True)
                  if reason.get("Code") == "ConditionalCheckFailed"}
        if failed:
            raise ConditionsFailedError(failed) from exc
        if not is_transient(exc):
            raise exc
