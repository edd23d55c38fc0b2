"""Finding 3 of the security review: input that any caller can send, which
used to end in a 500, is a 4xx in the contract's shape. Each case goes
through the whole edge (Chalice test client on moto)."""
from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import tokens as local_tokens

pytestmark = pytest.mark.functional


def _is_error(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in json.dumps(body)


def _local_kid() -> str:
    _, jwks = local_tokens.ensure_keys()
    return str(json.loads(jwks.read_text())["keys"][0]["kid"])


def _claims(**changes: Any) -> dict[str, Any]:
    import time

    now = int(time.time())
    return {"sub": "attacker", "role": "citizen", "iss": local_tokens.LOCAL_ISSUER, "aud": local_tokens.AUDIENCE,
            "iat": now, "exp": now + 300, **changes}


CITIZEN = {"cid": "1101700230708", "birth_date": "2006-05-01", "district": "1001", "nationality": "TH"}


def test_an_rs256_token_named_after_the_ec_key_is_401(call: Any) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": _local_kid()})
    status, body, _ = call("GET", "/v1/wallet", headers={"Authorization": f"Bearer {token}"})
    _is_error(status, body, 401, "unauthenticated")


@pytest.mark.parametrize("role", [["operator"], {"r": 1}, 7, None])
def test_a_trusted_token_whose_role_is_not_a_string_is_401(call: Any, role: Any) -> None:
    token = local_tokens.mint("operator", {"role": role, "mfa": True})
    status, body, _ = call("GET", "/v1/admin/ledger/summary", headers={"Authorization": f"Bearer {token}"})
    _is_error(status, body, 401, "unauthenticated")


def test_json_nested_ten_thousand_deep_is_400(call: Any) -> None:
    raw = "[" * 10_000 + "]" * 10_000
    status, body, _ = call("POST", "/v1/registrations", role="citizen", raw=raw, **CITIZEN)
    _is_error(status, body, 400, "invalid_request")
    raw = '{"phase_id": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000 + "}"
    status, body, _ = call("POST", "/v1/registrations", role="citizen", raw=raw, **CITIZEN)
    _is_error(status, body, 400, "invalid_request")


@pytest.mark.parametrize("value", [{"x": 1}, ["004"], [[1]]])
def test_an_unhashable_bank_code_is_400_naming_it(call: Any, value: Any) -> None:
    shop = {"name": "Shop", "tax_id": "0105537000015", "business_type": "food", "size_class": "small",
            "district": "1001", "location": {"lat": 13.75, "lon": 100.5},
            "bank": {"bank_code": value, "account_no": "1234567890"}}
    status, body, _ = call("POST", "/v1/merchants", role="merchant", body=shop, cid="3101700203456")
    _is_error(status, body, 400, "invalid_request")
    assert body["error"]["details"]["field"] == "bank.bank_code"


@pytest.mark.parametrize("cursor", ["!!!", "%%%", "====", "AAAA", "\u0e01\u0e02", "a" * 600])
@pytest.mark.parametrize("path, role", [("/v1/admin/audit", "auditor"), ("/v1/wallet/transactions", "citizen")])
def test_a_cursor_this_api_did_not_give_is_400(call: Any, cursor: str, path: str, role: str) -> None:
    from urllib.parse import quote

    status, body, _ = call("GET", f"{path}?cursor={quote(cursor)}", role=role,
                           cid="1101700230708", birth_date="2006-05-01", district="1001")
    if path == "/v1/wallet/transactions" and status == 404:
        return  # no wallet: nothing to page (the cursor is checked first when a wallet exists)
    _is_error(status, body, 400, "invalid_request")
    assert body["error"]["details"]["field"] == "cursor"


@pytest.mark.parametrize("method, template, role, body", [
    ("POST", "/v1/admin/merchants/{}/review", "operator", {"decision": "approve", "reason": "ok"}),
    ("GET", "/v1/admin/phases/{}", "operator", None),
    ("POST", "/v1/cards/{}/unlock", "registrar", {"cid": "1101700230708", "pin": "482915"})])
def test_a_path_id_over_the_key_size_is_400(call: Any, method: str, template: str, role: str, body: Any) -> None:
    status, answer, _ = call(method, template.format("x" * 3000), role=role, body=body, mfa=True,
                             point_id="point-1001-01")
    _is_error(status, answer, 400, "invalid_request")


def test_a_body_larger_than_the_operation_takes_is_400(call: Any) -> None:
    from chalicelib import limits

    raw = '{"phase_id": "p3", "consent": true, "phone": "' + "0" * limits.REQUEST_BODY_BYTES_MAX + '"}'
    status, body, _ = call("POST", "/v1/registrations", role="citizen", raw=raw, **CITIZEN)
    _is_error(status, body, 400, "invalid_request")
    assert body["error"]["details"]["field"] == "body" and "bytes" in body["error"]["message"]


def test_a_merchant_token_with_a_bad_cid_checksum_registers_no_shop(call: Any) -> None:
    """Finding 6: such a token used to register a shop; a citizen's was a 403."""
    from chalicelib.merchants.models import MerchantModel

    shop = {"name": "Shop", "tax_id": "0105537000015", "business_type": "food", "size_class": "small",
            "district": "1001", "location": {"lat": 13.75, "lon": 100.5},
            "bank": {"bank_code": "004", "account_no": "1234567890"}}
    status, body, _ = call("POST", "/v1/merchants", role="merchant", body=shop, cid="3101700203457")
    _is_error(status, body, 401, "unauthenticated")
    assert MerchantModel.count() == 0
    status, body, _ = call("GET", "/v1/wallet", role="citizen", cid="1101700230707")
    _is_error(status, body, 401, "unauthenticated")


def test_exp_as_a_string_is_refused(call: Any) -> None:
    import time

    token = local_tokens.mint("auditor", {"exp": str(int(time.time()) + 300)})
    status, body, _ = call("GET", "/v1/admin/ledger/summary", headers={"Authorization": f"Bearer {token}"})
    _is_error(status, body, 401, "unauthenticated")
