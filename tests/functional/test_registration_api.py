"""Citizen registration, /v1/me, the wallet and its transactions, through
the Chalice test client on moto: what Tang Rat sees."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.db import registered_models
from chalicelib.ledger import Ledger, Transfer, accounts
from tests.functional.registration_fixtures import (
    Api,
    ledger_credit,
    phase_body,
    valid_cid,
)
from tests.invariants import drained_summary

CID = valid_cid(1)
PHONE = "0812345678"


@pytest.fixture
def p3(api: Api) -> Api:
    api.put_phase("p3", phase_body())
    return api


def error_of(reply) -> tuple[int, str, str | None]:
    error = reply.body["error"]
    return reply.status, error["code"], (error.get("details") or {}).get("field")


# -- registering -------------------------------------------------------------------


def test_an_eligible_citizen_is_accepted_once_and_a_retry_returns_the_same_registration(p3):
    first = p3.register(CID)
    assert first.status == 201
    assert first.body["status"] == "accepted" and "reason" not in first.body
    assert first.body["phase_id"] == "p3" and first.body["registration_id"]
    again = p3.register(CID)
    assert again.status == 200 and again.body == first.body


@pytest.mark.parametrize("claims, reason", [
    ({"birth_date": "2004-09-15"}, "outside_cohort"),
    ({"birth_date": "2008-09-17"}, "outside_cohort"),
    ({"nationality": "LA"}, "not_thai"),
])
def test_ineligible_citizens_are_rejected_with_the_reason(p3, claims, reason):
    reply = p3.register(CID, **claims)
    assert reply.status == 201
    assert (reply.body["status"], reply.body["reason"]) == ("rejected", reason)


@pytest.mark.parametrize("born", ["2004-09-16", "2008-09-16"])
def test_both_ends_of_the_birth_window_are_in_the_cohort(p3, born):
    assert p3.register(CID, birth_date=born).body["status"] == "accepted"


def test_a_citizen_on_an_exclusion_list_of_the_phase_is_rejected_naming_the_list(p3):
    assert p3.exclude("prisoners", [CID]).body == {"added": 1}
    reply = p3.register(CID)
    assert (reply.body["status"], reply.body["reason"]) == ("rejected", "excluded:prisoners")


def test_a_list_the_phase_does_not_name_does_not_exclude(p3):
    p3.exclude("income_cap", [CID])
    assert p3.register(CID).body["status"] == "accepted"


def test_a_citizen_accepted_in_one_phase_is_rejected_already_benefited_in_another(p3):
    p3.put_phase("p4", phase_body())
    assert p3.register(CID, "p3").body["status"] == "accepted"
    reply = p3.register(CID, "p4")
    assert (reply.status, reply.body["status"], reply.body["reason"]) == (201, "rejected", "already_benefited")


def test_registration_outside_the_window_is_422_registration_closed(api):
    now = datetime.now(UTC)
    api.put_phase("p5", phase_body(opens=now + timedelta(days=1), closes=now + timedelta(days=2)))
    assert error_of(api.register(CID, "p5"))[:2] == (422, "registration_closed")


def test_an_unknown_phase_is_404(p3):
    assert error_of(p3.register(CID, "p404"))[:2] == (404, "not_found")


@pytest.mark.parametrize("body, field", [
    ({"consent": True}, "phase_id"),
    ({"phase_id": "p3"}, "consent"),
    ({"phase_id": "p3", "consent": False}, "consent"),
    ({"phase_id": "p3", "consent": "yes"}, "consent"),
    ({"phase_id": "p3", "consent": True, "cid": CID}, "cid"),
    ({"phase_id": "p3", "consent": True, "phone": "021234567"}, "phone"),
    ({"phase_id": "p3", "consent": True, "phone": "08123"}, "phone"),
    ({"phase_id": "p3", "consent": True, "phone": 812345678}, "phone"),
    ({"phase_id": 3, "consent": True}, "phase_id"),
    ({"phase_id": "-p3", "consent": True}, "phase_id"),  # no phase can have this id (PUT refuses it)
])
def test_bad_requests_are_400_naming_the_field(p3, body, field):
    reply = p3.call("POST", "/v1/registrations", p3.citizen(CID), body)
    assert error_of(reply) == (400, "invalid_request", field)


def test_only_citizens_register_in_the_app(p3):
    for token in (p3.registrar(), p3.operator(), p3.operator(mfa=False)):
        reply = p3.call("POST", "/v1/registrations", token, {"phase_id": "p3", "consent": True})
        assert error_of(reply)[:2] == (403, "forbidden")
    assert p3.call("POST", "/v1/registrations", None, {"phase_id": "p3", "consent": True}).status == 401


def test_paused_registrations_are_503_with_retry_after_and_resume(p3):
    from chalicelib.config import rebuild
    from chalicelib.switches import set_switch

    set_switch("registrations", "paused", "district:1001", "drill")
    paused = p3.register(CID)
    assert error_of(paused)[:2] == (503, "paused") and int(paused.headers["Retry-After"]) > 0
    assert p3.register(valid_cid(2), district="5001").status == 201
    set_switch("registrations", "on", "district:1001", "drill over")
    rebuild()
    assert p3.register(CID).status == 201


# -- personal data -------------------------------------------------------------------


def _every_table_as_text() -> str:
    client = boto3.client("dynamodb")
    dumps = []
    for model in registered_models():
        for page in client.get_paginator("scan").paginate(TableName=model.Meta.table_name):
            dumps.append(json.dumps(page["Items"]))
    return "\n".join(dumps)


def test_the_phone_is_stored_encrypted_and_the_national_id_nowhere_in_clear(p3, capsys):
    reply = p3.call("POST", "/v1/registrations", p3.citizen(CID),
                    {"phase_id": "p3", "consent": True, "phone": "081-234-5678"})
    assert reply.status == 201
    p3.exclude("prisoners", [valid_cid(9)])
    stored = _every_table_as_text()
    assert "registrations" in " ".join(m.Meta.table_name for m in registered_models())
    assert PHONE not in stored and "081-234-5678" not in stored
    assert CID not in stored and valid_cid(9) not in stored
    from chalicelib.pii import decrypt
    from chalicelib.registration.models import RegistrationModel
    item = next(iter(RegistrationModel.scan()))
    assert decrypt(item.phone_enc, item.registration_key) == PHONE
    logs = capsys.readouterr()
    assert CID not in logs.out + logs.err and PHONE not in logs.out + logs.err


# -- me, wallet, transactions -----------------------------------------------------------


def test_me_lists_registrations_and_the_wallet(p3):
    before = p3.call("GET", "/v1/me", p3.citizen(CID))
    assert before.status == 200
    assert before.body == {"district": "1001", "registrations": [], "wallet": None}
    registered = p3.register(CID).body
    after = p3.call("GET", "/v1/me", p3.citizen(CID)).body
    assert after["registrations"] == [registered]
    assert after["wallet"]["status"] == "pending"


def test_no_wallet_before_registration_or_when_rejected(p3):
    assert error_of(p3.call("GET", "/v1/wallet", p3.citizen(CID)))[:2] == (404, "not_found")
    p3.register(CID, nationality="LA")
    assert p3.call("GET", "/v1/wallet", p3.citizen(CID, nationality="LA")).status == 404
    assert p3.call("GET", "/v1/wallet/transactions", p3.citizen(CID)).status == 404


def test_an_accepted_wallet_is_pending_until_its_wave_then_active_with_money(p3):
    body = phase_body()
    p3.put_phase("p3", body)
    p3.register(CID)
    pending = p3.call("GET", "/v1/wallet", p3.citizen(CID)).body
    waves = [w["activate_at"] for w in body["waves"]]
    assert pending["status"] == "pending"
    assert pending["balance_satang"] == pending["credited_satang"] == pending["spent_satang"] == 0
    assert pending["activates_at"][:19] in [w[:19] for w in waves]
    assert pending["wallet_id"].startswith("w_") and pending["phase_id"] == "p3"

    ledger_credit(pending["wallet_id"])
    wallet = accounts.wallet_account(pending["wallet_id"])
    Ledger().post(Transfer("pay-1", wallet, accounts.merchant_spendable("m_shop1"), 25_000, "payment",
                           details={"merchant_name": "Som Tam Shop"}))
    active = p3.call("GET", "/v1/wallet", p3.citizen(CID)).body
    assert active["status"] == "active" and "expires_at" in active
    assert (active["balance_satang"], active["credited_satang"], active["spent_satang"]) == (975_000, 1_000_000, 25_000)
    assert drained_summary()["balanced"]


def test_transactions_are_newest_first_and_page_with_a_cursor(p3):
    wallet_id = p3.register(CID) and p3.call("GET", "/v1/wallet", p3.citizen(CID)).body["wallet_id"]
    ledger_credit(wallet_id)
    wallet = accounts.wallet_account(wallet_id)
    for i in range(3):
        Ledger().post(Transfer(f"pay-{i}", wallet, accounts.merchant_spendable("m_shop1"), 1_000 + i, "payment",
                               details={"merchant_name": "Som Tam Shop"}))
    token = p3.citizen(CID)
    first = p3.call("GET", "/v1/wallet/transactions?limit=2", token)
    assert first.status == 200
    assert [t["amount_satang"] for t in first.body["items"]] == [1_002, 1_001]
    assert first.body["items"][0] | {"created_at": None} == {
        "transfer_id": "pay-2", "type": "payment", "amount_satang": 1_002, "direction": "out",
        "counterparty": "m_shop1", "counterparty_name": "Som Tam Shop", "created_at": None}
    rest = p3.call("GET", f"/v1/wallet/transactions?limit=2&cursor={first.body['next_cursor']}", token).body
    assert [(t["amount_satang"], t["direction"]) for t in rest["items"]] == [(1_000, "out"), (1_000_000, "in")]
    assert rest["next_cursor"] is None
    assert drained_summary()["balanced"]


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                                          ("cursor=nonsense", "cursor"), ("page=2", "page")])
def test_bad_list_parameters_are_400_naming_them(p3, query, field):
    p3.register(CID)
    assert error_of(p3.call("GET", f"/v1/wallet/transactions?{query}", p3.citizen(CID))) == (
        400, "invalid_request", field)


def test_a_citizen_sees_only_their_own_wallet(p3):
    p3.register(CID)
    assert p3.call("GET", "/v1/wallet", p3.citizen(valid_cid(2))).status == 404
    assert p3.call("GET", "/v1/wallet", p3.registrar()).status == 403


def test_the_openapi_document_describes_every_registration_endpoint(api):
    document = api.call("GET", "/v1/openapi.json").body
    for path, method in [("/v1/registrations", "post"), ("/v1/me", "get"), ("/v1/wallet", "get"),
                         ("/v1/wallet/transactions", "get"), ("/v1/assisted-registrations", "post"),
                         ("/v1/cards/{card_code}/unlock", "post"), ("/v1/admin/exclusions", "post")]:
        assert method in document["paths"][path], path
    body = document["paths"]["/v1/registrations"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["phase_id", "consent"] and body["additionalProperties"] is False
