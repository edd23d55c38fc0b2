"""The packaging step that turns on partial batch responses (Chalice does
not emit ReportBatchItemFailures for SQS event sources)."""
from __future__ import annotations

import json

from infra.add_batch_failures import REPORT_BATCH_ITEM_FAILURES, add_batch_failures, main


def sam_template() -> dict:
    return {"Resources": {
        "ActivationWorker": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {
            "ActivationWorkerSqsEventSource": {"Type": "SQS", "Properties": {
                "Queue": "arn:aws:sqs:ap-southeast-1:123456789012:wallet-prod-activation", "BatchSize": 10}}}}},
        "ActivationSchedule": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {
            "Rate": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}}}},
        "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {}},
    }}


def test_sam_sqs_events_get_the_flag_and_nothing_else_changes():
    template = sam_template()
    changed = add_batch_failures(template)
    assert changed == ["ActivationWorker.ActivationWorkerSqsEventSource"]
    sqs = template["Resources"]["ActivationWorker"]["Properties"]["Events"]["ActivationWorkerSqsEventSource"]
    assert sqs["Properties"]["FunctionResponseTypes"] == [REPORT_BATCH_ITEM_FAILURES]
    assert sqs["Properties"]["BatchSize"] == 10
    schedule = template["Resources"]["ActivationSchedule"]["Properties"]["Events"]["Rate"]
    assert "FunctionResponseTypes" not in schedule["Properties"]


def test_cloudformation_and_terraform_event_source_mappings():
    cfn = {"Resources": {"Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
        "EventSourceArn": "arn:aws:sqs:ap-southeast-1:1:wallet-prod-activation", "FunctionName": "f"}}}}
    assert add_batch_failures(cfn) == ["Mapping"]
    assert cfn["Resources"]["Mapping"]["Properties"]["FunctionResponseTypes"] == [REPORT_BATCH_ITEM_FAILURES]
    tf = {"resource": {"aws_lambda_event_source_mapping": {"activation_worker-sqs-event-source": {
        "event_source_arn": "arn:aws:sqs:ap-southeast-1:1:wallet-prod-activation", "batch_size": 10}}}}
    assert add_batch_failures(tf) == ["activation_worker-sqs-event-source"]
    mapping = tf["resource"]["aws_lambda_event_source_mapping"]["activation_worker-sqs-event-source"]
    assert mapping["function_response_types"] == [REPORT_BATCH_ITEM_FAILURES]


def test_the_command_edits_in_place_and_fails_when_there_is_no_sqs_source(tmp_path, capsys):
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(sam_template()))
    assert main([str(path)]) == 0
    assert REPORT_BATCH_ITEM_FAILURES in path.read_text()
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"Resources": {}}))
    assert main([str(empty)]) == 1
    assert main([]) == 2
