"""The root of every error the backend raises on purpose.

Each error carries the HTTP status and the API.md code it maps to, so that the
edge (app.py) turns any of them into the contract's error body without knowing
the domain. Packages subclass these in their own ``exceptions.py``.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "WalletError",
    "InvalidRequestError",
    "UnauthenticatedError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
    "IdempotencyConflictError",
    "AlreadyExistsError",
    "RuleError",
    "RateLimitedError",
    "PausedError",
    "CODE_OF_STATUS",
    "MESSAGE_OF_STATUS",
    "code_of_status",
    "contract_body",
]

# The code and message of an error that no view raised (the framework's or
# the gateway's own answers: an unknown path, a method a path does not take,
# a media type, a body too large), by status: one table for the app, the
# local server and API Gateway's responses (infra/gateway_responses.py).
CODE_OF_STATUS = {
    400: "invalid_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 408: "request_timeout", 409: "conflict",
    411: "invalid_request", 413: "request_too_large", 414: "request_too_large", 415: "unsupported_media_type",
    429: "rate_limited", 431: "request_too_large", 500: "internal_error", 501: "not_implemented",
    502: "internal_error", 503: "unavailable", 504: "timeout",
}
MESSAGE_OF_STATUS = {
    400: "The request is malformed; see the OpenAPI document at /v1/openapi.json.",
    401: "Send a valid Tang Rat token as 'Authorization: Bearer <token>'.",
    403: "This operation is not allowed for this caller.",
    404: "There is no such path or resource; see the OpenAPI document at /v1/openapi.json.",
    405: "This path does not take this method; see the Allow header or the OpenAPI document.",
    413: "The request is larger than this API takes.",
    414: "The request's URL is longer than this API takes.",
    415: "Send JSON with 'Content-Type: application/json'.",
    429: "Too many requests; try again after Retry-After seconds.",
    431: "The request's headers are larger than this API takes.",
    501: "This method is not one this API implements.",
    503: "The service is unavailable for a moment; try again after Retry-After seconds.",
    504: "The request took too long; try again.",
}


def code_of_status(status: int) -> str:
    if status in CODE_OF_STATUS:
        return CODE_OF_STATUS[status]
    return "internal_error" if status >= 500 else "invalid_request"


def contract_body(status: int, message: str | None = None) -> dict[str, Any]:
    """The contract's error body for a status no view chose the code of."""
    default = MESSAGE_OF_STATUS.get(status, "Something went wrong on our side; try again later."
                                    if status >= 500 else "The request was refused.")
    return {"error": {"code": code_of_status(status), "message": message or default, "details": {}}}


class WalletError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequestError(WalletError):
    status = 400
    code = "invalid_request"

    def __init__(self, field: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, {"field": field, **(details or {})})
        self.field = field


class UnauthenticatedError(WalletError):
    status = 401
    code = "unauthenticated"


class ForbiddenError(WalletError):
    status = 403
    code = "forbidden"


class NotFoundError(WalletError):
    status = 404
    code = "not_found"


class ConflictError(WalletError):
    """A 409 whose code is given per instance (e.g. a frozen phase field)."""

    status = 409

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.code = code


class IdempotencyConflictError(WalletError):
    status = 409
    code = "idempotency_conflict"


class AlreadyExistsError(WalletError):
    status = 409
    code = "already_exists"


class RuleError(WalletError):
    """A program rule says no (422); ``code`` is one of API.md's rule codes."""

    status = 422

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.code = code


class RateLimitedError(WalletError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, {"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class PausedError(WalletError):
    status = 503
    code = "paused"

    def __init__(self, message: str, retry_after_s: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, {"retry_after_s": retry_after_s, **(details or {})})
        self.retry_after_s = retry_after_s
