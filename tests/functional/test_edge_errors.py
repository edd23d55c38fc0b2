"""The error model over HTTP: every error is the contract's body, never a 500 for bad input."""
from __future__ import annotations

from typing import Any

import pytest

from tests.functional.test_admin_phases import OP, phase


def _is_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def test_health_needs_no_token(call: Any) -> None:
    status, body, _ = call("GET", "/v1/health")
    assert (status, body) == (200, {"status": "ok"})


def test_every_response_ends_with_a_newline_so_curl_output_does_not_run_into_the_prompt(edge_client: Any) -> None:
    for path in ("/v1/health", "/v1/openapi.json", "/v1/admin/ledger/summary"):
        response = edge_client.http.get(path)
        assert response.body.endswith(b"\n"), path


def test_no_token_is_401(call: Any) -> None:
    status, body, _ = call("GET", "/v1/admin/ledger/summary")
    assert status == 401
    _is_error(body, "unauthenticated")


def test_garbage_token_is_401(call: Any) -> None:
    status, body, _ = call("GET", "/v1/admin/ledger/summary", headers={"Authorization": "Bearer abc.def.ghi"})
    assert status == 401
    _is_error(body, "unauthenticated")


def test_citizen_on_admin_is_403(call: Any) -> None:
    status, body, _ = call("GET", "/v1/admin/phases/p3", role="citizen")
    assert status == 403
    _is_error(body, "forbidden")


def test_operator_without_mfa_on_a_write_is_403(call: Any) -> None:
    status, body, _ = call("PUT", "/v1/admin/phases/p3", role="operator", body=phase())
    assert status == 403
    _is_error(body, "forbidden")
    assert "mfa" in body["error"]["message"]


@pytest.mark.parametrize("raw", ["{", "not json", "[1,", "NaN", ""])
def test_malformed_json_is_400_naming_the_body(call: Any, raw: str) -> None:
    status, body, _ = call("PUT", "/v1/admin/phases/p3", raw=raw, **OP)
    assert status == 400
    _is_error(body, "invalid_request")
    assert body["error"]["details"]["field"] == "body"


def test_unknown_field_float_amount_and_missing_field(call: Any) -> None:
    for body, field in [(phase(extra=1), "extra"), (phase(amount_satang=1000000.0), "amount_satang"),
                        (phase(amount_satang=True), "amount_satang"),
                        ({k: v for k, v in phase().items() if k != "name"}, "name")]:
        status, answer, _ = call("PUT", "/v1/admin/phases/p3", body=body, **OP)
        assert status == 400
        _is_error(answer, "invalid_request")
        assert answer["error"]["details"]["field"] == field


def test_bad_thai_id_checksum_is_400_naming_cid(call: Any) -> None:
    status, body, _ = call("POST", "/v1/admin/exclusions", body={"list": "prisoners", "cids": ["1101700230706"]},
                           **OP)
    assert status == 400, body
    _is_error(body, "invalid_request")
    assert body["error"]["details"]["field"].startswith("cids")


def test_unexpected_error_is_500_internal_error_without_internals(call: Any, monkeypatch: Any) -> None:
    from chalicelib.ledger import Ledger

    def boom(self: Any) -> None:
        raise RuntimeError("secret internals 1101700230705")

    monkeypatch.setattr(Ledger, "summary", boom)
    status, body, _ = call("GET", "/v1/admin/ledger/summary", role="auditor")
    assert status == 500
    _is_error(body, "internal_error")
    assert "secret" not in str(body) and "Traceback" not in str(body)


def test_rate_limited_and_paused_carry_retry_after() -> None:
    from chalicelib.api.common import error_response
    from chalicelib.errors import PausedError, RateLimitedError

    for exc, status in [(RateLimitedError("slow down", 7), 429), (PausedError("paused", 30), 503)]:
        response = error_response(exc)
        assert response.status_code == status
        assert response.headers["Retry-After"] == str(exc.retry_after_s)


def test_the_frameworks_own_answers_are_in_the_contract_shape(call: Any) -> None:
    """Finding 4: Chalice's 405 and 415 bodies were {"Code", "Message"}."""
    status, body, headers = call("DELETE", "/v1/health")
    assert status == 405 and "GET" in headers["Allow"]
    _is_error(body, "method_not_allowed")
    status, body, _ = call("POST", "/v1/registrations", role="citizen", raw="phase_id=p3",
                           headers={"Content-Type": "text/plain"}, cid="1101700230708")
    assert status == 415
    _is_error(body, "unsupported_media_type")


def test_an_exception_outside_any_view_is_a_contract_500(call: Any, monkeypatch: Any) -> None:
    import app as app_module

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("internals 1101700230705")

    # A view that no endpoint() or map_errors() guards: only the middleware is left.
    monkeypatch.setattr(app_module.app.routes["/v1/health"]["GET"], "view_function", boom)
    status, body, _ = call("GET", "/v1/health")
    assert status == 500
    _is_error(body, "internal_error")
    assert "internals" not in str(body)
