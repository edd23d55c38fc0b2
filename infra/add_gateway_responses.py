"""API Gateway's own answers in the contract's error shape.

API Gateway answers some requests before the function runs: a path no
route has (``MISSING_AUTHENTICATION_TOKEN``, a 403 that names the caller's
Authorization header), a body too large, a media type, throttling by a usage
plan, its own timeouts and faults. Its default bodies are ``{"message": ...}``.
Run this on the output of ``chalice package`` (after add_batch_failures.py):

    python infra/add_gateway_responses.py out/sam.json

It adds one ``AWS::ApiGateway::GatewayResponse`` per response type to the
template's REST API, each with the body of ``chalicelib.errors.contract_body``
for its status (an unknown path is 404 ``not_found``), and the access-log
format that keeps the route template (``$context.resourcePath``), never the
path as sent, so a card code of ``/v1/cards/{card_code}/unlock`` is never
logged. Exit 1 if the template has no REST API.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.errors import contract_body

__all__ = ["GATEWAY_RESPONSES", "ACCESS_LOG_FORMAT", "gateway_responses", "add_gateway_responses", "main"]

# Response type -> the status the client gets.
GATEWAY_RESPONSES = {
    "DEFAULT_4XX": 400, "DEFAULT_5XX": 500,
    "MISSING_AUTHENTICATION_TOKEN": 404, "RESOURCE_NOT_FOUND": 404,
    "UNAUTHORIZED": 401, "ACCESS_DENIED": 403, "EXPIRED_TOKEN": 401, "INVALID_SIGNATURE": 401,
    "INVALID_API_KEY": 403, "BAD_REQUEST_BODY": 400, "BAD_REQUEST_PARAMETERS": 400,
    "REQUEST_TOO_LARGE": 413, "UNSUPPORTED_MEDIA_TYPE": 415,
    "THROTTLED": 429, "QUOTA_EXCEEDED": 429,
    "INTEGRATION_FAILURE": 502, "INTEGRATION_TIMEOUT": 504, "API_CONFIGURATION_ERROR": 500,
}
# Route template, not the path: no card code, no query string.
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "time": "$context.requestTime", "method": "$context.httpMethod",
    "route": "$context.resourcePath", "status": "$context.status", "latencyMs": "$context.responseLatency",
    "ip": "$context.identity.sourceIp",
}, separators=(",", ":"))


def gateway_responses(rest_api_ref: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation resources of every Gateway Response, for the API ``rest_api_ref``."""
    out: dict[str, Any] = {}
    for kind, status in GATEWAY_RESPONSES.items():
        headers = {"gatewayresponse.header.Content-Type": "'application/json'"}
        if status == 429:
            headers["gatewayresponse.header.Retry-After"] = "'1'"
        name = "GatewayResponse" + "".join(part.capitalize() for part in kind.split("_"))
        out[name] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
            "RestApiId": rest_api_ref, "ResponseType": kind, "StatusCode": str(status),
            "ResponseParameters": headers,
            "ResponseTemplates": {"application/json": json.dumps(contract_body(status))}}}
    return out


def add_gateway_responses(template: dict[str, Any]) -> list[str]:
    resources = template.setdefault("Resources", {})
    apis = [name for name, r in resources.items()
            if r.get("Type") in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi")]
    added: list[str] = []
    for api in apis:
        properties = resources[api].setdefault("Properties", {})
        if resources[api]["Type"] == "AWS::Serverless::Api":
            properties["AccessLogSetting"] = {"Format": ACCESS_LOG_FORMAT,
                                              "DestinationArn": {"Fn::Sub": "${AccessLogGroup.Arn}"}}
            resources.setdefault("AccessLogGroup", {"Type": "AWS::Logs::LogGroup",
                                                    "Properties": {"RetentionInDays": 90}})
        for name, resource in gateway_responses({"Ref": api}).items():
            key = name if len(apis) == 1 else f"{api}{name}"
            resources[key] = resource
            added.append(key)
    return added


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python infra/add_gateway_responses.py out/sam.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    template = json.loads(path.read_text())
    added = add_gateway_responses(template)
    if not added:
        print(f"{path}: no REST API in the template", file=sys.stderr)
        return 1
    path.write_text(json.dumps(template, indent=2) + "\n")
    for name in added:
        print(f"added {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
