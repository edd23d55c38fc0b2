"""Fixtures of the HTTP tests (tests/conftest.py gives ``moto_aws`` and ``mint_token``).

- ``tokens``: ``tokens.make(role="citizen", **claims)`` -> ``"Bearer ..."``
  signed by the test issuer that ``moto_aws`` configures; ``tokens.headers(...)``
  -> the headers dict of a JSON request with that token.
- ``edge_client``: chalice.test.Client of app.py against moto in-process;
  ``edge_client.http.get(path, headers=...)``.
- ``call``: ``call(method, path, role=None, body=None, headers=None, **claims)``
  -> ``(status, body as JSON, headers)`` through ``edge_client``.
- ``world``: shops, a wallet and its card (payments_api_fixtures.py);
  ``api``: the registration tests' client (registration_fixtures.py).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack import tokens as local_tokens
from tests.functional.payments_api_fixtures import World, open_world
from tests.functional.registration_fixtures import Api, open_api

# A citizen's or merchant's token always names a person (API.md); the
# tests' default, unless a test gives its own cid (cid=None: none at all).
DEFAULT_CID = "1101700230708"


class Tokens:
    def make(self, role: str = "citizen", **claims: Any) -> str:
        if role in ("citizen", "merchant"):
            claims.setdefault("cid", DEFAULT_CID)
        claims = {k: v for k, v in claims.items() if v is not None}
        return f"Bearer {local_tokens.mint(role, claims)}"

    def headers(self, role: str | None = "citizen", **claims: Any) -> dict[str, str]:
        out = {"Content-Type": "application/json"}
        if role is not None:
            out["Authorization"] = self.make(role, **claims)
        return out


@pytest.fixture
def tokens(moto_aws: Any) -> Tokens:
    return Tokens()


@pytest.fixture
def edge_client(moto_aws: Any) -> Iterator[Any]:
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app) as client:
        yield client


@pytest.fixture
def call(edge_client: Any, tokens: Tokens) -> Callable[..., tuple[int, Any, dict[str, str]]]:
    def run(method: str, path: str, role: str | None = None, body: Any = None,
            headers: dict[str, str] | None = None, raw: str | None = None,
            **claims: Any) -> tuple[int, Any, dict[str, str]]:
        sent = tokens.headers(role, **claims)
        sent.update(headers or {})
        kwargs: dict[str, Any] = {"headers": sent}
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        response = getattr(edge_client.http, method.lower())(path, **kwargs)
        payload = json.loads(response.body) if response.body else None
        return response.status_code, payload, dict(response.headers)

    return run


@pytest.fixture
def world(moto_aws: Any) -> Iterator[World]:
    """See tests/functional/payments_api_fixtures.py."""
    with open_world() as made:
        yield made


@pytest.fixture
def api(moto_aws: Any) -> Iterator[Api]:
    """See tests/functional/registration_fixtures.py."""
    with open_api() as made:
        yield made
