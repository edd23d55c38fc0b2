"""Alerts: stored once per event, listed newest first, acknowledged by an
operator with mfa (audited), read by auditors, logged and counted."""
from __future__ import annotations

import json

from chalicelib import alerts


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def warning(self, message: str, extra: dict) -> None:
        self.lines.append((message, extra))


def test_an_alert_is_stored_once_listed_and_acknowledged(call, capfd, monkeypatch):
    log = _Log()
    monkeypatch.setattr(alerts, "logger", log)
    first = alerts.raise_alert("unknown_payout", "wd_1:ACSC", {"end_to_end_id": "wd_1", "bank_code": "004"})
    assert alerts.raise_alert("unknown_payout", "wd_1:ACSC", {"end_to_end_id": "wd_1"}) == first
    second = alerts.raise_alert("payout_timeout", "wd_2", {"payout_id": "wd_2"})
    captured = capfd.readouterr()
    out = captured.out + captured.err
    # One structured log line and one metric (EMF) per alert, not per sighting.
    assert [(m, e["alert_kind"]) for m, e in log.lines] == [("alert raised", "unknown_payout"),
                                                            ("alert raised", "payout_timeout")]
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert sorted(m["kind"] for m in metrics) == ["payout_timeout", "unknown_payout"]
    assert all(m["Alerts"] == [1.0] or m["Alerts"] == 1.0 for m in metrics)
    # The dimensions the alarms watch (infra/observability.py: service and kind), in the Wallet namespace.
    for metric in metrics:
        (declared,) = metric["_aws"]["CloudWatchMetrics"]
        assert declared["Namespace"] == "Wallet" and metric["service"] == "wallet"
        assert sorted(declared["Dimensions"][0]) == ["kind", "service"]

    status, body, _ = call("GET", "/v1/admin/alerts", role="auditor")
    assert status == 200 and [a["alert_id"] for a in body["items"]] == [second, first]
    assert body["items"][1] == {"alert_id": first, "kind": "unknown_payout", "status": "open",
                                "created_at": body["items"][1]["created_at"],
                                "details": {"end_to_end_id": "wd_1", "bank_code": "004"}}

    status, _, _ = call("POST", f"/v1/admin/alerts/{first}/ack", role="operator", body={"reason": "checked"})
    assert status == 403  # an operator write needs mfa
    status, acked, _ = call("POST", f"/v1/admin/alerts/{first}/ack", role="operator", mfa=True,
                            body={"reason": "asked the bank"})
    assert status == 200 and acked["status"] == "acknowledged" and acked["ack_reason"] == "asked the bank"
    again = call("POST", f"/v1/admin/alerts/{first}/ack", role="operator", mfa=True, body={"reason": "other"})[1]
    assert again["ack_reason"] == "asked the bank"
    _, open_only, _ = call("GET", "/v1/admin/alerts?status=open", role="operator")
    assert [a["alert_id"] for a in open_only["items"]] == [second]
    _, trail, _ = call("GET", "/v1/admin/audit", role="auditor")
    # Newest first: the acknowledgement, then the two alerts themselves.
    assert [e["action"] for e in trail["items"]] == ["alert_acknowledged", "alert", "alert"]
    assert trail["items"][0]["target"] == f"alert:{first}"


def test_bad_and_unknown_alerts(call):
    assert call("POST", "/v1/admin/alerts/al_00000000deadbeef/ack", role="operator", mfa=True,
                body={"reason": "x"})[0] == 404
    status, body, _ = call("POST", "/v1/admin/alerts/nope/ack", role="operator", mfa=True, body={"reason": "x"})
    assert status == 400 and body["error"]["details"]["field"] == "alert_id"
    status, body, _ = call("POST", "/v1/admin/alerts/al_00000000deadbeef/ack", role="operator", mfa=True, body={})
    assert status == 400 and body["error"]["details"]["field"] == "reason"
    assert call("GET", "/v1/admin/alerts", role="merchant")[0] == 403
    assert call("GET", "/v1/admin/alerts?status=closed", role="operator")[0] == 400
