"""Tables, queues and the statement bucket of a stage, created idempotently."""
from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from chalicelib import db, queues
from chalicelib.config import Settings, get_settings
from chalicelib.models_index import import_all_models

__all__ = ["LOCAL_VISIBILITY_TIMEOUT_S", "create_all", "create_tables", "delete_tables",
           "create_queues", "create_bucket"]

# Short locally so that a failed message comes back within seconds.
LOCAL_VISIBILITY_TIMEOUT_S = 10
# DynamoDB Local takes most of a second per CreateTable; in parallel the
# dozen tables of a stage (made afresh for every test) take half the time.
TABLE_WORKERS = 8


def create_tables(workers: int = TABLE_WORKERS) -> list[str]:
    """Every registered model's table (every model module imported first)."""
    import_all_models()
    db.bind_models()
    with ThreadPoolExecutor(workers) as pool:
        created = pool.map(lambda model: db.create_tables([model]), db.registered_models())
        return [name for names in created for name in names]


def delete_tables() -> None:
    """Drop the stage's tables (tests: keeps DynamoDB Local's memory bounded)."""
    def drop(model: Any) -> None:
        with contextlib.suppress(Exception):  # already gone, or the emulator stopped: nothing to keep
            model.delete_table()

    with ThreadPoolExecutor(TABLE_WORKERS) as pool:
        list(pool.map(drop, db.registered_models()))


def _sqs(settings: Settings) -> Any:
    return boto3.client("sqs", endpoint_url=settings.sqs_endpoint, region_name=settings.region)


def create_queues(settings: Settings | None = None,
                  visibility_timeout_s: int = LOCAL_VISIBILITY_TIMEOUT_S) -> dict[str, str]:
    """Each queue of ``chalicelib.queues.QUEUES`` with its DLQ; short name -> URL."""
    settings = settings or get_settings()
    sqs = _sqs(settings)
    urls = {}
    for short in queues.QUEUES:
        dlq_url = sqs.create_queue(QueueName=settings.queue_name(queues.dlq_short_name(short)))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn,
                              "maxReceiveCount": str(queues.MAX_RECEIVE_COUNT)})
        attributes = {"VisibilityTimeout": str(visibility_timeout_s), "RedrivePolicy": redrive}
        url = sqs.create_queue(QueueName=settings.queue_name(short))["QueueUrl"]
        # Set separately: create_queue refuses attributes that differ from an
        # existing queue's, and a re-run must converge rather than fail.
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        urls[short] = url
    return urls


def create_bucket(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint, region_name=settings.region)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if settings.statement_bucket not in existing:
        s3.create_bucket(Bucket=settings.statement_bucket,
                         CreateBucketConfiguration={"LocationConstraint": settings.region})
    return settings.statement_bucket


def create_all() -> dict[str, Any]:
    settings = get_settings()
    return {"tables": create_tables(), "queues": create_queues(settings),
            "bucket": create_bucket(settings)}
