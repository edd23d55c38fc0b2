"""``python -m devstack bank show|set|statement`` and ``python -m devstack
dlq`` against a stack's queues and bucket (moto server): each names the
stack it talks to, changes what the running simulator reads, writes the
statement with the break asked for, and moves dead letters back."""
from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest

from chalicelib import queues
from devstack import __main__ as cli
from devstack import banksim, state

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(local_aws: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    state.write(state.StackState(api_url="http://127.0.0.1:8199", stage=local_aws.stage,
                                 dynamodb_endpoint=local_aws.dynamodb_endpoint, aws_endpoint=local_aws.sqs_endpoint,
                                 pid=os.getpid(), schedule_rate_s=1))
    return local_aws


def test_set_show_and_statement_name_the_stack_and_take_effect(stack, capsys):
    assert cli.main(["bank", "set", "004", "--reject-share", "0.25", "--delay-s", "2", "--reorder",
                     "--outage-s", "60"]) == 0
    out = capsys.readouterr()
    assert "http://127.0.0.1:8199" in out.err and stack.stage in out.err
    behaviour = banksim.read_behaviours(stack.stage)["004"]
    assert (behaviour.reject_share, behaviour.delay_s, behaviour.reorder) == (0.25, 2.0, True)
    assert behaviour.in_outage(__import__("time").time())
    assert banksim.read_behaviours(stack.stage)["002"] == banksim.Behaviour()
    assert cli.main(["bank", "set", "004", "--reject-share", "2"]) == 2

    assert cli.main(["bank", "show"]) == 0
    shown = capsys.readouterr().out
    assert "004" in shown and "0.25" in shown and "status queue 0" in shown

    book = banksim.BankBook(banksim.book_dir(stack.stage) / "004.jsonl")
    book.answer("wd_000000000000c001", lambda: {"status": "ACSC", "reason_code": None, "amount_satang": 700,
                                                "booked_at": "2025-03-18T03:00:00.000000Z"})
    assert cli.main(["bank", "statement", "004", "--date", "2025-03-18", "--break", "amount_differs"]) == 0
    s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint, region_name=stack.region)
    body = json.loads(s3.get_object(Bucket=stack.statement_bucket, Key="statements/004/2025-03-18.json")["Body"].read())
    assert body["entries"] == [{"end_to_end_id": "wd_000000000000c001", "amount_satang": 800,
                                "booked_at": "2025-03-18T03:00:00.000000Z"}]
    assert cli.main(["bank", "statement", "002", "--date", "2025-03-18", "--break", "missing_in_statement"]) == 2


def test_dlq_lists_and_redrives(stack, capsys):
    sqs = boto3.client("sqs", endpoint_url=stack.sqs_endpoint, region_name=stack.region)
    dead = sqs.get_queue_url(QueueName=stack.queue_name(queues.dlq_short_name(queues.STATUS_QUEUE)))["QueueUrl"]
    sqs.send_message(QueueUrl=dead, MessageBody="{not json")
    assert cli.main(["dlq"]) == 0
    listed = capsys.readouterr().out
    assert "bank-status-dlq" in listed and "bank-004-instructions-dlq" in listed
    assert cli.main(["dlq", "--redrive", "bank-status"]) == 0
    assert "moved 1 messages" in capsys.readouterr().out
    live = sqs.get_queue_url(QueueName=stack.queue_name(queues.STATUS_QUEUE))["QueueUrl"]
    [back] = sqs.receive_message(QueueUrl=live, WaitTimeSeconds=1)["Messages"]
    assert back["Body"] == "{not json"
    assert cli.main(["dlq", "--redrive", "nowhere"]) == 2


def test_without_a_stack_the_commands_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WALLET_DEVSTACK_DIR", str(tmp_path))
    assert cli.main(["bank", "show"]) == 1 and "make run" in capsys.readouterr().err
    assert cli.main(["dlq"]) == 1 and "make run" in capsys.readouterr().err
