"""Finding 2 of the security review, tax-ID squatting: with ``owner_cid`` in
the merchant reference, only the owner on the Revenue Department's record
gets an active, cash-out-eligible shop for that tax ID (API.md)."""
from __future__ import annotations

import pytest

from chalicelib import audit
from chalicelib.audit.models import AuditModel
from devstack import tokens
from tests.functional.payments_api_fixtures import shop_body, valid_id

pytestmark = pytest.mark.functional

TAX = valid_id(77, "0")
OWNER = valid_id(700)
SQUATTER = valid_id(701)


def _reference(world, owner_cid: str | None = OWNER):
    entry = {"tax_id": TAX, "size_class": "small", "tax_compliant": True}
    if owner_cid is not None:
        entry["owner_cid"] = owner_cid
    reply = world.api.call("POST", "/v1/admin/merchant-reference", world.operator, {"merchants": [entry]})
    assert reply.status == 200, reply


def _register(world, cid: str):
    return world.api.call("POST", "/v1/merchants", tokens.mint("merchant", {"cid": cid}), shop_body(TAX))


def _me(world, cid: str):
    return world.api.call("GET", "/v1/merchants/me", tokens.mint("merchant", {"cid": cid})).body


def _alerts():
    """The alerts as the audit chain holds them; each also in GET /v1/admin/alerts."""
    from chalicelib.alerts import list_alerts

    events = [e for e in audit.page(100, None)["items"] if e["action"] == "alert"]
    listed = list_alerts(None, 100, None)["items"]
    assert sorted(e["details"]["kind"] for e in events) == sorted(a["kind"] for a in listed)
    return events


def test_someone_elses_shop_for_an_owned_tax_id_waits_for_review_and_alerts(world):
    _reference(world)
    reply = _register(world, SQUATTER)
    assert reply.status == 201 and reply.body["status"] == "pending_review"
    assert _me(world, SQUATTER)["cash_out_eligible"] is False
    assert [a["details"]["kind"] for a in _alerts()] == ["tax_id_of_another_owner"]
    # It does not hold the tax ID against the owner, whose shop is active at once.
    owner = _register(world, OWNER)
    assert owner.status == 201 and owner.body["status"] == "active"
    assert _me(world, OWNER)["cash_out_eligible"] is True
    stored = " ".join(str(i.attribute_values) for i in AuditModel.scan())
    assert TAX not in stored and OWNER not in stored and SQUATTER not in stored


def test_the_owner_takes_the_tax_id_back_from_a_shop_registered_first(world):
    squatter = _register(world, SQUATTER)  # before the reference data arrived: pending, holds the tax ID
    assert squatter.body["status"] == "pending_review"
    _reference(world)
    assert _me(world, SQUATTER)["status"] == "pending_review"  # the reference does not vouch for it
    assert [a["details"]["kind"] for a in _alerts()] == ["tax_id_of_another_owner"]
    owner = _register(world, OWNER)
    assert owner.status == 201 and owner.body["status"] == "active"
    assert _me(world, SQUATTER)["status"] == "rejected"


def test_a_shop_active_before_the_owner_was_named_is_held_for_review(world):
    _reference(world, owner_cid=None)
    assert _register(world, SQUATTER).body["status"] == "active"
    _reference(world)
    assert _me(world, SQUATTER)["status"] == "pending_review"
    assert _me(world, SQUATTER)["cash_out_eligible"] is False


def test_after_the_owner_any_other_shop_for_the_tax_id_waits_for_review(world):
    _reference(world)
    assert _register(world, OWNER).body["status"] == "active"
    again = _register(world, valid_id(702))
    assert again.status == 201 and again.body["status"] == "pending_review"  # never the owner's tax ID
    assert not [a for a in _alerts() if a["details"]["merchant_id"] == _me(world, OWNER)["merchant_id"]]


def test_without_owner_cid_the_reference_works_as_before(world):
    _reference(world, owner_cid=None)
    assert _register(world, SQUATTER).body["status"] == "active"
    assert (_register(world, OWNER).status) == 409


def test_owner_cid_is_a_checked_national_id(world):
    entry = {"tax_id": TAX, "size_class": "small", "tax_compliant": True, "owner_cid": "1234567890123"}
    reply = world.api.call("POST", "/v1/admin/merchant-reference", world.operator, {"merchants": [entry]})
    assert reply.status == 400 and reply.body["error"]["details"]["field"] == "merchants[0].owner_cid"
