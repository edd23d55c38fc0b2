"""CloudFormation for the stateful resources, generated from the code that
uses them, so that the deployed tables and queues cannot drift from it.

    python -m infra.resources --stage prod > out/resources.json

- one DynamoDB table per registered PynamoDB model (keys and global indexes
  from the model, on-demand billing, point-in-time recovery, encryption at
  rest, deletion protection, TTL where the model has a TTL attribute);
- every work queue of chalicelib/queues.py with its dead-letter queue
  (redrive after MAX_RECEIVE_COUNT receives), encrypted;
- the bank statement bucket, private and versioned.

The functions themselves come from ``chalice package`` (then
infra/add_batch_failures.py); this stack is deployed first and outlives them.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

__all__ = ["template", "main", "QUEUE_VISIBILITY_TIMEOUT_S", "MESSAGE_RETENTION_S"]

# Above the longest handler run (activation's work budget plus margin), so a
# message being worked on is not handed to a second worker.
QUEUE_VISIBILITY_TIMEOUT_S = 900
# The longest SQS allows: a bank that is down for days loses no instruction.
MESSAGE_RETENTION_S = 14 * 24 * 3600


def _logical(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part)


def _table(model: Any) -> dict[str, Any]:
    schema = model._get_schema()
    definitions = {d["AttributeName"]: d for d in schema["attribute_definitions"]}
    properties: dict[str, Any] = {
        "TableName": model.Meta.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        # HASH before RANGE, as CloudFormation requires.
        "KeySchema": sorted(schema["key_schema"], key=lambda k: k["KeyType"] != "HASH"),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "DeletionProtectionEnabled": True,
    }
    indexes = []
    for index in schema.get("global_secondary_indexes", []):
        for definition in index["attribute_definitions"]:
            definitions[definition["AttributeName"]] = definition
        indexes.append({"IndexName": index["index_name"],
                        "KeySchema": sorted(index["key_schema"], key=lambda k: k["KeyType"] != "HASH"),
                        "Projection": index["projection"]})
    if indexes:
        properties["GlobalSecondaryIndexes"] = indexes
    properties["AttributeDefinitions"] = list(definitions.values())
    ttl = [name for name, attr in model.get_attributes().items() if type(attr).__name__ == "TTLAttribute"]
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl[0], "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "Properties": properties}


def _queues(settings: Any, shorts: tuple[str, ...], max_receives: int, dlq_suffix: str) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for short in shorts:
        dlq = _logical(f"{short}{dlq_suffix}") + "Queue"
        resources[dlq] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": settings.queue_name(f"{short}{dlq_suffix}"),
            "MessageRetentionPeriod": MESSAGE_RETENTION_S, "SqsManagedSseEnabled": True}}
        resources[_logical(short) + "Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": settings.queue_name(short),
            "VisibilityTimeout": QUEUE_VISIBILITY_TIMEOUT_S,
            "MessageRetentionPeriod": MESSAGE_RETENTION_S,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                              "maxReceiveCount": max_receives}}}
    return resources


def template(stage: str) -> dict[str, Any]:
    os.environ["WALLET_STAGE"] = stage
    os.environ.pop("WALLET_DYNAMODB_ENDPOINT", None)
    from chalicelib import db, queues
    from chalicelib.config import get_settings, rebuild
    from chalicelib.models_index import import_all_models

    rebuild()
    import_all_models()
    settings = get_settings()
    db.bind_models(settings)
    resources: dict[str, Any] = {}
    for model in db.registered_models():
        resources[_logical(model.Meta.short_name) + "Table"] = _table(model)
    resources.update(_queues(settings, queues.QUEUES, queues.MAX_RECEIVE_COUNT, queues.DLQ_SUFFIX))
    resources["StatementBucket"] = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Properties": {
        "BucketName": f"{settings.resource_prefix}-statements",
        "VersioningConfiguration": {"Status": "Enabled"},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}}}
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"Digital wallet: tables, queues and statement bucket of stage {stage}",
            "Resources": resources}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.resources", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    args = parser.parse_args(argv)
    json.dump(template(args.stage), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
