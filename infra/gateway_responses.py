"""API Gateway's own answers in the contract's error shape: the one table.

API Gateway answers some requests before the function runs: a path no
route has (``MISSING_AUTHENTICATION_TOKEN``, by default a 403 that names the
caller's Authorization header), a body too large, a media type, throttling
by the stage or a usage plan, its own timeouts and faults. Its default
bodies are ``{"message": ...}``. The CDK stack (infra/stack.py) gives the
REST API one Gateway Response per type here, each with the body of
``chalicelib.errors.contract_body`` for its status, the table the app's own
framework answers and the local server use too, so that a 413 or a 404 reads
the same from API Gateway, the function and ``make run``. Pure: no CDK.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.errors import contract_body

__all__ = ["GATEWAY_RESPONSE_STATUSES", "RETRY_AFTER_S", "gateway_responses"]

# Response type -> the status the client gets (None: the status API Gateway
# chose passes through; its body is that of 400 or 500).
GATEWAY_RESPONSE_STATUSES: dict[str, int | None] = {
    "DEFAULT_4XX": None, "DEFAULT_5XX": None,
    "MISSING_AUTHENTICATION_TOKEN": 404, "RESOURCE_NOT_FOUND": 404,
    "UNAUTHORIZED": 401, "ACCESS_DENIED": 403, "EXPIRED_TOKEN": 401, "INVALID_SIGNATURE": 401,
    "INVALID_API_KEY": 403, "BAD_REQUEST_BODY": 400, "BAD_REQUEST_PARAMETERS": 400,
    "REQUEST_TOO_LARGE": 413, "UNSUPPORTED_MEDIA_TYPE": 415,
    "THROTTLED": 429, "QUOTA_EXCEEDED": 429,
    "INTEGRATION_FAILURE": 502, "INTEGRATION_TIMEOUT": 504, "API_CONFIGURATION_ERROR": 500,
}
_DEFAULT_BODY_STATUS = {"DEFAULT_4XX": 400, "DEFAULT_5XX": 500}
# A throttled caller comes back after this (API Gateway's token bucket refills every second).
RETRY_AFTER_S = 1


def gateway_responses() -> dict[str, Any]:
    """The REST API's ``GatewayResponses`` property (SAM's shape), by type.
    The body names the request (``$context.requestId``) and nothing the
    caller sent: no path, header or token is echoed."""
    out: dict[str, Any] = {}
    for kind, status in GATEWAY_RESPONSE_STATUSES.items():
        body = contract_body(status if status is not None else _DEFAULT_BODY_STATUS[kind])
        body["error"]["details"] = {"request_id": "$context.requestId"}
        response: dict[str, Any] = {"ResponseTemplates": {"application/json": json.dumps(body)}}
        headers = {"Content-Type": "'application/json'"}
        if status is not None:
            response["StatusCode"] = str(status)
        if status == 429:
            headers["Retry-After"] = f"'{RETRY_AFTER_S}'"
        response["ResponseParameters"] = {"Headers": headers}
        out[kind] = response
    return out
