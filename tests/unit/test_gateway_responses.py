"""API Gateway's own answers (infra/add_gateway_responses.py) are the contract's errors."""
from __future__ import annotations

import json

from infra.add_gateway_responses import ACCESS_LOG_FORMAT, GATEWAY_RESPONSES, add_gateway_responses


def _sam() -> dict:
    return {"Resources": {"RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {}},
                          "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {}}}}


def test_every_gateway_response_is_a_contract_error() -> None:
    template = _sam()
    added = add_gateway_responses(template)
    assert len(added) == len(GATEWAY_RESPONSES)
    for name in added:
        props = template["Resources"][name]["Properties"]
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert props["RestApiId"] == {"Ref": "RestAPI"}
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"


def test_an_unknown_path_is_404_not_found_and_echoes_nothing() -> None:
    template = _sam()
    add_gateway_responses(template)
    props = template["Resources"]["GatewayResponseMissingAuthenticationToken"]["Properties"]
    assert props["StatusCode"] == "404"
    body = props["ResponseTemplates"]["application/json"]
    assert json.loads(body)["error"]["code"] == "not_found" and "$context" not in body and "$input" not in body


def test_access_logs_keep_the_route_template_not_the_path() -> None:
    template = _sam()
    add_gateway_responses(template)
    log_format = template["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]["Format"]
    assert log_format == ACCESS_LOG_FORMAT
    assert "$context.resourcePath" in log_format and "$context.path" not in log_format
