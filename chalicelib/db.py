"""Binding of every PynamoDB model to the stage's tables and endpoint.

Models declare a short table name (``Meta.short_name``); ``bind_models`` gives
them the stage-prefixed name, the region and, locally, the endpoint. Tests and
the local stack call it again after changing the environment.
"""
from __future__ import annotations

import threading
from typing import Iterable

import botocore.loaders
import botocore.session
import pynamodb.connection.base as pynamodb_base
from pynamodb.connection import Connection
from pynamodb.models import Model

from chalicelib.config import Settings, get_settings

__all__ = ["register", "registered_models", "bind_models", "create_tables", "connection",
           "reset_connections"]

# Enough pooled HTTP connections for the concurrency the API runs with
# (threaded local server, benchmark workers); botocore's default is 10.
MAX_POOL_CONNECTIONS = 64


def _share_botocore_loader() -> None:
    """PynamoDB makes a botocore session per connection and thread, and each
    session parses the DynamoDB service model again (~0.1 s of CPU): on a cold
    start once per model class, locally once per request thread. One shared
    loader (it caches what it parsed) makes that once per process."""
    loader = botocore.loaders.create_loader()

    def session() -> botocore.session.Session:
        made = botocore.session.get_session()
        made.register_component("data_loader", loader)
        return made

    pynamodb_base.get_session = session


_share_botocore_loader()

_CONNECTIONS: dict[tuple[str, str | None], Connection] = {}
_CONNECTIONS_LOCK = threading.Lock()


def connection(settings: Settings | None = None) -> Connection:
    """The low-level connection (transactions, raw updates) of the stage's
    endpoint: one per process and endpoint, so its HTTP pool is reused."""
    settings = settings or get_settings()
    key = (settings.region, settings.dynamodb_endpoint)
    with _CONNECTIONS_LOCK:
        found = _CONNECTIONS.get(key)
        if found is None:
            found = _CONNECTIONS[key] = Connection(region=settings.region, host=settings.dynamodb_endpoint,
                                                   max_pool_connections=MAX_POOL_CONNECTIONS)
    return found

_MODELS: list[type[Model]] = []


def reset_connections() -> None:
    """Forget every connection and bind the models again, so that the next
    call makes a new botocore client (benchmarks hook client creation)."""
    with _CONNECTIONS_LOCK:
        _CONNECTIONS.clear()
    bind_models()


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
    # Our own retry loop (chalicelib.ledger.retry) handles throttling and
    # transaction conflicts with jitter; botocore's few quick retries stay on.
    model._connection = None  # type: ignore[attr-defined]
    # PynamoDB gives each model a connection and botocore client of its own
    # (~30 ms of CPU each, on every cold start); every model of an endpoint
    # shares one instead, with the model's table description added to it.
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
