"""Fuzzing the API from its served OpenAPI document (schemathesis), bounded
so that it runs in ``make test``: every operation, a handful of generated
requests each, sent to the local server (on moto) with no token and with a
token of every role the operation allows. No answer is a 5xx, every answer
conforms to the document (status, content type, schema), and every error is
the contract's body.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import hypothesis
import moto
import pytest
import schemathesis
from schemathesis import checks

from devstack import tokens
from devstack.procs import LOOPBACK, free_port
from devstack.server import ApiServer, load_app
from tests.conftest import _apply_settings, _base_env, _fresh_stage, _moto_world

pytestmark = pytest.mark.integration

# A few hundred requests in all: about 30 operations x EXAMPLES x (1 + roles).
EXAMPLES_PER_OPERATION = 6
CLAIMS: dict[str, dict[str, Any]] = {
    "citizen": {"cid": "1101700230708", "birth_date": "2006-05-01", "district": "1001", "nationality": "TH"},
    "merchant": {"cid": "3101700203456"},
    "registrar": {"point_id": "point-1001-01"},
    "operator": {"mfa": True},
    "auditor": {},
}


def _document() -> dict[str, Any]:
    from chalicelib import openapi

    load_app()  # registers every blueprint's paths
    return openapi.document()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        _base_env(patch, _fresh_stage())
        patch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
        mock = moto.mock_aws()
        mock.start(reset=False)
        try:
            _moto_world(_apply_settings())
            with ApiServer(load_app(), LOOPBACK, free_port()) as running:
                yield running.url
        finally:
            mock.stop(remove_data=False)
    _apply_settings()


def _tokens_for(operation: Any) -> list[str | None]:
    roles = operation.definition.raw.get("x-roles") or []
    return [None] + [tokens.mint(role, CLAIMS[role]) for role in roles]


_CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
           checks.response_schema_conformance]


def _contract_error(response: Any) -> None:
    if response.status_code < 400:
        return
    body = json.loads(response.content)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["details"], dict)
    assert "Traceback" not in response.text


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate])
def test_no_5xx_and_every_answer_as_documented(case: Any, server: str) -> None:
    for token in _tokens_for(case.operation):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(base_url=server, headers=headers, timeout=30)
        case.validate_response(response, checks=_CHECKS)
        _contract_error(response)
