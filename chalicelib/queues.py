"""The SQS work queues of the backend, defined in one place.

Each short name in ``QUEUES`` is one work queue of the stage
(``wallet-<stage>-<short>``) with its dead-letter queue
(``wallet-<stage>-<short>-dlq``): a message that has been received
``MAX_RECEIVE_COUNT`` times without being deleted moves to the DLQ. The
infrastructure creates them on AWS; the local stack and the tests create them
from this list. Add a queue by adding its short name here.
"""
from __future__ import annotations

import functools
import json
from typing import Any

import boto3

from chalicelib import observability
from chalicelib.config import get_settings

__all__ = [
    "QUEUES",
    "DLQ_SUFFIX",
    "MAX_RECEIVE_COUNT",
    "MESSAGE_BYTES_MAX",
    "dlq_short_name",
    "queue_name",
    "queue_url",
    "sqs_client",
    "send_json",
    "reset_clients",
]

# Short names of the work queues; per-bank queues are added as
# "bank-<code>-instructions" style names by the code that needs them.
QUEUES: tuple[str, ...] = (
    "activation",
)

DLQ_SUFFIX = "-dlq"
# Receives before SQS moves a message to the DLQ (redrive policy).
MAX_RECEIVE_COUNT = 5
# SQS refuses bodies above 256 KiB; fail early with a clear error instead.
MESSAGE_BYTES_MAX = 256 * 1024


def dlq_short_name(short: str) -> str:
    return f"{short}{DLQ_SUFFIX}"


def queue_name(short: str) -> str:
    """Full name of a queue of the current stage, as SQS and Chalice know it."""
    return get_settings().queue_name(short)


@functools.lru_cache(maxsize=8)
def _client(endpoint: str | None, region: str) -> Any:
    # Built once per container (and per endpoint, which changes only in tests).
    return boto3.client("sqs", endpoint_url=endpoint, region_name=region)


def sqs_client() -> Any:
    settings = get_settings()
    return _client(settings.sqs_endpoint, settings.region)


@functools.lru_cache(maxsize=256)
def _queue_url(endpoint: str | None, region: str, name: str) -> str:
    return _client(endpoint, region).get_queue_url(QueueName=name)["QueueUrl"]


def queue_url(short: str) -> str:
    settings = get_settings()
    return _queue_url(settings.sqs_endpoint, settings.region, settings.queue_name(short))


def send_json(short: str, body: Any, delay_s: int = 0) -> str:
    """Send ``body`` as JSON to the queue ``short``; returns the message id."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MESSAGE_BYTES_MAX:
        raise ValueError(f"message for queue {short!r} is {len(text.encode())} bytes; "
                         f"the limit is {MESSAGE_BYTES_MAX}: split the batch")
    # The sender's correlation id goes with the message (observability.py).
    attributes = {}
    correlation = observability.correlation_id()
    if correlation:
        attributes[observability.CORRELATION_ATTRIBUTE] = {"DataType": "String", "StringValue": correlation}
    response = sqs_client().send_message(QueueUrl=queue_url(short), MessageBody=text,
                                         DelaySeconds=delay_s, MessageAttributes=attributes)
    return response["MessageId"]


def reset_clients() -> None:
    """Forget cached clients and queue URLs (tests switch endpoints and mocks)."""
    _client.cache_clear()
    _queue_url.cache_clear()
