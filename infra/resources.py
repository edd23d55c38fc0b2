"""The stateful resources as the code defines them, read from the code that
uses them, so that the deployed tables and queues cannot drift from it.

- one table per registered PynamoDB model (``chalicelib.db``): its name,
  keys, global indexes (key schema and projection) and TTL attribute;
- every work queue of ``chalicelib.queues`` with its dead-letter queue;
- every Lambda function declared in app.py (``chalicelib.functions``).

This module says what exists; ``infra/stack.py`` says how it is deployed
(encryption, backups, alarms, IAM). No CDK here, so the tests can read it
without synthesizing.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Index",
    "Key",
    "QueueDef",
    "TableDef",
    "load_app",
    "queues",
    "tables",
]


@dataclass(frozen=True)
class Key:
    name: str
    type: str  # "S", "N" or "B"


@dataclass(frozen=True)
class Index:
    name: str
    partition: Key
    sort: Key | None
    projection: str  # "ALL", "KEYS_ONLY" or "INCLUDE"
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableDef:
    short: str
    name: str
    partition: Key
    sort: Key | None
    indexes: tuple[Index, ...]
    ttl_attribute: str | None
    stream_view_type: str | None = None  # Meta.stream_view_type: the table's DynamoDB stream


@dataclass(frozen=True)
class QueueDef:
    short: str
    name: str
    dlq_short: str
    dlq_name: str
    max_receive_count: int


def _keys(key_schema: list[dict[str, str]], types: dict[str, str]) -> tuple[Key, Key | None]:
    by_kind = {k["KeyType"]: k["AttributeName"] for k in key_schema}
    partition = Key(by_kind["HASH"], types[by_kind["HASH"]])
    sort = Key(by_kind["RANGE"], types[by_kind["RANGE"]]) if "RANGE" in by_kind else None
    return partition, sort


def _table(model: Any) -> TableDef:
    schema = model._get_schema()
    types = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    for index in schema.get("global_secondary_indexes", []):
        types.update({d["AttributeName"]: d["AttributeType"] for d in index.get("attribute_definitions", [])})
    if schema.get("local_secondary_indexes"):
        raise ValueError(f"{model.Meta.short_name}: local secondary indexes are not deployed; use a global one")
    partition, sort = _keys(schema["key_schema"], types)
    indexes = []
    for index in sorted(schema.get("global_secondary_indexes", []), key=lambda i: i["index_name"]):
        i_partition, i_sort = _keys(index["key_schema"], types)
        projection = index["projection"]
        indexes.append(Index(index["index_name"], i_partition, i_sort, projection["ProjectionType"],
                             tuple(projection.get("NonKeyAttributes", ()))))
    ttl = [name for name, attr in model.get_attributes().items() if type(attr).__name__ == "TTLAttribute"]
    return TableDef(model.Meta.short_name, model.Meta.table_name, partition, sort, tuple(indexes),
                    ttl[0] if ttl else None, getattr(model.Meta, "stream_view_type", None))


def _bind(stage: str) -> Any:
    os.environ["WALLET_STAGE"] = stage
    for name in ("WALLET_DYNAMODB_ENDPOINT", "WALLET_SQS_ENDPOINT", "WALLET_S3_ENDPOINT"):
        os.environ.pop(name, None)
    from chalicelib import db
    from chalicelib.config import get_settings, rebuild
    from chalicelib.models_index import import_all_models

    rebuild()
    import_all_models()
    settings = get_settings()
    db.bind_models(settings)
    return settings


def tables(stage: str) -> list[TableDef]:
    """One table per registered model, named for ``stage``."""
    _bind(stage)
    from chalicelib import db

    return sorted((_table(model) for model in db.registered_models()), key=lambda t: t.short)


def queues(stage: str) -> list[QueueDef]:
    """Every work queue of the code with its dead-letter queue."""
    settings = _bind(stage)
    from chalicelib import queues as work_queues

    return [QueueDef(short, settings.queue_name(short), work_queues.dlq_short_name(short),
                     settings.queue_name(work_queues.dlq_short_name(short)), work_queues.MAX_RECEIVE_COUNT)
            for short in work_queues.QUEUES]


def load_app(stage: str) -> Any:
    """app.py's Chalice app, imported for ``stage`` (its handlers declare
    their functions in chalicelib.functions as they are imported)."""
    _bind(stage)
    return importlib.import_module("app").app
