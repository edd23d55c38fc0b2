"""The SQS work queues of the backend, defined in one place.

Each short name in ``QUEUES`` is one work queue of the stage
(``wallet-<stage>-<short>``) with its dead-letter queue
(``wallet-<stage>-<short>-dlq``): a message that has been received
``MAX_RECEIVE_COUNT`` times without being deleted moves to the DLQ. The
infrastructure creates them on AWS; the local stack and the tests create them
from this list. Add a queue by adding its short name here.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

from chalicelib import observability
from chalicelib.config import get_settings, runtime
from chalicelib.limits import BANK_CODES

__all__ = [
    "QUEUES",
    "ACTIVATION_QUEUE",
    "STATUS_QUEUE",
    "EXCLUSION_IMPORTS_QUEUE",
    "bank_queue",
    "send_text",
    "DLQ_SUFFIX",
    "MAX_RECEIVE_COUNT",
    "MESSAGE_BYTES_MAX",
    "dlq_short_name",
    "queue_name",
    "queue_url",
    "sqs_client",
    "send_json",
]

# The activation waves' work (chalicelib/activation/service.py).
ACTIVATION_QUEUE = "activation"
# BANKS.md: the banks answer on one shared status queue.
STATUS_QUEUE = "bank-status"
# Exclusion imports too large for a request (chalicelib/exclusions/imports.py).
EXCLUSION_IMPORTS_QUEUE = "exclusion-imports"


def bank_queue(bank_code: str) -> str:
    """A bank's own instruction queue (BANKS.md): a slow or failed bank delays only its own payouts."""
    return f"bank-{bank_code}-instructions"


# Short names of the work queues: activation, the status queue and one
# instruction queue per participating bank (chalicelib/limits.py BANK_CODES).
QUEUES: tuple[str, ...] = (
    ACTIVATION_QUEUE,
    STATUS_QUEUE,
    EXCLUSION_IMPORTS_QUEUE,
    *(bank_queue(code) for code in sorted(BANK_CODES)),
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


# Queue URLs do not change for the life of a runtime; a bound all the same.
QUEUE_URLS_MAX = 256


def sqs_client() -> SQSClient:
    """The runtime's SQS client (built once per container)."""
    settings = get_settings()
    return runtime().component("sqs", lambda: boto3.client("sqs", endpoint_url=settings.sqs_endpoint,
                                                           region_name=settings.region))


def queue_url(short: str) -> str:
    name = queue_name(short)
    urls = runtime().cache("queue-urls", None, QUEUE_URLS_MAX)
    found: str | None = urls.get_or_load(name, lambda: sqs_client().get_queue_url(QueueName=name)["QueueUrl"])
    if found is None:
        raise ValueError(f"SQS gave no URL for queue {name}")
    return found


def send_json(short: str, body: Any, delay_s: int = 0) -> str:
    """Send ``body`` as JSON to the queue ``short``; returns the message id."""
    return send_text(short, json.dumps(body, separators=(",", ":"), sort_keys=True), delay_s)


def send_text(short: str, text: str, delay_s: int = 0) -> str:
    """Send ``text`` as it is (e.g. a message moved to a dead-letter queue)."""
    if len(text.encode()) > MESSAGE_BYTES_MAX:
        raise ValueError(f"message for queue {short!r} is {len(text.encode())} bytes; "
                         f"the limit is {MESSAGE_BYTES_MAX}: split the batch")
    response = sqs_client().send_message(QueueUrl=queue_url(short), MessageBody=text,
                                         DelaySeconds=delay_s, MessageAttributes=_attributes())
    return response["MessageId"]


def _attributes() -> dict[str, Any]:
    """The sender's correlation id, which goes with every message it sends (observability.py)."""
    correlation = observability.correlation_id()
    if not correlation:
        return {}
    return {observability.CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": correlation}}


# SQS takes at most 10 messages per SendMessageBatch.
SEND_BATCH_MAX = 10


def send_json_batch(short: str, bodies: list[Any]) -> int:
    """Send each of ``bodies`` as JSON to the queue ``short``, ten a call;
    raises if SQS refused any (the caller's retry sends them again: every
    consumer of these messages is idempotent). Returns how many were sent."""
    url = queue_url(short)
    for start in range(0, len(bodies), SEND_BATCH_MAX):
        entries: list[SendMessageBatchRequestEntryTypeDef] = []
        for index, body in enumerate(bodies[start:start + SEND_BATCH_MAX]):
            text = json.dumps(body, separators=(",", ":"), sort_keys=True)
            if len(text.encode()) > MESSAGE_BYTES_MAX:
                raise ValueError(f"message for queue {short!r} is {len(text.encode())} bytes; "
                                 f"the limit is {MESSAGE_BYTES_MAX}: split the batch")
            entries.append({"Id": str(index), "MessageBody": text, "MessageAttributes": _attributes()})
        response = sqs_client().send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            codes = sorted({f.get("Code", "?") for f in response["Failed"]})
            raise RuntimeError(f"SQS refused {len(response['Failed'])} messages for {short!r}: {', '.join(codes)}")
    return len(bodies)

