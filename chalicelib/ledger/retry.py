"""Bounded, jittered retries of DynamoDB writes that failed for load alone."""
from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib.ledger.exceptions import RetriesExhaustedError

__all__ = ["with_retries", "is_transient", "RETRY_ATTEMPTS_MAX"]

RETRY_ATTEMPTS_MAX = 8
RETRY_BASE_S = 0.02
RETRY_CAP_S = 1.0

_TRANSIENT_CODES = frozenset(
    {
        "TransactionConflict",
        "ThrottlingError",
        "ThrottlingException",
        "ProvisionedThroughputExceeded",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)

T = TypeVar("T")


def _error_code(exc: BaseException) -> str | None:
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_code
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def is_transient(exc: BaseException) -> bool:
    """Load, not a rule: a conflict with another transaction or throttling.

    A cancelled transaction is transient only when no item failed its
    condition and at least one was cancelled for a conflict or throttling.
    """
    code = _error_code(exc)
    if code in _TRANSIENT_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = [r.code for r in getattr(exc, "cancellation_reasons", []) or [] if r]
        return "ConditionalCheckFailed" not in reasons and any(c in _TRANSIENT_CODES for c in reasons)
    return False


def with_retries(operation: str, call: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``; on a transient failure wait (full jitter) and run it again.

    Safe only for calls that are idempotent by their own condition (every
    ledger write puts its transfer record with ``attribute_not_exists``).
    """
    for attempt in range(RETRY_ATTEMPTS_MAX):
        try:
            return call()
        except (PynamoDBException, ClientError) as exc:
            if not is_transient(exc):
                raise
            if attempt == RETRY_ATTEMPTS_MAX - 1:
                raise RetriesExhaustedError(operation) from exc
            sleep(random.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt)))
    raise RetriesExhaustedError(operation)  # unreachable: the loop returns or raises
