"""Registration points: assisted registration with a wallet card, card
reissue, and the registrar's unlock of a card locked by wrong PINs (Chalice
client, moto). API.md's Registrar section: a card's code is shown once,
every assisted action checks the ID card against what the program holds
(422 identity_mismatch) and goes into the point's audit chain."""
from __future__ import annotations

import re

import pytest

from chalicelib import audit
from chalicelib.audit.models import AuditModel
from chalicelib.errors import NotFoundError, RuleError
from chalicelib.registration.cards import card_key, get_card, new_card_code, verify_pin
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


def test_submitting_again_returns_the_registration_without_the_code(p3):
    first = assisted(p3)
    again = assisted(p3, pin="135790")
    assert again.status == 200 and "card_code" not in again.body
    assert again.body == {k: v for k, v in first.body.items() if k != "card_code"}
    assert len(list(CardModel.scan())) == 1
    assert verify_pin(first.body["card_code"], "482915")  # the PIN did not change either


def test_the_card_code_is_stored_nowhere_in_clear(p3):
    code = assisted(p3).body["card_code"]
    for model in (CardModel, RegistrationModel):
        for item in model.scan():
            assert code not in str(item.attribute_values)
    assert get_card(code).card_key == card_key(code)


# -- finding 1: a registrar cannot take over a wallet -----------------------------------


def test_registering_a_citizen_of_the_app_again_gives_no_card_and_no_pin(p3):
    """Was: the citizen's wallet got a card with the registrar's PIN."""
    assert p3.register(CID).body["status"] == "accepted"
    reply = assisted(p3)
    assert reply.status == 200 and "card_code" not in reply.body
    assert not list(CardModel.scan())


@pytest.mark.parametrize("fields", [{"birth_date": "2006-05-02"}, {"district": "1002"}])
def test_an_id_card_that_is_not_the_citizens_is_identity_mismatch(p3, fields):
    """Any birth date and district used to return the existing card's code."""
    assisted(p3)
    reply = assisted(p3, **fields)
    assert error_of(reply)[:2] == (422, "identity_mismatch") and "card_code" not in str(reply.body)
    p3.register(valid_cid(30))
    assert error_of(assisted(p3, cid=valid_cid(30), **fields))[:2] == (422, "identity_mismatch")


def reissue(api: Api, cid: str = CID, token: str | None = None, **fields):
    body = {"cid": cid, "birth_date": "2006-05-01", "district": "1001", "pin": "935172", **fields}
    return api.call("POST", "/v1/cards/reissue", token or api.registrar(), body)


def test_a_reissued_card_pays_and_the_old_one_stops_at_once(p3):
    old = assisted(p3).body["card_code"]
    reply = reissue(p3)
    assert reply.status == 201 and set(reply.body) == {"card_code"} and reply.body["card_code"] != old
    assert verify_pin(reply.body["card_code"], "935172").failed_attempts == 0
    with pytest.raises(NotFoundError):
        verify_pin(old, "482915")


def test_a_citizen_of_the_app_who_lost_the_phone_gets_a_card_by_reissue(p3):
    p3.register(CID)
    reply = reissue(p3)
    wallet_id = p3.call("GET", "/v1/wallet", p3.citizen(CID)).body["wallet_id"]
    assert reply.status == 201 and verify_pin(reply.body["card_code"], "935172").wallet_id == wallet_id


@pytest.mark.parametrize("fields", [{"birth_date": "2006-01-01"}, {"district": "5001"}])
def test_a_reissue_needs_the_citizens_own_id_card(p3, fields):
    code = assisted(p3).body["card_code"]
    assert error_of(reissue(p3, **fields))[:2] == (422, "identity_mismatch")
    assert verify_pin(code, "482915")  # the card in use still works
    assert len(list(CardModel.scan())) == 1


def test_a_reissue_without_a_wallet_is_404(p3):
    assert error_of(reissue(p3, cid=OTHER_CID))[:2] == (404, "not_found")


def test_every_assisted_action_is_in_the_points_audit_chain(p3):
    token = p3.registrar(point_id="point-5001-02", sub="registrar-9")
    code = assisted(p3, token=token).body["card_code"]
    reissue(p3, token=token, birth_date="2006-01-01")
    code = reissue(p3, token=token).body["card_code"]
    lock(code, "935172")
    p3.call("POST", "/v1/cards/unlock", token, {"card_code": code, "cid": CID, "birth_date": "2006-05-01",
                                                "pin": "790135"})
    events = audit.page(50, None, chain=audit.point_chain("point-5001-02"))["items"]
    assert [e["action"] for e in reversed(events)] == [
        "assisted_registration", "identity_mismatch", "card_reissue", "card_unlock"]
    assert {e["actor"] for e in events} == {"registrar:registrar-9"}
    assert {e["details"]["point_id"] for e in events} == {"point-5001-02"}
    assert audit.verify()["ok"] is True
    stored = " ".join(i.event_json for i in AuditModel.scan())
    assert CID not in stored and code not in stored and "790135" not in stored


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


def lock(code: str, pin: str = "482915") -> None:
    for _ in range(5):
        with pytest.raises(RuleError):
            verify_pin(code, "000001")
    with pytest.raises(RuleError) as caught:
        verify_pin(code, pin)
    assert caught.value.code == "card_locked"


def unlock(api: Api, code: str, cid: str = CID, birth_date: str = "2006-05-01", pin: str = "790135"):
    return api.call("POST", "/v1/cards/unlock", api.registrar(),
                    {"card_code": code, "cid": cid, "birth_date": birth_date, "pin": pin})


def test_an_unlocked_card_cannot_get_a_new_pin(p3):
    """Was: any point set a new PIN on a card its citizen still used."""
    code = assisted(p3).body["card_code"]
    assert error_of(unlock(p3, code))[:2] == (422, "card_not_locked")
    path = p3.call("POST", f"/v1/cards/{code}/unlock", p3.registrar(), {"cid": CID, "pin": "790135"})
    assert error_of(path)[:2] == (422, "card_not_locked")
    assert verify_pin(code, "482915")  # the citizen's PIN still works


def test_the_body_form_unlocks_a_locked_card_once_the_birth_date_matches(p3):
    code = assisted(p3).body["card_code"]
    lock(code)
    assert error_of(unlock(p3, code, birth_date="2006-05-02"))[:2] == (422, "identity_mismatch")
    reply = unlock(p3, code)
    assert reply.status == 200 and reply.body == {"locked": False, "failed_attempts": 0}
    assert verify_pin(code, "790135").failed_attempts == 0


def test_a_revoked_card_cannot_be_unlocked(p3):
    code = assisted(p3).body["card_code"]
    lock(code)
    reissue(p3)
    assert error_of(unlock(p3, code))[:2] == (404, "not_found")


def test_a_registrar_unlocks_a_locked_card_with_a_new_pin_for_its_citizen(p3):
    code = assisted(p3).body["card_code"]
    lock(code)
    reply = p3.call("POST", f"/v1/cards/{code}/unlock", p3.registrar(), {"cid": CID, "pin": "790135"})
    assert reply.status == 200 and "card_code" not in reply.body and reply.body["locked"] is False
    assert verify_pin(code, "790135").failed_attempts == 0
    with pytest.raises(RuleError) as caught:
        verify_pin(code, "482915")
    assert caught.value.code == "pin_invalid"


def test_a_lowercase_code_without_dashes_is_the_same_card(p3):
    code = assisted(p3).body["card_code"]
    lock(code)
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
    assert CardModel.get(card_key(code)).locked is True


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


# -- a point acting unusually often for citizens it did not register ---------------


def test_a_point_reissuing_cards_of_others_is_stopped_and_alerted(p3, monkeypatch):
    from chalicelib.registration import usecases

    monkeypatch.setattr(usecases, "POINT_FOREIGN_ACTIONS", usecases.ratelimit.Limit("point-foreign", 3, 3600))
    cids = [valid_cid(40 + n) for n in range(5)]
    for cid in cids:
        p3.register(cid)  # in the app: not this point's citizens
    other_point = p3.registrar(point_id="point-9001-01", sub="registrar-x")
    answers = [reissue(p3, cid=cid, token=other_point) for cid in cids]
    assert [a.status for a in answers] == [201, 201, 201, 429, 429]
    assert answers[3].headers["Retry-After"].isdigit() and answers[3].body["error"]["code"] == "rate_limited"
    alerts = [e for e in audit.page(50, None)["items"] if e["action"] == "alert"]
    assert len(alerts) == 1 and alerts[0]["details"]["point_id"] == "point-9001-01"
    assert alerts[0]["details"]["kind"] == "registrar_point_unusual"
    # Other points are not held back.
    assert reissue(p3, cid=cids[0]).status == 201


def test_every_kind_of_action_for_others_counts_and_the_alert_reaches_the_operators(p3, monkeypatch):
    """Finding 1's per-point limit end to end: a repeated registration of
    someone else's citizen, a reissue and an unlock of cards of other
    points and an ID card that does not match all count in one window; the
    first action over it is 429 and one alert, listed to operators and in
    the operators' chain; the point's own citizens are still served."""
    from chalicelib.registration import usecases

    monkeypatch.setattr(usecases, "POINT_FOREIGN_ACTIONS", usecases.ratelimit.Limit("point-foreign", 4, 3600))
    code = assisted(p3, cid=CID).body["card_code"]  # registered at point-1001-01
    lock(code)
    p3.register(OTHER_CID)  # registered in the app
    stranger = p3.registrar(point_id="point-9001-01", sub="registrar-x")
    allowed = [
        assisted(p3, cid=OTHER_CID, token=stranger).status,
        reissue(p3, cid=OTHER_CID, token=stranger).status,
        p3.call("POST", "/v1/cards/unlock", stranger, {"card_code": code, "cid": CID, "birth_date": "2006-05-01",
                                                       "pin": "790135"}).status,
        assisted(p3, cid=CID, token=stranger, birth_date="2006-01-01").status,
    ]
    assert allowed == [200, 201, 200, 422]
    refused = [reissue(p3, cid=CID, token=stranger), assisted(p3, cid=OTHER_CID, token=stranger)]
    assert [(r.status, r.body["error"]["code"]) for r in refused] == [(429, "rate_limited")] * 2
    assert all(r.headers["Retry-After"].isdigit() for r in refused)

    listed = p3.call("GET", "/v1/admin/alerts?status=open", p3.operator(mfa=False)).body["items"]
    assert [(a["kind"], a["details"]["point_id"], a["details"]["registrar"]) for a in listed] == [
        ("registrar_point_unusual", "point-9001-01", "registrar-x")]
    assert listed[0]["details"]["actions_in_window"] == 5
    chain = [e for e in audit.page(50, None)["items"] if e["action"] == "alert"]
    assert [(e["details"]["kind"], e["target"]) for e in chain] == [
        ("registrar_point_unusual", f"alert:{listed[0]['alert_id']}")]
    points = audit.page(50, None, chain=audit.point_chain("point-9001-01"))["items"]
    assert [e["action"] for e in reversed(points)] == [
        "assisted_registration", "card_reissue", "card_unlock", "identity_mismatch"]
    assert {e["actor"] for e in points} == {"registrar:registrar-x"}
    assert audit.verify()["ok"] is True
    # Its own new citizen is not held back by the strangers' count.
    assert assisted(p3, cid=valid_cid(61), token=stranger).status == 201
