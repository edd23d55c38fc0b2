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
]


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
