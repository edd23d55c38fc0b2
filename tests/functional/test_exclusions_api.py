"""Operators import agency exclusion lists (Chalice client, moto)."""
from __future__ import annotations

import pytest

from chalicelib.exclusions.models import ExclusionModel
from chalicelib.exclusions.requests import EXCLUSIONS_BODY
from chalicelib.pii import hash_id
from tests.functional.registration_fixtures import (
    Api,
    phase_body,
    valid_cid,
)


def on_list(name: str) -> list[ExclusionModel]:
    return list(ExclusionModel.scan(ExclusionModel.list_name == name))


def error_of(reply) -> tuple[int, str, str | None]:
    error = reply.body["error"]
    return reply.status, error["code"], (error.get("details") or {}).get("field")


def test_an_import_counts_new_ids_and_a_re_import_adds_none(api: Api):
    cids = [valid_cid(i) for i in range(3)]
    assert api.exclude("welfare_card", cids).body == {"added": 3}
    again = api.exclude("welfare_card", [*cids, valid_cid(3)])
    assert again.status == 200 and again.body == {"added": 1}
    stored = {item.citizen_hash for item in on_list("welfare_card")}
    assert stored == {hash_id(c) for c in [*cids, valid_cid(3)]}


def test_the_same_id_twice_in_one_list_counts_once(api: Api):
    assert api.exclude("prisoners", [valid_cid(5), valid_cid(5)]).body == {"added": 1}


def test_a_large_list_is_written_in_batches(api: Api):
    cids = [valid_cid(i) for i in range(1_234)]
    assert api.exclude("income_cap", cids).body == {"added": 1_234}
    assert len(on_list("income_cap")) == 1_234


def test_a_bad_checksum_names_its_position_and_nothing_is_written(api: Api):
    cids = [valid_cid(i) for i in range(5)]
    cids[3] = cids[3][:-1] + str((int(cids[3][-1]) + 1) % 10)
    reply = api.exclude("welfare_card", cids)
    assert error_of(reply) == (400, "invalid_request", "cids[3]")
    assert cids[3] not in reply.body["error"]["message"]
    assert len(on_list("welfare_card")) == 0


def test_more_ids_than_one_request_may_carry_is_400(api: Api, monkeypatch):
    monkeypatch.setattr(EXCLUSIONS_BODY.members["cids"], "max_items", 3)
    reply = api.exclude("welfare_card", [valid_cid(i) for i in range(4)])
    assert error_of(reply) == (400, "invalid_request", "cids")


@pytest.mark.parametrize("body, field", [
    ({"list": "Welfare Card", "cids": [valid_cid(1)]}, "list"),
    ({"list": "", "cids": [valid_cid(1)]}, "list"),
    ({"list": "welfare_card", "cids": []}, "cids"),
    ({"list": "welfare_card", "cids": valid_cid(1)}, "cids"),
    ({"list": "welfare_card", "cids": [1101700230708]}, "cids[0]"),
    ({"list": "welfare_card"}, "cids"),
    ({"list": "welfare_card", "cids": [valid_cid(1)], "source": "dsdw"}, "source"),
])
def test_bad_requests_are_400_naming_the_field(api: Api, body, field):
    assert error_of(api.call("POST", "/v1/admin/exclusions", api.operator(), body)) == (
        400, "invalid_request", field)


def test_only_operators_with_mfa_import(api: Api):
    body = {"list": "welfare_card", "cids": [valid_cid(1)]}
    for token in (api.operator(mfa=False), api.registrar(), api.citizen(valid_cid(1))):
        assert error_of(api.call("POST", "/v1/admin/exclusions", token, body))[:2] == (403, "forbidden")
    assert len(on_list("welfare_card")) == 0


def test_an_import_reaches_registrations_at_once(api: Api):
    api.put_phase("p3", phase_body())
    api.exclude("prisoners", [valid_cid(7)])
    assert api.register(valid_cid(7)).body["reason"] == "excluded:prisoners"
    assert api.register(valid_cid(8)).body["status"] == "accepted"
