"""The one retry policy (chalicelib/db.py), proved at the botocore level: a
stub on ``before-send`` answers every HTTP attempt of the shared client (so
botocore's own retries run as they do against DynamoDB), throttling or
conflicting as often as a test says, and counts the calls. No network."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from pynamodb.exceptions import PutError

from chalicelib import db
from chalicelib.api.common import error_response
from chalicelib.config import rebuild
from chalicelib.ledger import AccountModel
from chalicelib.registration.models import RegistrationModel
from tests.faults import ConflictInjector
from tests.functional.registration_fixtures import (
    Api,
    phase_body,
    valid_cid,
)

OK: dict[str, Any] = {}
THROTTLED = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
             "message": "The level of configured provisioned throughput for the table was exceeded."}


def cancelled(*codes: str) -> dict[str, Any]:
    return {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": f"Transaction cancelled [{', '.join(codes)}]",
            "CancellationReasons": [{"Code": code} for code in codes]}


CONFLICT = cancelled("None", "TransactionConflict")


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class Stub:
    """Answers each attempt of one operation with the next of ``answers``
    (the last one again when they run out) and counts the attempts; the
    first takes ``first_s`` (a slow DynamoDB)."""

    def __init__(self, *answers: dict[str, Any], first_s: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.operation = ""
        self.first_s = first_s

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if target.rpartition(".")[2] != self.operation:
            return None
        self.calls += 1
        if self.calls == 1:
            time.sleep(self.first_s)
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        status = 200 if answer is OK else 400
        return AWSResponse(request.url, status, {"x-amzn-RequestId": "stub"}, _Body(json.dumps(answer).encode()))


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The shared connection pointed at a port nobody listens on, and a
    function that installs a stub for one operation."""
    monkeypatch.setenv("WALLET_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("WALLET_STAGE", "retries")
    rebuild()
    db.bind_models()

    def install(operation: str, stub: Stub) -> Stub:
        # On the event the deadline check is on, after it (handlers of one
        # event run in the order registered): the stub stands for the network.
        stub.operation = operation
        db.connection().client.meta.events.register("before-send.dynamodb", stub)
        return stub

    try:
        yield install
    finally:
        monkeypatch.undo()
        rebuild()
        db.bind_models()


def transaction() -> db.Transaction:
    tx = db.Transaction("test", item_limit=10)
    tx.put("record:t1", {"TableName": "wallet-retries-transfers", "Item": {"transfer_id": {"S": "t1"}},
                         "ConditionExpression": "attribute_not_exists(transfer_id)"})
    tx.update("balance:wallet:a", {"TableName": "wallet-retries-accounts", "Key": {"account_id": {"S": "wallet:a"}},
                                   "UpdateExpression": "ADD balance_satang :d",
                                   "ExpressionAttributeValues": {":d": {"N": "-5"}}})
    return tx


def test_a_conflict_is_retried_by_hand_until_it_goes_through(stubbed):
    stub = stubbed("TransactWriteItems", Stub(CONFLICT, CONFLICT, OK))
    transaction().commit()
    assert stub.calls == 3


def test_conflicts_that_never_end_stop_at_the_bound_with_a_429(stubbed):
    stub = stubbed("TransactWriteItems", Stub(CONFLICT))
    with pytest.raises(db.RetriesExhaustedError) as caught:
        transaction().commit()
    assert stub.calls == db.TRANSACTION_ATTEMPTS_MAX
    assert (caught.value.status, caught.value.code, caught.value.retry_after_s) == (429, "rate_limited", 1)
    assert "ledger" not in caught.value.message.lower()


def test_throttling_is_botocores_to_retry_and_is_not_retried_again_on_top(stubbed):
    stub = stubbed("TransactWriteItems", Stub(THROTTLED))
    with pytest.raises(db.RetriesExhaustedError):
        transaction().commit()
    assert stub.calls == db.BOTOCORE_ATTEMPTS_MAX


def test_throttled_then_conflicting_attempts_stay_within_the_documented_product(stubbed):
    stub = stubbed("TransactWriteItems", Stub(THROTTLED, CONFLICT, THROTTLED, CONFLICT, THROTTLED, THROTTLED,
                                              THROTTLED))
    with pytest.raises(db.RetriesExhaustedError):
        transaction().commit()
    assert stub.calls <= db.TRANSACTION_ATTEMPTS_MAX * db.BOTOCORE_ATTEMPTS_MAX


def test_a_failed_condition_is_not_retried_even_beside_a_conflict(stubbed):
    stub = stubbed("TransactWriteItems", Stub(cancelled("ConditionalCheckFailed", "TransactionConflict")))
    with pytest.raises(db.ConditionsFailedError) as caught:
        transaction().commit()
    assert stub.calls == 1
    assert list(caught.value.failed) == ["record:t1"]


def test_no_call_starts_after_the_request_deadline(stubbed):
    stub = stubbed("TransactWriteItems", Stub(OK))
    with db.request_deadline(0), pytest.raises(db.RetriesExhaustedError):
        transaction().commit()
    assert stub.calls == 0


def test_the_deadline_ends_conflicts_long_before_the_attempts_would(stubbed, monkeypatch):
    monkeypatch.setattr(db, "TRANSACTION_ATTEMPTS_MAX", 10_000)
    stub = stubbed("TransactWriteItems", Stub(CONFLICT))
    start = time.monotonic()
    with db.request_deadline(0.5), pytest.raises(db.RetriesExhaustedError):
        transaction().commit()
    elapsed = time.monotonic() - start
    # Ended by the deadline (10,000 attempts with backoffs would take minutes),
    # with room for a machine busy with other work.
    assert elapsed < 0.5 + db.RETRY_BACKOFF_CAP_S + 2
    assert 1 < stub.calls < 200


def test_the_deadline_stops_botocores_own_retries_too(stubbed):
    # The first attempt is slow and throttled: botocore would try twice more,
    # but the deadline has passed by then, so the next attempt never starts.
    stub = stubbed("PutItem", Stub(THROTTLED, first_s=1.5))
    with db.request_deadline(1.0), pytest.raises(db.RetriesExhaustedError):
        AccountModel("wallet:a", balance_satang=0).save()
    assert stub.calls == 1


def test_a_single_write_throttled_past_botocores_attempts_answers_429(stubbed):
    stub = stubbed("PutItem", Stub(THROTTLED))
    with pytest.raises(PutError) as caught:
        AccountModel("wallet:a", balance_satang=0).save()
    assert stub.calls == db.BOTOCORE_ATTEMPTS_MAX
    response = error_response(caught.value)
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert json.loads(response.body)["error"]["code"] == "rate_limited"


def test_every_call_is_bounded_by_explicit_timeouts_and_the_standard_mode(stubbed):
    config = db.connection().client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (db.CONNECT_TIMEOUT_S, db.READ_TIMEOUT_S)
    assert config.retries == {"mode": "standard", "total_max_attempts": db.BOTOCORE_ATTEMPTS_MAX}
    worst_s = db.REQUEST_DEADLINE_S + db.CONNECT_TIMEOUT_S + db.READ_TIMEOUT_S + 2  # + botocore's last backoff
    assert worst_s < 29  # API Gateway's limit


@pytest.fixture
def p3(api: Api) -> Api:
    api.put_phase("p3", phase_body())
    return api


def test_an_api_request_that_keeps_conflicting_answers_429_with_retry_after(p3):
    """Registration's own transaction (not the ledger's) conflicting past
    the bound: a neutral 429, nothing written, and the retry goes through."""
    with ConflictInjector() as faults:
        faults.arm(10_000)
        reply = p3.register(valid_cid(31))
        assert faults.injected == db.TRANSACTION_ATTEMPTS_MAX
    assert (reply.status, reply.body["error"]["code"]) == (429, "rate_limited")
    assert reply.headers["Retry-After"] == "1"
    assert "ledger" not in reply.body["error"]["message"].lower()
    assert RegistrationModel.count() == 0
    assert p3.register(valid_cid(31)).status == 201
