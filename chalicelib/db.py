"""Binding of every PynamoDB model to the stage's tables and endpoint.

Models declare a short table name (``Meta.short_name``); ``bind_models`` gives
them the stage-prefixed name, the region and, locally, the endpoint. Tests and
the local stack call it again after changing the environment.
"""
from __future__ import annotations

from typing import Iterable

from pynamodb.models import Model

from chalicelib.config import Settings, get_settings

__all__ = ["register", "registered_models", "bind_models", "create_tables"]

# Enough pooled HTTP connections for the concurrency the API runs with
# (threaded local server, benchmark workers); botocore's default is 10.
MAX_POOL_CONNECTIONS = 64

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
    # Our own retry loop (chalicelib.ledger.retry) handles throttling and
    # transaction conflicts with jitter; botocore's few quick retries stay on.
    model._connection = None  # type: ignore[attr-defined]


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
