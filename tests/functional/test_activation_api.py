"""The operator's activation endpoint, the activation queue's handler and
the schedule through the Chalice test client (moto in-process): 202 and
the contract's errors, then the same work as Lambda would run it."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib import queues
from chalicelib.activation import service
from chalicelib.activation.progress import started, totals, with_progress
from chalicelib.activation.source import MemoryPhaseSource
from chalicelib.clock import utcnow
from chalicelib.ledger import Ledger, accounts
from tests.integration.test_activation_moto import AMOUNT, PHASE, definition, fund, seed, treasury
from tests.invariants import drained_summary


def make_app() -> Chalice:
    """app.py itself: its activation route, queue handler and schedule. (A
    Chalice blueprint registers its routes with one app only, so a second app
    built here would have no routes once app.py is imported.)"""
    from app import app
    return app


@pytest.fixture
def world(moto_aws, monkeypatch):
    start = utcnow() - timedelta(minutes=5)
    source = MemoryPhaseSource({PHASE: definition(start, waves=2)})
    monkeypatch.setattr(service, "default_source", lambda: source)
    return source


def operator(mint_token, mfa=True) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token('operator', mfa=mfa)}", "Content-Type": "application/json"}


def received_bodies() -> list[str]:
    client = queues.sqs_client()
    url = queues.queue_url(service.ACTIVATION_QUEUE)
    bodies = []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def work_queue(client: Client) -> None:
    """Lambda's part: the queued messages to the handler, 10 at a time."""
    while bodies := received_bodies():
        for start in range(0, len(bodies), 10):
            event = client.events.generate_sqs_event(message_bodies=bodies[start:start + 10],
                                                     queue_name=queues.queue_name(service.ACTIVATION_QUEUE))
            response = client.lambda_.invoke("activation_worker", event)
            assert response.payload == {"batchItemFailures": []}


def test_activate_is_202_and_credits_every_due_citizen_once(world, mint_token):
    wallets = seed(16, waves=2)
    fund(50 * AMOUNT)
    app = make_app()
    with Client(app) as client:
        for _ in range(2):  # safe to call repeatedly
            response = client.http.post(f"/v1/admin/phases/{PHASE}/activate", headers=operator(mint_token),
                                        body=json.dumps({"wave": 1}))
            assert response.status_code == 202
            assert response.json_body["runs"][0]["wave"] == 1
        work_queue(client)
        response = client.http.post(f"/v1/admin/phases/{PHASE}/activate", headers=operator(mint_token), body="")
        assert response.status_code == 202
        assert response.json_body["runs"] == [{"wave": 1, "tranche": 1, "messages": 0}]  # done: nothing to send
        not_due = client.http.post(f"/v1/admin/phases/{PHASE}/activate", headers=operator(mint_token),
                                   body='{"wave": 2}')
        assert not_due.status_code == 202 and not_due.json_body["runs"] == [] and "note" in not_due.json_body
        work_queue(client)
    ledger = Ledger()
    first = [w for w, wave in wallets.items() if wave == 1]
    assert first and len(first) < len(wallets)
    held = {w: ledger.balance(accounts.wallet_account(w)) for w in wallets}
    assert all(held[w] == (AMOUNT if wave == 1 else 0) for w, wave in wallets.items())
    assert totals(PHASE)["credited_count"] == len(first)
    assert treasury() == 50 * AMOUNT - len(first) * AMOUNT
    assert started(PHASE)
    shown = with_progress(PHASE, world.phases[PHASE])
    assert shown["phase_id"] == PHASE and shown["credited_satang"] == len(first) * AMOUNT
    assert [(w["wave"], w["status"], w["credited_count"]) for w in shown["waves"]] == [
        (1, "done", len(first)), (2, "scheduled", 0)]
    assert "activate_at" in shown["waves"][0]
    assert drained_summary()["balanced"] is True
    # Each change of the phase's state is in the audit chain: the operator's
    # trigger, the wave's run starting (once) and done.
    from chalicelib import audit

    actions = [e["action"] for e in reversed(audit.page(100, None)["items"])]
    assert actions.count("activation_run_started") == 1 and actions.count("activation_run_done") == 1
    assert actions.index("activation_run_started") < actions.index("activation_run_done")
    assert actions.count("activation_triggered") == 4 and audit.verify()["ok"] is True


def test_the_schedule_sends_due_runs_and_the_handler_works_them(world, mint_token):
    wallets = seed(8, waves=2)
    fund(50 * AMOUNT)
    with Client(make_app()) as client:
        client.lambda_.invoke("activation_schedule", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
        work_queue(client)
    first_wave = [w for w, wave in wallets.items() if wave == 1]
    assert totals(PHASE)["credited_count"] == len(first_wave)  # wave 2 is due tomorrow
    assert not started("another-phase")


@pytest.mark.parametrize("headers_of, body, status, code", [
    (lambda mint: operator(mint, mfa=False), "{}", 403, "forbidden"),
    (lambda mint: {"Authorization": f"Bearer {mint('citizen', cid='1101700230708')}"}, "{}", 403, "forbidden"),
    (lambda mint: {}, "{}", 401, "unauthenticated"),
    (lambda mint: operator(mint), '{"wave": "1"}', 400, "invalid_request"),
    (lambda mint: operator(mint), '{"wave": 3}', 400, "invalid_request"),
    (lambda mint: operator(mint), '{"waves": 1}', 400, "invalid_request"),
    (lambda mint: operator(mint), "not json", 400, "invalid_request"),
])
def test_activate_errors_follow_the_contract(world, mint_token, headers_of, body, status, code):
    with Client(make_app()) as client:
        response = client.http.post(f"/v1/admin/phases/{PHASE}/activate", headers=headers_of(mint_token), body=body)
    assert response.status_code == status
    assert response.json_body["error"]["code"] == code
    assert received_bodies() == []


def test_activate_an_unknown_phase_is_404(world, mint_token):
    with Client(make_app()) as client:
        response = client.http.post("/v1/admin/phases/nope/activate", headers=operator(mint_token), body="{}")
    assert response.status_code == 404 and response.json_body["error"]["code"] == "not_found"
