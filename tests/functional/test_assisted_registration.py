"""Registration points: assisted registration with a wallet card, and the
registrar's unlock of a card locked by wrong PINs (Chalice client, moto)."""
from __future__ import annotations

import re

import pytest

from chalicelib.errors import RuleError
from chalicelib.registration.cards import new_card_code, verify_pin
from chalicelib.registration.models import CardModel, RegistrationModel
from tests.functional.registration_fixtures import (
    Api,
    phase_body,
    valid_cid,
)

CID = valid_cid(11)
OTHER_CID = valid_cid(12)
CARD_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.fixture
def p3(api: Api) -> Api:
    api.put_phase("p3", phase_body())
    return api


def assisted(api: Api, cid: str = CID, token: str | None = None, **fields):
    body = {"phase_id": "p3", "cid": cid, "birth_date": "2006-05-01", "district": "1001",
            "consent": True, "pin": "482915", **fields}
    return api.call("POST", "/v1/assisted-registrations", token or api.registrar(), body)


def error_of(reply) -> tuple[int, str, str | None]:
    error = reply.body["error"]
    return reply.status, error["code"], (error.get("details") or {}).get("field")


def test_an_accepted_citizen_gets_a_printable_card_whose_pin_pays(p3):
    reply = assisted(p3)
    assert reply.status == 201
    assert reply.body["status"] == "accepted" and CARD_CODE.match(reply.body["card_code"])
    assert set(reply.body) == {"registration_id", "phase_id", "status", "card_code"}
    card = verify_pin(reply.body["card_code"], "482915")
    assert card.point_id == "point-1001-01" and card.district == "1001"
    assert "482915" not in card.pin_hash and card.pin_hash.startswith("$argon2id$")


def test_the_registration_records_the_registrar_and_the_point(p3):
    assisted(p3, token=p3.registrar(point_id="point-5001-02", sub="registrar-9"))
    item = next(iter(RegistrationModel.scan()))
    assert (item.channel, item.point_id, item.registrar_sub) == ("assisted", "point-5001-02", "registrar-9")


def test_submitting_again_returns_the_same_registration_and_card(p3):
    first = assisted(p3)
    again = assisted(p3, pin="135790")
    assert again.status == 200 and again.body == first.body
    assert len(list(CardModel.scan())) == 1


def test_a_citizen_registered_in_the_app_gets_a_card_at_a_point(p3):
    assert p3.register(CID).body["status"] == "accepted"
    reply = assisted(p3)
    assert reply.status == 200 and CARD_CODE.match(reply.body["card_code"])
    wallet_id = p3.call("GET", "/v1/wallet", p3.citizen(CID)).body["wallet_id"]
    assert verify_pin(reply.body["card_code"], "482915").wallet_id == wallet_id


def test_a_rejected_citizen_gets_no_card(p3):
    reply = assisted(p3, birth_date="1990-01-01")
    assert reply.status == 201
    assert (reply.body["status"], reply.body["reason"]) == ("rejected", "outside_cohort")
    assert "card_code" not in reply.body and not list(CardModel.scan())


def test_an_excluded_citizen_is_rejected_at_a_point_too(p3):
    p3.exclude("welfare_card", [CID])
    assert assisted(p3).body["reason"] == "excluded:welfare_card"


@pytest.mark.parametrize("fields, field", [
    ({"pin": "123456"}, "pin"), ({"pin": "111111"}, "pin"), ({"pin": "654321"}, "pin"),
    ({"pin": "48291"}, "pin"), ({"pin": 482915}, "pin"),
    ({"cid": CID[:-1] + str((int(CID[-1]) + 1) % 10)}, "cid"), ({"cid": "12345"}, "cid"),
    ({"birth_date": "2006-02-30"}, "birth_date"), ({"birth_date": "01/05/2006"}, "birth_date"),
    ({"district": "10"}, "district"), ({"consent": False}, "consent"),
    ({"phone": "0812345678"}, "phone"), ({"nationality": "TH"}, "nationality"),
])
def test_bad_requests_are_400_naming_the_field(p3, fields, field):
    assert error_of(assisted(p3, **fields)) == (400, "invalid_request", field)


def test_missing_fields_are_400_naming_them(p3):
    reply = p3.call("POST", "/v1/assisted-registrations", p3.registrar(), {"phase_id": "p3"})
    assert error_of(reply)[:2] == (400, "invalid_request")


def test_only_a_registrar_bound_to_a_point_registers_others(p3):
    assert error_of(assisted(p3, token=p3.citizen(CID)))[:2] == (403, "forbidden")
    assert error_of(assisted(p3, token=p3.operator()))[:2] == (403, "forbidden")
    assert error_of(assisted(p3, token=p3.registrar(point_id=None)))[:2] == (403, "forbidden")
    assert not list(RegistrationModel.scan())


# -- unlocking ----------------------------------------------------------------------


def lock(code: str) -> None:
    for _ in range(5):
        with pytest.raises(RuleError):
            verify_pin(code, "000001")
    with pytest.raises(RuleError) as caught:
        verify_pin(code, "482915")
    assert caught.value.code == "card_locked"


def test_a_registrar_unlocks_a_locked_card_with_a_new_pin_for_its_citizen(p3):
    code = assisted(p3).body["card_code"]
    lock(code)
    reply = p3.call("POST", f"/v1/cards/{code}/unlock", p3.registrar(), {"cid": CID, "pin": "790135"})
    assert reply.status == 200 and reply.body["card_code"] == code and reply.body["locked"] is False
    assert verify_pin(code, "790135").failed_attempts == 0
    with pytest.raises(RuleError) as caught:
        verify_pin(code, "482915")
    assert caught.value.code == "pin_invalid"


def test_a_lowercase_code_without_dashes_is_the_same_card(p3):
    code = assisted(p3).body["card_code"]
    typed = code.replace("-", "").lower()
    assert p3.call("POST", f"/v1/cards/{typed}/unlock", p3.registrar(), {"cid": CID, "pin": "790135"}).status == 200


def test_someone_elses_id_cannot_unlock_and_learns_nothing(p3):
    code = assisted(p3).body["card_code"]
    lock(code)
    wrong = p3.call("POST", f"/v1/cards/{code}/unlock", p3.registrar(), {"cid": OTHER_CID, "pin": "790135"})
    missing = p3.call("POST", f"/v1/cards/{new_card_code()}/unlock", p3.registrar(),
                      {"cid": OTHER_CID, "pin": "790135"})
    assert error_of(wrong)[:2] == error_of(missing)[:2] == (404, "not_found")
    assert wrong.body["error"]["message"] == missing.body["error"]["message"]
    assert CardModel.get(code).locked is True


@pytest.mark.parametrize("body, field", [
    ({"cid": CID, "pin": "123456"}, "pin"), ({"cid": "1", "pin": "790135"}, "cid"),
    ({"cid": CID}, "pin"), ({"cid": CID, "pin": "790135", "x": 1}, "x"),
])
def test_unlock_bad_requests_are_400_naming_the_field(p3, body, field):
    code = assisted(p3).body["card_code"]
    assert error_of(p3.call("POST", f"/v1/cards/{code}/unlock", p3.registrar(), body)) == (
        400, "invalid_request", field)


def test_a_typo_in_the_card_code_is_400(p3):
    code = assisted(p3).body["card_code"]
    typo = ("1" if code[0] != "1" else "2") + code[1:]
    assert error_of(p3.call("POST", f"/v1/cards/{typo}/unlock", p3.registrar(), {"cid": CID, "pin": "790135"})) == (
        400, "invalid_request", "card_code")


def test_only_registrars_unlock(p3):
    code = assisted(p3).body["card_code"]
    reply = p3.call("POST", f"/v1/cards/{code}/unlock", p3.citizen(CID), {"cid": CID, "pin": "790135"})
    assert error_of(reply)[:2] == (403, "forbidden")
