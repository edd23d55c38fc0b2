"""A large exclusions import: stored and answered 202, run by the import
worker from its cursor, resumed after a crash, failed into the DLQ with an
alert, visible to the operator, audited (Chalice client, moto)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import limits, queues
from chalicelib.audit.models import AuditModel
from chalicelib.exclusions import imports
from chalicelib.exclusions import service as exclusion_service
from chalicelib.exclusions.models import ExclusionImportChunkModel, ExclusionModel
from chalicelib.pii import hash_id
from tests.functional.registration_fixtures import Api, phase_body, tokens, valid_cid

SYNC_MAX = 10
CHUNK = 4


@pytest.fixture(autouse=True)
def small_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above 10 IDs a body is imported later, in chunks of 4."""
    monkeypatch.setattr(limits, "EXCLUSION_SYNC_CIDS_MAX", SYNC_MAX)
    monkeypatch.setattr(limits, "EXCLUSION_IMPORT_CHUNK_IDS", CHUNK)


def received(receive_count: int = 1) -> list[dict[str, Any]]:
    """The queued import messages, as Lambda's poller hands them over."""
    sqs = queues.sqs_client()
    url = queues.queue_url(imports.QUEUE)
    records = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            records.append({"messageId": message["MessageId"], "receiptHandle": "r", "body": message["Body"],
                            "attributes": {"ApproximateReceiveCount": str(receive_count)},
                            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                            "eventSourceARN": "arn:aws:sqs:ap-southeast-1:123456789012:q",
                            "awsRegion": "ap-southeast-1"})
    return records


def work(receive_count: int = 1) -> list[Any]:
    """Lambda's part: every queued message to the worker, until none is left."""
    answers = []
    while records := received(receive_count):
        for record in records:
            answers.append(imports.handle_sqs_event({"Records": [record]}))
    return answers


def state(api: Api, import_id: str, token: str | None = None) -> dict[str, Any]:
    reply = api.call("GET", f"/v1/admin/exclusions/imports/{import_id}", token or api.operator(mfa=False))
    assert reply.status == 200, reply.body
    return reply.body


def actions() -> list[dict[str, Any]]:
    return [json.loads(item.event_json) for item in AuditModel.scan()]


def on_list(name: str) -> set[str]:
    return {item.citizen_hash for item in ExclusionModel.scan(ExclusionModel.list_name == name)}


CIDS = [valid_cid(i) for i in range(1, 19)]  # 18 IDs: 5 chunks, the last of 2


def test_a_large_import_is_202_then_done_by_the_worker_and_audited(api: Api):
    api.put_phase("p3", phase_body(lists=("prisoners",)))
    reply = api.exclude("prisoners", [*CIDS, CIDS[0]])
    assert reply.status == 202
    body = reply.body
    import_id = body["import_id"]
    assert {k.lower(): v for k, v in reply.headers.items()}["location"] == f"/v1/admin/exclusions/imports/{import_id}"
    assert (body["status"], body["received"], body["unique"], body["chunks_total"], body["added"]) == (
        "queued", 19, 18, 5, 0)
    assert on_list("prisoners") == set()  # nothing imported within the request
    phase = api.call("GET", "/v1/admin/phases/p3", api.operator()).body
    assert [w["code"] for w in phase["warnings"]] == ["exclusion_list_importing"]

    assert work() == [{"batchItemFailures": []}]
    done = state(api, import_id, tokens.mint("auditor", {}))
    assert (done["status"], done["processed"], done["added"], done["chunks_done"], done["errors"]) == (
        "done", 18, 18, 5, [])
    assert on_list("prisoners") == {hash_id(c) for c in CIDS}
    assert "warnings" not in api.call("GET", "/v1/admin/phases/p3", api.operator()).body
    assert api.register(CIDS[-1]).body["reason"] == "excluded:prisoners"
    events = [e for e in actions() if e["action"].startswith("exclusions_import")]
    assert [(e["action"], e["details"]["import_id"]) for e in events] == [
        ("exclusions_import_queued", import_id), ("exclusions_imported", import_id)]
    assert events[1]["details"]["added"] == 18
    assert events[1]["actor"].startswith("operator:")
    stored = " ".join(item.event_json for item in AuditModel.scan())
    assert not any(cid in stored for cid in CIDS)
    chunk_text = " ".join(c.hashes for c in ExclusionImportChunkModel.scan())
    assert not any(cid in chunk_text for cid in CIDS) and hash_id(CIDS[0]) in chunk_text


def test_small_bodies_keep_the_contracts_200(api: Api):
    reply = api.exclude("prisoners", CIDS[:SYNC_MAX])
    assert (reply.status, reply.body) == (200, {"added": SYNC_MAX})


def test_the_same_body_twice_is_one_import(api: Api):
    first = api.exclude("prisoners", CIDS).body
    again = api.exclude("prisoners", list(reversed(CIDS)))
    assert again.status == 202 and again.body["import_id"] == first["import_id"]
    work()
    assert state(api, first["import_id"])["added"] == 18
    after = api.exclude("prisoners", CIDS)
    assert (after.status, after.body["status"], after.body["added"]) == (202, "done", 18)
    assert received() == []  # a done import sends nothing
    queued = [e for e in actions() if e["action"] == "exclusions_import_queued"]
    assert len(queued) == 1


def test_a_crashed_worker_resumes_at_its_cursor_and_counts_each_id_once(api: Api, monkeypatch):
    import_id = api.exclude("prisoners", CIDS).body["import_id"]
    real = exclusion_service.import_hashes
    calls = {"n": 0}

    def crash_on_third_chunk(list_name: str, hashes: list[str]) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            real(list_name, hashes[:2])  # half the chunk lands, then the worker dies
            raise ConnectionError("DynamoDB went away")
        return real(list_name, hashes)

    monkeypatch.setattr(imports, "import_hashes", crash_on_third_chunk)
    records = received()
    failed = imports.handle_sqs_event({"Records": records})
    assert failed == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    midway = state(api, import_id)
    assert (midway["status"], midway["chunks_done"], midway["attempts"]) == ("running", 2, 1)
    assert "chunk 2: ConnectionError: DynamoDB went away" in midway["errors"][0]
    monkeypatch.setattr(imports, "import_hashes", real)
    # SQS delivers the message again after its visibility timeout.
    for record in records:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    assert imports.handle_sqs_event({"Records": records}) == {"batchItemFailures": []}
    done = state(api, import_id)
    assert (done["status"], done["chunks_done"], done["processed"]) == ("done", 5, 18)
    # The two IDs that landed before the crash were already there on resuming.
    assert done["added"] == 16
    assert on_list("prisoners") == {hash_id(c) for c in CIDS}
    assert ExclusionModel.count() == 18


def test_an_import_failing_on_every_receive_is_failed_with_an_alert_and_resumes_when_sent_again(api: Api,
                                                                                            monkeypatch):
    import_id = api.exclude("prisoners", CIDS).body["import_id"]
    real = exclusion_service.import_hashes
    seen = {"n": 0}

    def fail_after_one(list_name: str, hashes: list[str]) -> int:
        seen["n"] += 1
        if seen["n"] > 1:
            raise TimeoutError("throttled")
        return real(list_name, hashes)

    monkeypatch.setattr(imports, "import_hashes", fail_after_one)
    records = received()
    for count in range(1, queues.MAX_RECEIVE_COUNT + 1):
        for record in records:
            record["attributes"]["ApproximateReceiveCount"] = str(count)
        assert imports.handle_sqs_event({"Records": records})["batchItemFailures"]
    failed = state(api, import_id)
    assert (failed["status"], failed["chunks_done"], failed["attempts"]) == ("failed", 1, queues.MAX_RECEIVE_COUNT)
    assert len(failed["errors"]) == imports.ERRORS_KEPT
    alerts = api.call("GET", "/v1/admin/alerts", api.operator()).body["items"]
    assert [(a["kind"], a["details"]["import_id"]) for a in alerts] == [("exclusions_import_failed", import_id)]
    assert "exclusions_import_failed" in [e["action"] for e in actions()]

    monkeypatch.setattr(imports, "import_hashes", real)
    again = api.exclude("prisoners", CIDS)
    assert (again.status, again.body["import_id"], again.body["status"]) == (202, import_id, "queued")
    work()
    done = state(api, import_id)
    assert (done["status"], done["added"], done["chunks_done"]) == ("done", 18, 5)


def test_a_worker_out_of_time_hands_over_to_a_continuation(api: Api):
    import_id = api.exclude("prisoners", CIDS).body["import_id"]
    [record] = received()
    # No time left past the first chunk: every message does one chunk.
    partial = imports.run(json.loads(record["body"])["import_id"], budget_s=imports.CHUNK_WORK_S + 0.001)
    assert (partial["status"], partial["chunks_done"]) == ("running", 1)
    assert len(received()) == 1  # the continuation
    imports.run(import_id)
    assert state(api, import_id)["status"] == "done"


def test_an_unknown_or_malformed_import_id(api: Api):
    missing = api.call("GET", "/v1/admin/exclusions/imports/ei_" + "0" * 32, api.operator())
    assert (missing.status, missing.body["error"]["code"]) == (404, "not_found")
    bad = api.call("GET", "/v1/admin/exclusions/imports/nope", api.operator())
    assert (bad.status, bad.body["error"]["details"]["field"]) == (400, "import_id")
    citizen = api.call("GET", "/v1/admin/exclusions/imports/ei_" + "0" * 32, api.citizen(valid_cid(1)))
    assert citizen.status == 403
