"""Turn on partial batch responses for every SQS event source of the
packaged app.

Chalice does not emit ``FunctionResponseTypes: [ReportBatchItemFailures]``
for ``@app.on_sqs_message`` (ARCHITECTURE.md, known gaps). Without it
Lambda ignores the ``batchItemFailures`` the handlers return and, when one
record fails, deletes the whole batch or redelivers all of it. Run this on
the output of ``chalice package`` before deploying:

    chalice package --stage prod out/
    python infra/add_batch_failures.py out/sam.json            # SAM / CloudFormation
    python infra/add_batch_failures.py out/chalice.tf.json      # Terraform

It edits the file in place and prints the event sources it changed; it
fails (exit 1) if the template has no SQS event source, so a packaging
change cannot silently drop the flag.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["REPORT_BATCH_ITEM_FAILURES", "add_batch_failures", "main"]

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def _cloudformation(template: dict[str, Any]) -> list[str]:
    changed = []
    for name, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
                if event.get("Type") == "SQS":
                    event.setdefault("Properties", {})["FunctionResponseTypes"] = [REPORT_BATCH_ITEM_FAILURES]
                    changed.append(f"{name}.{event_name}")
        elif kind == "AWS::Lambda::EventSourceMapping":
            properties = resource.setdefault("Properties", {})
            if ":sqs:" in json.dumps(properties.get("EventSourceArn", "")):
                properties["FunctionResponseTypes"] = [REPORT_BATCH_ITEM_FAILURES]
                changed.append(name)
    return changed


def _terraform(template: dict[str, Any]) -> list[str]:
    changed = []
    mappings = (template.get("resource") or {}).get("aws_lambda_event_source_mapping") or {}
    for name, mapping in mappings.items():
        if ":sqs:" in json.dumps(mapping.get("event_source_arn", "")) or "sqs" in name:
            mapping["function_response_types"] = [REPORT_BATCH_ITEM_FAILURES]
            changed.append(name)
    return changed


def add_batch_failures(template: dict[str, Any]) -> list[str]:
    """Set the flag on every SQS event source of a SAM/CloudFormation or
    Terraform JSON template (in place); returns the names changed."""
    return _cloudformation(template) + _terraform(template)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python infra/add_batch_failures.py <sam.json | chalice.tf.json>", file=sys.stderr)
        return 2
    path = Path(args[0])
    template = json.loads(path.read_text())
    changed = add_batch_failures(template)
    if not changed:
        print(f"{path}: no SQS event source found; nothing set", file=sys.stderr)
        return 1
    path.write_text(json.dumps(template, indent=2) + "\n")
    for name in changed:
        print(f"{path}: {name}: FunctionResponseTypes = [{REPORT_BATCH_ITEM_FAILURES}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
