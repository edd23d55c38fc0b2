"""HTTP plumbing of the merchant and payment blueprints: the caller, the
body, the Idempotency-Key and the contract's error body.

Kept small and in one place so that these blueprints follow the shared
route helper of ``chalicelib.api.common`` as soon as it exists.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Callable, Iterable

from chalice import Blueprint, Response

from chalicelib import pii
from chalicelib.auth import Principal, authenticate, require_mfa, require_role
from chalicelib.errors import ForbiddenError, InvalidRequestError, WalletError
from chalicelib.validation import Obj, parse_json

__all__ = [
    "IDEMPOTENCY_KEY_RE",
    "json_response",
    "forbidden",
    "caller",
    "idempotency_key",
    "scoped_id",
    "fingerprint",
    "money_post",
    "handle",
]

IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Never in a fingerprint: a 6-digit PIN hashed with the rest of a request
# could be found again by trying every PIN.
SECRET_FIELDS = frozenset({"pin"})


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def forbidden(message: str) -> ForbiddenError:
    return ForbiddenError(message)


def _error(exc: WalletError) -> Response:
    headers = {}
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return json_response(exc.status, exc.body(), headers)


def caller(bp: Blueprint, roles: Iterable[str], write: bool = False) -> Principal:
    headers = bp.current_request.headers
    principal = authenticate(headers.get("authorization"))
    require_role(principal, roles)
    if write:
        require_mfa(principal)
    return principal


def idempotency_key(bp: Blueprint) -> str:
    key = bp.current_request.headers.get("idempotency-key")
    if key is None:
        raise InvalidRequestError("Idempotency-Key", "This request moves money: send an Idempotency-Key header "
                                  "(1 to 64 of A-Z a-z 0-9 _ -), the same one when you retry.")
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise InvalidRequestError("Idempotency-Key", "Idempotency-Key must be 1 to 64 of A-Z a-z 0-9 _ -.")
    return key


def scoped_id(kind: str, principal: Principal, key: str) -> str:
    """The transfer id of a money-moving request: the key, scoped to the caller."""
    digest = hashlib.sha256(f"{principal.scope}\n{key}".encode()).hexdigest()[:32]
    return f"{kind}_{digest}"


def fingerprint(bp: Blueprint, body: dict[str, Any]) -> str:
    """Keyed hash of the request (path and body, secrets left out): the same
    key with another request is told apart without keeping the request."""
    kept = {k: v for k, v in body.items() if k not in SECRET_FIELDS}
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return pii.hash_id(f"{bp.current_request.method} {bp.current_request.path}\n{canonical}", purpose="request")


def handle(call: Callable[[], Any]) -> Any:
    """Run a route's work; a WalletError becomes the contract's error body."""
    try:
        result = call()
    except WalletError as exc:
        return _error(exc)
    return result


def money_post(bp: Blueprint, roles: Iterable[str], spec: Obj,
               work: Callable[[Principal, dict[str, Any], str], Any]) -> Any:
    def run() -> Any:
        principal = caller(bp, roles)
        key = idempotency_key(bp)
        body = spec.parse(parse_json(bp.current_request.raw_body))
        return work(principal, body, key)

    return handle(run)
