"""The access matrix, table-driven from the served OpenAPI document: every
operation, with a token of every role and with none, gets exactly the
allowed answer. A new endpoint joins the document and with it this test.

- no token: 401 ``unauthenticated`` (public operations: never 401/403);
- a role outside the operation's ``x-roles``: 403 ``forbidden``;
- an allowed role: neither 401 nor 403 (the request itself may be a 400);
- an operator without ``mfa: true`` on an ``x-mfa`` operation: 403;
- a registrar token without a point: 403 on every registrar operation.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.auth import ROLES
from devstack import tokens

pytestmark = pytest.mark.functional

METHODS = ("get", "put", "post", "delete", "patch")
# Values for path parameters: well-formed, so the answer is about access.
PATH_VALUES = {"phase_id": "p3", "merchant_id": "m_0000000000000000", "card_code": "0000-0000-0000",
               "withdrawal_id": "wd_00000000", "bank_code": "004", "business_date": "2025-04-01",
               "payout_id": "wd_00000000", "alert_id": "al_00000000", "import_id": "ei_" + "0" * 32}
# A realistic token of each role: the identity every role carries.
CLAIMS: dict[str, dict[str, Any]] = {
    "citizen": {"cid": "1101700230708", "birth_date": "2006-05-01", "district": "1001", "nationality": "TH"},
    "merchant": {"cid": "3101700203456"},
    "registrar": {"point_id": "point-1001-01"},
    "operator": {"mfa": True},
    "auditor": {},
}


def _document() -> dict[str, Any]:
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app) as client:
        return json.loads(client.http.get("/v1/openapi.json").body)


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    # The document is drawn from the routes' specs, no tables needed to read it.
    for path, item in _document()["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


OPERATIONS = sorted((m, p, op) for m, p, op in _operations())
IDS = [f"{m.upper()} {p}" for m, p, _ in OPERATIONS]


def _url(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a path parameter of {path}: add it to PATH_VALUES"
    return path


def _send(client: Any, method: str, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "matrix-1"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("put", "post", "patch"):
        kwargs["body"] = "{}"
    response = getattr(client.http, method)(_url(path), **kwargs)
    return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture
def client(moto_aws: Any) -> Iterator[Any]:
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app) as test_client:
        yield test_client


def test_the_document_names_the_roles_of_every_operation() -> None:
    for method, path, op in OPERATIONS:
        if op.get("security") == []:
            continue
        roles = op.get("x-roles")
        assert isinstance(roles, list) and roles and set(roles) <= ROLES, f"{method} {path}: x-roles {roles}"
        assert sorted(roles) == roles, f"{method} {path}: x-roles written in one order"
        if op.get("x-mfa"):
            assert roles == ["operator"], f"{method} {path}: mfa is an operator's"
        if "operator" in roles and method != "get":
            assert op.get("x-mfa") is True, f"{method} {path}: an operator write without x-mfa"


@pytest.mark.parametrize("method, path, op", OPERATIONS, ids=IDS)
def test_every_role_gets_exactly_the_allowed_answer(client: Any, method: str, path: str, op: dict[str, Any]) -> None:
    public = op.get("security") == []
    allowed = set(op.get("x-roles") or ())
    status, body = _send(client, method, path, None)
    if public:
        assert status not in (401, 403), (status, body)
    else:
        assert (status, body["error"]["code"]) == (401, "unauthenticated"), body
    for role in sorted(ROLES):
        status, body = _send(client, method, path, tokens.mint(role, CLAIMS[role]))
        if public or role in allowed:
            assert status not in (401, 403), f"{role}: {status} {body}"
        else:
            assert (status, body["error"]["code"]) == (403, "forbidden"), f"{role}: {status} {body}"


@pytest.mark.parametrize("method, path, op", [o for o in OPERATIONS if o[2].get("x-mfa")],
                         ids=[i for i, o in zip(IDS, OPERATIONS, strict=True) if o[2].get("x-mfa")])
def test_operator_writes_need_mfa(client: Any, method: str, path: str, op: dict[str, Any]) -> None:
    for claims in ({}, {"mfa": False}):
        status, body = _send(client, method, path, tokens.mint("operator", claims))
        assert (status, body["error"]["code"]) == (403, "forbidden"), body
        assert "mfa" in body["error"]["message"]


REGISTRAR_OPS = [o for o in OPERATIONS if "registrar" in (o[2].get("x-roles") or ())]


@pytest.mark.parametrize("method, path, op", REGISTRAR_OPS,
                         ids=[f"{m.upper()} {p}" for m, p, _ in REGISTRAR_OPS])
def test_a_registrar_acts_only_at_a_point_of_its_own(client: Any, method: str, path: str, op: dict[str, Any]) -> None:
    status, body = _send(client, method, path, tokens.mint("registrar", {}))
    assert (status, body["error"]["code"]) == (403, "forbidden"), body


def test_the_matrix_covers_every_route_of_the_app() -> None:
    import app as app_module

    routes = {(m.lower(), p) for p, methods in app_module.app.routes.items() for m in methods}
    assert routes == {(m, p) for m, p, _ in OPERATIONS}
