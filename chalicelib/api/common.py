"""The route helper every blueprint uses: caller, request, errors in one place.

Adding a route (and its OpenAPI entry, next to it)::

    bp = Blueprint(__name__)

    @bp.route("/v1/wallet/transactions", methods=["GET"])
    @endpoint(bp, roles={"citizen"}, query=PAGE_QUERY)
    def transactions(req: ApiRequest) -> dict:
        return usecases.transactions(req.principal.claims, req.query)   # 200 with this body

    OPENAPI_PATHS = {"/v1/wallet/transactions": {"get": operation(
        "The wallet's transfers", roles={"citizen"}, responses={"200": ok("a page", PAGE)}, query=PAGE_QUERY)}}

then list the module in app.py's BLUEPRINT_MODULES. Return a dict (200) or
``Reply(status, body, headers)``; raise any WalletError for an error.
``@endpoint(bp, roles, write=True)`` requires ``mfa: true`` of operators.

The request is declared once with the specs of ``chalicelib.validation``
and given to both ``endpoint`` and ``operation`` with the same keywords
(``RequestSpec``): ``body=SPEC`` (``body_required=False`` for a body that
may be empty, parsed as ``{}``), ``query=Params("query", ...)``,
``path=Params("path", ...)`` and ``idempotency_key=True``. ``endpoint``
parses them in that order after the caller is known (the key first, then
the body, the query, the path) and the view reads ``req.body``,
``req.query``, ``req.key`` and its path parameters already parsed;
``operation`` writes the same specs into the document, and
``tests/functional/test_openapi.py`` checks that every route's specs are
its operation's.

A money route: ``idempotency_key=True``,
``transfer_id = scoped_id("pay", req.principal, req.key)``, fingerprint with
``fingerprint(req.method, req.path, req.body)`` and put both on the ledger
Transfer (its record is the idempotency record; a replay returns
``Reply(status, stored_body, {"Idempotent-Replayed": "true"})``).

Every request runs under ``db.request_deadline()``: no DynamoDB call starts
later than ``db.REQUEST_DEADLINE_S`` after it began, so it answers (429
``rate_limited`` when DynamoDB kept it waiting) well before API Gateway's 29 s.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib import limits, observability, ratelimit
from chalicelib.auth import Principal, authenticate, require_mfa, require_role
from chalicelib.errors import InvalidRequestError, WalletError, contract_body
from chalicelib.idempotency import HEADER as IDEMPOTENCY_HEADER
from chalicelib.idempotency import KEY_PATTERN, parse_idempotency_key
from chalicelib.lazy import lazy_module
from chalicelib.validation import Field, Params, parse_json

if TYPE_CHECKING:
    from chalicelib import db
else:
    # the database layer, loaded at the first request that reaches it (bench/coldstart.py)
    db = lazy_module("chalicelib.db")

__all__ = ["ApiRequest", "Reply", "RequestSpec", "endpoint", "error_response", "json_response", "map_errors",
           "operation", "ok", "error", "ERROR_RESPONSE", "contract_errors", "in_contract_shape"]

logger = observability.component_logger()
# A 429/503 always says when to come back, even if the error did not.
RETRY_AFTER_DEFAULT_S = 5


@dataclass(frozen=True)
class Reply:
    """A response with a status other than 200, or with headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    # Ends with a newline, as text does: curl's output no longer runs into the prompt.
    return Response(body=json.dumps(body) + "\n", status_code=status,
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


@dataclass(frozen=True)
class RequestSpec:
    """What an operation takes besides the token, declared once: the edge
    parses the request with it and the OpenAPI document is written from it."""

    body: Field | None = None
    body_required: bool = True
    query: Params | None = None
    path: Params | None = None
    idempotency_key: bool = False
    # Larger only for the bulk imports (limits.BULK_BODY_BYTES_MAX).
    body_bytes_max: int = limits.REQUEST_BODY_BYTES_MAX

    def __post_init__(self) -> None:
        for name, params, where in (("query", self.query, "query"), ("path", self.path, "path")):
            if params is not None and params.where != where:
                raise ValueError(f"{name}= takes Params({where!r}, ...)")

    def parameters(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.idempotency_key:
            out.append({"name": IDEMPOTENCY_HEADER, "in": "header", "required": True,
                        "description": "the client's key of this request: a retry with the same key and "
                                       "body gets the first answer again and moves nothing",
                        "schema": {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$"}})
        for params in (self.path, self.query):
            if params is not None:
                out.extend(params.parameters())
        return out

    def request_body(self) -> dict[str, Any] | None:
        if self.body is None:
            return None
        return {"required": self.body_required, "x-body-bytes-max": self.body_bytes_max,
                "content": {"application/json": {"schema": self.body.schema()}}}


def _parsing(where: str, parse: Callable[..., Any], *args: Any) -> Any:
    """The one place where a request's input meets its spec: whatever the
    input makes a parser do (a RecursionError of JSON nested 10,000 deep, a
    TypeError of a value that is not what the spec expects), the answer is
    400 ``invalid_request`` naming the part, never a 500."""
    try:
        return parse(*args)
    except WalletError:
        raise
    except Exception as exc:
        raise InvalidRequestError(where, f"The request's {where} is not one this operation takes; "
                                         "see the OpenAPI document at /v1/openapi.json.") from exc


class ApiRequest:
    """What a route sees of its request, parsed by the route's RequestSpec."""

    def __init__(self, bp: Blueprint, principal: Principal | None, spec: RequestSpec) -> None:
        self._request = bp.current_request
        self.principal: Principal = principal  # type: ignore[assignment]
        self.headers: Mapping[str, str] = self._request.headers or {}
        self.method: str = self._request.method
        self.path: str = self._request.path
        self.path_params: Mapping[str, str] = self._request.uri_params or {}
        raw_query: Mapping[str, str] = self._request.query_params or {}
        self.key: str | None = (_parsing("Idempotency-Key", parse_idempotency_key, self.headers)
                                if spec.idempotency_key else None)
        # The body as sent (JSON) and as its spec parsed it.
        self.sent: Any = None
        self.body: Any = _parsing("body", self._body, spec) if spec.body is not None else None
        self.query: Mapping[str, Any] = (_parsing("query", spec.query.parse, dict(raw_query), "")
                                         if spec.query is not None else raw_query)

    def _body(self, spec: RequestSpec) -> Any:
        raw = self._request.raw_body
        self.sent = {} if not raw and not spec.body_required else parse_json(raw, spec.body_bytes_max)
        return spec.body.parse(self.sent, "")  # type: ignore[union-attr]

    def json(self, spec: Field | None = None, optional: bool = False) -> Any:
        """The body, validated by ``spec`` (400 naming the field); prefer
        declaring ``body=`` on the endpoint, which also documents it."""
        raw = self._request.raw_body
        if optional and not raw:
            return None
        body = parse_json(raw)
        return spec.parse(body, "") if spec is not None else body

    def idempotency_key(self) -> str:
        return self.key if self.key is not None else parse_idempotency_key(self.headers)


def rate_of(write: bool, rate: ratelimit.Limit | None) -> ratelimit.Limit | None:
    """The limit of a route: its own, else OPERATOR_WRITE for an operator write."""
    return rate if rate is not None or not write else ratelimit.OPERATOR_WRITE


def rate_key(limit: ratelimit.Limit, principal: Principal) -> str:
    """Whom ``limit`` counts for this caller: its point (a registrar token
    without one counts as its caller, and is then refused by the route)."""
    point = principal.claims.get("point_id")
    if limit.per == ratelimit.POINT and isinstance(point, str) and point:
        return point
    return principal.scope


def endpoint(bp: Blueprint, roles: Iterable[str] | None, write: bool = False,
             rate: ratelimit.Limit | None = None, **request: Any) -> Callable[..., Any]:
    """Authenticate (unless ``roles`` is None: public), check the role (and
    mfa for operator writes), count the caller against ``rate`` (429 with
    Retry-After over it), parse the request by ``RequestSpec(**request)``,
    call the view with an ApiRequest and the parsed path parameters, answer
    JSON. The spec stays on the view (``request_spec``) for the document's test."""
    allowed = None if roles is None else tuple(roles)
    spec = RequestSpec(**request)
    rate = rate_of(write, rate)

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
                    if rate is not None:
                        ratelimit.check(rate, rate_key(rate, principal))
                req = ApiRequest(bp, principal, spec)
                if spec.path is not None:
                    path_params = _parsing("path", spec.path.parse, path_params, "")
                with db.request_deadline():
                    result = view(req, **path_params)
            except Exception as exc:
                return error_response(exc)
            if isinstance(result, Reply):
                return json_response(result.status, result.body, result.headers)
            if isinstance(result, Response):
                return result
            return json_response(200, result)

        run.request_spec = spec  # type: ignore[attr-defined]
        run.rate_limit = rate  # type: ignore[attr-defined]
        return run

    return decorate


# -- OpenAPI helpers ---------------------------------------------------------------

ERROR_RESPONSE = {"description": "error body (API.md)", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}


def error(description: str) -> dict[str, Any]:
    """An error response of the document: the contract's body, with which codes and when."""
    return {**ERROR_RESPONSE, "description": description}


def ok(description: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": dict(schema)}}
    return out


_REQUEST_KEYWORDS = frozenset(RequestSpec.__dataclass_fields__)


def operation(summary: str, roles: Iterable[str] | None, responses: Mapping[str, Any],
              params: Iterable[str] = (), mfa: bool = False, rate: ratelimit.Limit | None = None,
              **extra: Any) -> dict[str, Any]:
    """One OpenAPI operation. Its request (``body=``, ``body_required=``,
    ``query=``, ``path=``, ``idempotency_key=``) is the RequestSpec the
    route's ``endpoint`` parses with, given with the same keywords; a path
    parameter that needs no check may be named in ``params`` (a string).
    Other keywords (``description``, ...) go into the operation as they are."""
    spec = RequestSpec(**{k: extra.pop(k) for k in list(extra) if k in _REQUEST_KEYWORDS})
    out: dict[str, Any] = {"summary": summary, "responses": dict(responses), **extra}
    if roles is None:
        out["security"] = []
    else:
        out["x-roles"] = sorted(roles)
    if mfa:
        out["x-mfa"] = True
    limit = rate_of(mfa, rate)  # an operator write (mfa) is limited as its endpoint(write=True) is
    if limit is not None:
        out["x-rate-limit"] = ratelimit.described(limit)
        out["responses"].setdefault("429", error(
            f"rate_limited: over {limit.per_window} requests per {limit.window_s} s per {limit.per} "
            "(Retry-After)"))
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    parameters += spec.parameters()
    if parameters:
        out["parameters"] = parameters
    request_body = spec.request_body()
    if request_body is not None:
        out["requestBody"] = request_body
    for status in ("400", "401", "403", "429") if roles is not None else ():
        out["responses"].setdefault(status, ERROR_RESPONSE)
    out["responses"].setdefault("500", error("internal_error: a fault on our side, without internals"))
    return out


def _is_contract_error(body: Any) -> bool:
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return False
    error_ = body["error"]
    return (set(error_) == {"code", "message", "details"} and isinstance(error_["code"], str)
            and isinstance(error_["message"], str) and isinstance(error_["details"], dict))


# Headers of a framework answer that a client still needs.
_KEPT_HEADERS = ("Allow", "Retry-After")


def in_contract_shape(response: Response) -> Response:
    """Any error response as the contract's body: those the views wrote are
    left alone; the framework's own (405 with its Allow, 415, a 400 of a
    binary Accept header, anything else) get the body of their status."""
    if response.status_code < 400 or _is_contract_error(response.body):
        return response
    headers = {k: str(v) for k, v in (response.headers or {}).items() if k in _KEPT_HEADERS}
    return json_response(response.status_code, contract_body(response.status_code), headers)


def contract_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """The app's HTTP middleware (app.py registers it): every answer of the
    app, the framework's included, in the contract's error shape, and any
    exception that got this far a 500 without internals."""
    try:
        response = get_response(event)
    except Exception as exc:
        return error_response(exc)
    return in_contract_shape(response)


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
                except Exception as exc:
                    return error_response(exc)

            functools.update_wrapper(guarded, view)
            guarded._errors_mapped = True  # type: ignore[attr-defined]
            entry.view_function = guarded
