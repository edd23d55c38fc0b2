"""The local server as a client meets it: access logs without secrets, and
every answer of the server itself (not only of the app's views) in the
contract's error shape. The app runs on moto in process."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack import tokens
from devstack.procs import LOOPBACK, free_port
from devstack.server import ApiServer, load_app, redact_path

pytestmark = pytest.mark.integration


@pytest.fixture
def server(moto_aws: Any) -> Iterator[str]:
    with ApiServer(load_app(), LOOPBACK, free_port()) as running:
        yield running.url


def test_the_access_log_keeps_the_route_not_the_card_code(server: str, capfd: pytest.CaptureFixture[str]) -> None:
    code = "7K3M-9QWE-4RT2"
    token = tokens.mint("registrar", {"point_id": "point-1001-01"})
    requests.post(f"{server}/v1/cards/{code}/unlock", headers={"Authorization": f"Bearer {token}"},
                  json={"cid": "1101700230708", "pin": "482915"}, timeout=10)
    requests.get(f"{server}/v1/health?cursor=secret-cursor", timeout=10)
    logged = capfd.readouterr().err
    assert "POST /v1/cards/{card_code}/unlock" in logged
    assert code not in logged and "7K3M" not in logged and "secret-cursor" not in logged


@pytest.mark.parametrize("path, kept", [
    ("/v1/cards/ABCD-EFGH-JKMN/unlock", "/v1/cards/{card_code}/unlock"),
    ("/v1/cards/abcdefghjkmn/unlock?x=1", "/v1/cards/{card_code}/unlock"),
    ("/v1/cards/unlock", "/v1/cards/unlock"), ("/v1/wallet?cursor=abc", "/v1/wallet"),
])
def test_redacted_paths(path: str, kept: str) -> None:
    assert redact_path(path) == kept


def _contract_error(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


def test_an_unknown_path_is_404_and_never_echoes_the_token(server: str) -> None:
    token = tokens.mint("citizen", {"cid": "1101700230708"})
    response = requests.get(f"{server}/v1/nothing-here", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 404 and _contract_error(response)["code"] == "not_found"
    assert token not in response.text and token.split(".")[1] not in response.text
    response = requests.get(f"{server}/v1/nothing-here", timeout=10)
    assert response.status_code == 404 and _contract_error(response)["code"] == "not_found"


def test_a_method_a_path_does_not_take_is_405_in_the_contract_shape(server: str) -> None:
    response = requests.delete(f"{server}/v1/health", timeout=10)
    assert response.status_code == 405 and _contract_error(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_a_body_that_is_not_json_is_415_in_the_contract_shape(server: str) -> None:
    token = tokens.mint("citizen", {"cid": "1101700230708"})
    response = requests.post(f"{server}/v1/registrations", data="phase_id=p3", timeout=10,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
    assert response.status_code == 415 and _contract_error(response)["code"] == "unsupported_media_type"


def test_http_servers_own_errors_are_json_not_html(server: str) -> None:
    response = requests.request("BREW", f"{server}/v1/health", timeout=10)
    assert response.status_code == 501 and _contract_error(response)["code"] == "not_implemented"
    response = requests.get(f"{server}/v1/health", headers={"X-Big": "a" * 70_000}, timeout=10)
    assert response.status_code in (400, 431) and _contract_error(response)["code"] in (
        "invalid_request", "request_too_large")
