"""Errors of alerts."""
from __future__ import annotations

from chalicelib.errors import NotFoundError

__all__ = ["AlertNotFoundError"]


class AlertNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("No such alert; list them with GET /v1/admin/alerts.")
