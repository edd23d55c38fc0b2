"""The route helper every blueprint uses: caller, body, errors in one place.

Adding a route (and its OpenAPI entry, next to it)::

    bp = Blueprint(__name__)

    @bp.route("/v1/wallet", methods=["GET"])
    @endpoint(bp, roles={"citizen"})
    def wallet(req: ApiRequest) -> dict:
        return usecases.wallet(req.principal.claims)          # 200 with this body

    OPENAPI_PATHS = {"/v1/wallet": {"get": operation("The wallet", roles={"citizen"},
                                                     responses={"200": ok("the wallet", WALLET)})}}

then list the module in app.py's BLUEPRINT_MODULES. Return a dict (200) or
``Reply(status, body, headers)``; raise any WalletError for an error.
``@endpoint(bp, roles, write=True)`` requires ``mfa: true`` of operators;
``req.json(SPEC)`` parses and validates the body (400 naming the field).

A money route: ``key = req.idempotency_key()`` (400 if missing or malformed),
``transfer_id = scoped_id("pay", req.principal, key)``, fingerprint with
``fingerprint(req.method, req.path, body)`` and put both on the ledger Transfer
(its record is the idempotency record; a replay returns
``Reply(status, stored_body, {"Idempotent-Replayed": "true"})``). Every
money route is ledger-backed; there is no other idempotency store.

Every request runs under ``db.request_deadline()``: no DynamoDB call starts
later than ``db.REQUEST_DEADLINE_S`` after it began, so it answers (429
``rate_limited`` when DynamoDB kept it waiting) well before API Gateway's 29 s.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from aws_lambda_powertools import Logger
from chalice import Blueprint, Response

from chalicelib import db
from chalicelib.auth import Principal, authenticate, require_mfa, require_role
from chalicelib.errors import WalletError
from chalicelib.idempotency import parse_idempotency_key
from chalicelib.validation import Field, parse_json

__all__ = ["ApiRequest", "Reply", "endpoint", "error_response", "json_response", "map_errors", "operation", "ok",
           "ERROR_RESPONSE"]

logger = Logger(service="api")
# A 429/503 always says when to come back, even if the error did not.
RETRY_AFTER_DEFAULT_S = 5


@dataclass(frozen=True)
class Reply:
    """A response with a status other than 200, or with headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def error_response(exc: Exception) -> Response:
    """The contract's error body of any exception: a WalletError as it says,
    anything else a 500 ``internal_error`` without internals (logged by type
    only: exception messages may carry personal data). DynamoDB throttling
    that outlasted botocore's retries is load, not a fault: a 429."""
    if db.is_throttling(exc):
        exc = db.RetriesExhaustedError("throttled")
    if isinstance(exc, WalletError) and exc.status != 500:
        headers = {}
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after))
        elif exc.status in (429, 503):
            headers["Retry-After"] = str(RETRY_AFTER_DEFAULT_S)
        return json_response(exc.status, exc.body(), headers)
    logger.error("unexpected error", extra={"error_type": type(exc).__name__})
    body = {"error": {"code": "internal_error", "message": "Something went wrong on our side; "
                      "try again later.", "details": {}}}
    return json_response(500, body)


class ApiRequest:
    """What a route sees of its request."""

    def __init__(self, bp: Blueprint, principal: Principal | None) -> None:
        self._request = bp.current_request
        self.principal: Principal = principal  # type: ignore[assignment]
        self.headers: Mapping[str, str] = self._request.headers or {}
        self.query: Mapping[str, str] = self._request.query_params or {}
        self.path_params: Mapping[str, str] = self._request.uri_params or {}
        self.method: str = self._request.method
        self.path: str = self._request.path

    def json(self, spec: Field | None = None, optional: bool = False) -> Any:
        """The body, validated by ``spec`` (400 naming the field)."""
        raw = self._request.raw_body
        if optional and not raw:
            return None
        body = parse_json(raw)
        return spec.parse(body, "") if spec is not None else body

    def idempotency_key(self) -> str:
        return parse_idempotency_key(self.headers)


def endpoint(bp: Blueprint, roles: Iterable[str] | None, write: bool = False) -> Callable[..., Any]:
    """Authenticate (unless ``roles`` is None: public), check the role (and
    mfa for operator writes), call the view with an ApiRequest, answer JSON."""
    allowed = None if roles is None else tuple(roles)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def run(**path_params: Any) -> Response:
            try:
                principal = None
                if allowed is not None:
                    principal = authenticate(bp.current_request.headers.get("authorization"))
                    require_role(principal, allowed)
                    if write:
                        require_mfa(principal)
                with db.request_deadline():
                    result = view(ApiRequest(bp, principal), **path_params)
            except Exception as exc:  # noqa: BLE001 - the edge maps every error
                return error_response(exc)
            if isinstance(result, Reply):
                return json_response(result.status, result.body, result.headers)
            if isinstance(result, Response):
                return result
            return json_response(200, result)

        return run

    return decorate


# -- OpenAPI helpers ---------------------------------------------------------------

ERROR_RESPONSE = {"description": "error body (API.md)", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}


def ok(description: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": dict(schema)}}
    return out


def operation(summary: str, roles: Iterable[str] | None, responses: Mapping[str, Any],
              body: Field | None = None, params: Iterable[str] = (), **extra: Any) -> dict[str, Any]:
    """One OpenAPI operation; the request schema comes from the validation spec."""
    out: dict[str, Any] = {"summary": summary, "responses": dict(responses), **extra}
    if roles is None:
        out["security"] = []
    else:
        out["x-roles"] = sorted(roles)
    if params:
        out["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                             for p in params]
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body.schema()}}}
    for status in ("400", "401", "403") if roles is not None else ():
        out["responses"].setdefault(status, ERROR_RESPONSE)
    return out


def map_errors(app: Any) -> None:
    """The app's one catch-all: every view (ours and any blueprint's) answers
    an error as the contract's body; call after registering the blueprints."""
    for methods in app.routes.values():
        for entry in methods.values():
            view = entry.view_function
            if getattr(view, "_errors_mapped", False):
                continue

            def guarded(*args: Any, _view: Callable[..., Any] = view, **kwargs: Any) -> Any:
                try:
                    return _view(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - no stack trace ever leaves the API
                    return error_response(exc)

            functools.update_wrapper(guarded, view)
            guarded._errors_mapped = True  # type: ignore[attr-defined]
            entry.view_function = guarded
