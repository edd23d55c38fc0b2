"""The OpenAPI 3 document served at ``GET /v1/openapi.json``.

Built from a registry: every blueprint module declares ``OPENAPI_PATHS``
(path -> method -> operation) next to its routes, and app.py adds each
registered module's paths here. ``tests/functional/test_openapi.py`` checks
that the document's operations are exactly the app's routes.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["add_paths", "document", "operations_of_document", "API_VERSION"]

API_VERSION = "1.0.0"
_PATHS: dict[str, dict[str, Any]] = {}

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string", "description": "invalid_request, unauthenticated, forbidden, not_found, "
                 "idempotency_conflict, already_exists, conflict, phase_frozen, budget_below_issued, a "
                 "rule code (422), rate_limited, paused, internal_error"},
        "message": {"type": "string", "description": "what to fix, for people"},
        "details": {"type": "object", "description": "e.g. field: the dotted path of the bad field"}}}},
}


def add_paths(paths: Mapping[str, Mapping[str, Any]]) -> None:
    """Declare path items (called by app.py for each blueprint module)."""
    for path, item in paths.items():
        _PATHS.setdefault(path, {}).update(copy.deepcopy(dict(item)))


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Digital wallet stimulus API", "version": API_VERSION,
                 "description": "JSON over HTTPS. Errors: {\"error\": {\"code\", \"message\", \"details\"}}. "
                                "Money-moving POSTs need an Idempotency-Key (1..64 of A-Za-z0-9_-); a "
                                "replay answers the original status and body with Idempotent-Replayed: "
                                "true. 429 and 503 carry Retry-After."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (ES256/RS256)"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "paths": copy.deepcopy(_PATHS),
    }


def operations_of_document(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``{(path, METHOD)}`` of a document."""
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item
            if method in ("get", "put", "post", "delete", "patch", "head", "options")}
