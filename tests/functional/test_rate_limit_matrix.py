"""Abuse limits, table-driven from the served OpenAPI document: every
operation that writes (money-moving, registration, registrar, withdrawal,
QR, every operator write) declares a per-caller limit (``x-rate-limit``),
the route counts exactly that limit, and a caller at its limit gets
``429 rate_limited`` with Retry-After before anything is read or written.
A new write endpoint joins the document and with it this test."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import ratelimit
from chalicelib.ratelimit.models import RateCounterModel
from devstack import tokens
from tests.functional.test_access_matrix import CLAIMS, OPERATIONS, _url

pytestmark = pytest.mark.functional

NOW = 1_800_000_000.0
SUB = "limited-caller"
WRITES = [(m, p, op) for m, p, op in OPERATIONS if m != "get" and op.get("security") != []]
# The endpoints the security review names, by kind: each must be among the limited.
MUST_BE_LIMITED = {
    ("post", "/v1/payments"): "money", ("post", "/v1/merchant-payments"): "money",
    ("post", "/v1/card-payments"): "money", ("post", "/v1/withdrawals"): "money",
    ("post", "/v1/registrations"): "registration", ("post", "/v1/merchants"): "merchant-registration",
    ("post", "/v1/assisted-registrations"): "registrar", ("post", "/v1/cards/reissue"): "registrar",
    ("post", "/v1/cards/unlock"): "registrar", ("post", "/v1/cards/{card_code}/unlock"): "registrar",
    ("post", "/v1/merchants/me/qr"): "qr",
    ("put", "/v1/admin/phases/{phase_id}"): "operator-write",
    ("post", "/v1/admin/phases/{phase_id}/activate"): "operator-write",
    ("put", "/v1/admin/switches"): "operator-write", ("post", "/v1/admin/exclusions"): "operator-write",
    ("post", "/v1/admin/merchant-reference"): "operator-write",
    ("post", "/v1/admin/merchants/{merchant_id}/review"): "operator-write",
    ("post", "/v1/admin/alerts/{alert_id}/ack"): "operator-write",
    ("post", "/v1/admin/reconciliation/{bank_code}/{business_date}"): "operator-write",
}


def _view(method: str, path: str) -> Any:
    import app as app_module

    return app_module.app.routes[path][method.upper()].view_function


def test_every_write_operation_declares_the_limit_its_route_counts() -> None:
    declared = {(m, p): op.get("x-rate-limit") for m, p, op in WRITES}
    assert set(MUST_BE_LIMITED) <= set(declared)
    for (method, path), limit in declared.items():
        assert limit is not None, f"{method.upper()} {path}: a write without x-rate-limit"
        counted = _view(method, path).rate_limit
        assert counted is not None and ratelimit.described(counted) == limit, f"{method.upper()} {path}"
        assert "429" in dict(OPERATIONS_BY_KEY[(method, path)]["responses"])
    assert {k: declared[k]["name"] for k in MUST_BE_LIMITED} == MUST_BE_LIMITED


OPERATIONS_BY_KEY = {(m, p): op for m, p, op in OPERATIONS}


@pytest.fixture
def client(moto_aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from chalice.test import Client

    import app as app_module

    monkeypatch.setattr(ratelimit, "_now", lambda: NOW)  # one window for the whole test
    with Client(app_module.app) as test_client:
        yield test_client


@pytest.mark.parametrize("method, path, op", WRITES, ids=[f"{m.upper()} {p}" for m, p, _ in WRITES])
def test_a_caller_at_its_limit_is_429_with_retry_after(client: Any, method: str, path: str,
                                                      op: dict[str, Any]) -> None:
    limit = op["x-rate-limit"]
    role = op["x-roles"][0]
    claims = {**CLAIMS[role], "sub": SUB}
    caller = claims["point_id"] if limit["per"] == ratelimit.POINT else f"{role}:{SUB}"
    window = int(NOW // limit["window_s"])
    key = f"{limit['name']}#{caller}#{window}"
    RateCounterModel(key, hits=limit["per_window"],  # the caller used up its window
                     expires_at=datetime.fromtimestamp(NOW + 2 * limit["window_s"], tz=UTC)).save()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "limit-1",
               "Authorization": f"Bearer {tokens.mint(role, claims)}"}
    response = getattr(client.http, method)(_url(path), headers=headers, body="{}")
    body = json.loads(response.body)
    assert (response.status_code, body["error"]["code"]) == (429, "rate_limited"), body
    assert 1 <= int(response.headers["Retry-After"]) <= limit["window_s"]
    assert int(RateCounterModel.get(key).hits) == limit["per_window"] + 1  # counted in DynamoDB
    # Another caller of the same role is not held back by it.
    other = {**CLAIMS[role], "sub": "another-caller"}
    if limit["per"] == ratelimit.POINT:
        other["point_id"] = "point-1001-02"
    headers["Authorization"] = f"Bearer {tokens.mint(role, other)}"
    assert getattr(client.http, method)(_url(path), headers=headers, body="{}").status_code != 429
