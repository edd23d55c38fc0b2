"""API Gateway's own answers (infra/gateway_responses.py, the one table the
CDK stack deploys) are the contract's errors, with the codes the app and
the local server give for the same status."""
from __future__ import annotations

import json

from chalicelib.errors import code_of_status
from infra.gateway_responses import GATEWAY_RESPONSE_STATUSES, gateway_responses


def _body(response: dict) -> dict:
    return json.loads(response["ResponseTemplates"]["application/json"])


def test_every_gateway_response_is_a_contract_error_with_the_apps_code_for_its_status() -> None:
    responses = gateway_responses()
    assert set(responses) == set(GATEWAY_RESPONSE_STATUSES)
    for kind, response in responses.items():
        body = _body(response)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, kind
        assert body["error"]["details"] == {"request_id": "$context.requestId"}, kind
        status = GATEWAY_RESPONSE_STATUSES[kind]
        if status is None:  # the gateway's own status passes through
            assert "StatusCode" not in response
        else:
            assert response["StatusCode"] == str(status)
            assert body["error"]["code"] == code_of_status(status), kind
        assert response["ResponseParameters"]["Headers"]["Content-Type"] == "'application/json'"


def test_an_unknown_path_is_404_not_found_and_echoes_nothing() -> None:
    response = gateway_responses()["MISSING_AUTHENTICATION_TOKEN"]
    assert response["StatusCode"] == "404" and _body(response)["error"]["code"] == "not_found"
    template = response["ResponseTemplates"]["application/json"]
    for echoed in ("$input", "$context.path", "$method.request", "$context.authorizer", "header"):
        assert echoed not in template, echoed


def test_throttling_says_when_to_come_back() -> None:
    for kind in ("THROTTLED", "QUOTA_EXCEEDED"):
        response = gateway_responses()[kind]
        assert response["StatusCode"] == "429" and _body(response)["error"]["code"] == "rate_limited"
        assert response["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"
