"""GET/PUT /v1/admin/switches: an operator pauses an operation for all or a
district without a deploy, callers get 503 paused with Retry-After, the
pause is listed and audited, and resuming lets them through again."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import rebuild
from tests.functional.test_admin_phases import OP, days_ago, phase

CITIZEN = {"role": "citizen", "cid": "1101700230708", "birth_date": "2006-05-01", "district": "1001",
           "nationality": "TH"}
OPEN_PHASE = phase(registration_opens_at=days_ago(30), registration_closes_at="2099-01-01T00:00:00Z",
                   waves=[{"activate_at": "2099-02-01T00:00:00Z"}])


@pytest.fixture(autouse=True)
def fresh_switch_cache(moto_aws: Any) -> Any:
    rebuild()
    yield
    rebuild()


def register(call: Any, **claims: Any) -> tuple[int, Any, dict[str, str]]:
    return call("POST", "/v1/registrations", body={"phase_id": "p3", "consent": True}, **{**CITIZEN, **claims})


def test_a_paused_district_answers_503_until_resumed(call: Any) -> None:
    assert call("PUT", "/v1/admin/phases/p3", body=OPEN_PHASE, **OP)[0] == 201
    pause = {"operation": "registrations", "state": "paused", "scope": "district:1001", "reason": "flood"}
    status, body, _ = call("PUT", "/v1/admin/switches", body=pause, **OP)
    assert status == 200 and body["state"] == "paused" and body["scope"] == "district:1001"

    status, body, headers = register(call)
    assert status == 503 and body["error"]["code"] == "paused"
    assert int(headers["Retry-After"]) > 0
    # Another district is not paused.
    assert register(call, cid="1101700230716", district="1002")[0] == 201

    status, body, _ = call("GET", "/v1/admin/switches", role="auditor")
    assert status == 200
    assert [(s["operation"], s["scope"], s["reason"]) for s in body["switches"]] == [
        ("registrations", "district:1001", "flood")]

    resume = {**pause, "state": "on", "reason": "water gone"}
    assert call("PUT", "/v1/admin/switches", body=resume, **OP)[0] == 200
    assert register(call)[0] == 201
    assert call("GET", "/v1/admin/switches", role="operator")[1]["switches"] == []

    status, body, _ = call("GET", "/v1/admin/audit", role="auditor")
    actions = [(e["action"], e["target"]) for e in body["items"]]
    assert ("switch_paused", "switch:registrations:district:1001") in actions
    assert ("switch_on", "switch:registrations:district:1001") in actions


@pytest.mark.parametrize("change, field", [
    ({"operation": "refunds"}, "operation"),
    ({"state": "off"}, "state"),
    ({"scope": "district:10"}, "scope"),
    ({"scope": "province:10"}, "scope"),
    ({"reason": ""}, "reason"),
    ({"extra": 1}, "extra"),
])
def test_bad_switch_bodies_are_400_naming_the_field(call: Any, change: dict[str, Any], field: str) -> None:
    body = {"operation": "payments", "state": "paused", "scope": "all", "reason": "incident", **change}
    status, reply, _ = call("PUT", "/v1/admin/switches", body=body, **OP)
    assert status == 400 and reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"]["field"] == field
    assert call("GET", "/v1/admin/switches", role="operator")[1]["switches"] == []


def test_only_an_operator_with_mfa_sets_a_switch(call: Any) -> None:
    body = {"operation": "payments", "state": "paused", "scope": "all", "reason": "incident"}
    assert call("PUT", "/v1/admin/switches", body=body, role="operator")[0] == 403
    assert call("PUT", "/v1/admin/switches", body=body, role="auditor", mfa=True)[0] == 403
    assert call("PUT", "/v1/admin/switches", body=body, **CITIZEN)[0] == 403
    assert call("GET", "/v1/admin/switches", **CITIZEN)[0] == 403
    assert call("GET", "/v1/admin/switches", role="operator")[1]["switches"] == []
