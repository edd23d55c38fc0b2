"""The audit trail is tamper-evident: ``GET /v1/admin/audit/verify`` and
``python -m devstack audit-verify`` (offline, from the table) recompute every
chain and point at the first broken link when a stored event is altered or
removed (DynamoDB Local)."""
from __future__ import annotations

import argparse
import json
from typing import Any

import boto3
import pytest
from rich.console import Console

from chalicelib import audit
from chalicelib.auth import Principal
from devstack import auditcheck

pytestmark = pytest.mark.integration

OPERATOR = Principal("op-1", "operator", {"mfa": True})
REGISTRAR = Principal("reg-1", "registrar", {"point_id": "point-1001-01"})


def _events() -> None:
    for n in range(3):
        audit.audit(OPERATOR, "phase_saved", f"phase:p{n}", {"budget_satang": n})
    for n in range(2):
        audit.audit(REGISTRAR, "card_reissue", f"wallet:w{n}", {"point_id": "point-1001-01"},
                    chain=audit.point_chain("point-1001-01"))
    audit.audit(audit.system(), "alert", "point:point-1001-01", {"kind": "registrar_point_unusual"})


def _client(settings: Any) -> Any:
    return boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=settings.region,
                        aws_access_key_id="local", aws_secret_access_key="local")


def _offline(settings: Any) -> tuple[int, str]:
    console = Console(record=True, width=200)
    code = auditcheck.main(argparse.Namespace(endpoint=settings.dynamodb_endpoint, stage=settings.stage,
                                              region=settings.region), console)
    return code, console.export_text()


def _api_verify() -> dict[str, Any]:
    from chalice.test import Client

    import app as app_module
    from devstack import tokens

    with Client(app_module.app) as client:
        token = tokens.mint("auditor", {})
        response = client.http.get("/v1/admin/audit/verify", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        return dict(json.loads(response.body))


def test_an_untouched_trail_verifies_online_and_offline(ddb_local: Any) -> None:
    _events()
    assert _api_verify() == {"ok": True, "events_checked": 6, "first_broken": None}
    code, text = _offline(ddb_local)
    assert code == 0 and "6 events" in text and ddb_local.stage in text


def test_an_altered_event_is_found_and_named(ddb_local: Any) -> None:
    _events()
    table = ddb_local.table_name("audit")
    key = {"chain": {"S": "operators"}, "sort": {"S": f"{2:012d}"}}
    stored = _client(ddb_local).get_item(TableName=table, Key=key)["Item"]
    event = json.loads(stored["event_json"]["S"])
    event["details"]["budget_satang"] = 999  # an insider edits the record
    _client(ddb_local).update_item(TableName=table, Key=key, UpdateExpression="SET event_json = :e",
                                   ExpressionAttributeValues={":e": {"S": json.dumps(event, sort_keys=True)}})
    online = _api_verify()
    assert online["ok"] is False
    assert online["first_broken"] == {"event_id": "operators/000000000002",
                                      "reason": "hash does not match the event: the event was altered"}
    code, text = _offline(ddb_local)
    assert code == 1 and "operators/000000000002" in text and "altered" in text


def test_a_removed_event_is_found(ddb_local: Any) -> None:
    _events()
    table = ddb_local.table_name("audit")
    chain = audit.point_chain("point-1001-01")
    _client(ddb_local).delete_item(TableName=table, Key={"chain": {"S": chain}, "sort": {"S": f"{1:012d}"}})
    result = audit.verify()
    assert result["ok"] is False and result["first_broken"]["event_id"] == f"{chain}/000000000002"
    assert _offline(ddb_local)[0] == 1
