"""PUT/GET /v1/admin/phases/{id} and the treasury funding it does."""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.ledger import stream_summary
from tests.invariants import drained_summary

BUDGET = 2_700_000
PHASE: dict[str, Any] = {
    "name": "Phase 3: ages 16-20", "kind": "wallet",
    "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
    "exclusion_lists": ["welfare_card", "prisoners"],
    "registration_opens_at": "2030-03-01T00:00:00Z",
    "registration_closes_at": "2030-03-31T00:00:00Z",
    "amount_satang": 1_000_000,
    "tranches": [{"amount_satang": 1_000_000, "after_days": 0}],
    "waves": [{"activate_at": "2030-04-01T02:00:00Z"}, {"activate_at": "2030-04-02T02:00:00Z"}],
    "expires_after_days": 180, "spending_scope": "district",
    "allowed_size_classes": ["small"],
    "restricted_categories": ["lottery", "alcohol"],
    "budget_satang": BUDGET, "payout_bank_code": None,
}
OP = {"role": "operator", "mfa": True}


def days_ago(days: int) -> str:
    """A time ``days`` before now (a phase's new times may be at most a year back)."""
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def phase(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(PHASE)
    body.update(changes)
    return body


def summary(call: Any) -> dict[str, Any]:
    """GET /v1/admin/ledger/summary once its reader has drained the stream
    (at quiescence it equals the auditor's scan, see drained_summary)."""
    stream_summary.consume()
    status, body, _ = call("GET", "/v1/admin/ledger/summary", role="auditor")
    assert status == 200
    assert body["as_of"] is not None and body["lag_s"] is not None
    return body


def test_put_creates_then_updates_and_get_returns_definition(call: Any) -> None:
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=phase(), **OP)
    assert status == 201, body
    assert body["phase_id"] == "p3" and body["name"] == PHASE["name"]
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=phase(name="Phase 3"), **OP)
    assert status == 200 and body["name"] == "Phase 3"
    status, body, _ = call("GET", "/v1/admin/phases/p3", role="auditor")
    assert status == 200
    assert body["phase_id"] == "p3" and body["budget_satang"] == BUDGET
    assert [w["activate_at"] for w in body["waves"]] == [w["activate_at"] for w in PHASE["waves"]]


def test_get_unknown_phase_is_404(call: Any) -> None:
    status, body, _ = call("GET", "/v1/admin/phases/nope", role="operator")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_saving_funds_the_treasury_once_and_raising_funds_the_difference(call: Any) -> None:
    assert call("PUT", "/v1/admin/phases/p3", body=phase(), **OP)[0] == 201
    first = summary(call)
    assert first["funded_satang"] == first["treasury_satang"] == BUDGET
    assert first["balanced"] is True
    # API.md's, plus how fresh and whole it is
    assert set(first) == {"funded_satang", "treasury_satang", "wallets_satang", "merchants_spendable_satang",
                          "merchants_withdrawable_satang", "in_flight_satang", "paid_out_satang",
                          "returned_satang", "balanced", "as_of", "lag_s", "partial_transactions"}
    # A replayed PUT (same body) funds nothing more.
    assert call("PUT", "/v1/admin/phases/p3", body=phase(), **OP)[0] == 200
    assert summary(call)["treasury_satang"] == BUDGET
    # Raising the budget funds the difference, once.
    for _ in range(2):
        assert call("PUT", "/v1/admin/phases/p3", body=phase(budget_satang=BUDGET + 1_000_003), **OP)[0] == 200
    raised = summary(call)
    assert raised["funded_satang"] == raised["treasury_satang"] == BUDGET + 1_000_003
    assert raised["balanced"] is True
    # Lowering (nothing issued yet) returns the difference to the budget.
    assert call("PUT", "/v1/admin/phases/p3", body=phase(budget_satang=BUDGET - 5), **OP)[0] == 200
    lowered = summary(call)
    assert lowered["funded_satang"] == lowered["treasury_satang"] == BUDGET - 5
    assert lowered["balanced"] is True and drained_summary()["balanced"] is True


def test_lowering_the_budget_below_issued_is_409(call: Any) -> None:
    from chalicelib.phases.models import PhaseModel

    assert call("PUT", "/v1/admin/phases/p3", body=phase(), **OP)[0] == 201
    model = PhaseModel.get("p3")
    model.issued_satang = 2_000_000
    model.save()
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=phase(budget_satang=1_999_999), **OP)
    assert status == 409 and body["error"]["code"] == "budget_below_issued"
    assert summary(call)["treasury_satang"] == BUDGET


def test_money_shaping_fields_freeze_once_a_wave_started(call: Any) -> None:
    started = phase(waves=[{"activate_at": days_ago(30)}],
                    registration_opens_at=days_ago(90), registration_closes_at=days_ago(40))
    assert call("PUT", "/v1/admin/phases/p4", body=started, **OP)[0] == 201
    changed = copy.deepcopy(started)
    changed["amount_satang"] = 500_000
    changed["tranches"] = [{"amount_satang": 500_000, "after_days": 0}]
    status, body, _ = call("PUT", "/v1/admin/phases/p4", body=changed, **OP)
    assert status == 409 and body["error"]["code"] == "phase_frozen"
    assert "amount_satang" in body["error"]["details"]["fields"]
    # The name and the budget may still change.
    assert call("PUT", "/v1/admin/phases/p4", body={**started, "name": "renamed",
                                                    "budget_satang": BUDGET * 2}, **OP)[0] == 200


def test_the_number_of_waves_is_fixed_once_registration_opened(call: Any) -> None:
    before = phase(registration_opens_at="2030-03-01T00:00:00Z")
    assert call("PUT", "/v1/admin/phases/p5", body=before, **OP)[0] == 201
    three = before["waves"] + [{"activate_at": "2030-04-03T02:00:00Z"}]
    assert call("PUT", "/v1/admin/phases/p5", body={**before, "waves": three}, **OP)[0] == 200

    opened = phase(registration_opens_at=days_ago(10))
    assert call("PUT", "/v1/admin/phases/p6", body=opened, **OP)[0] == 201
    status, body, _ = call("PUT", "/v1/admin/phases/p6", body={**opened, "waves": three}, **OP)
    assert status == 409 and body["error"]["code"] == "phase_frozen"
    assert body["error"]["details"]["fields"] == ["waves"]
    status, body, _ = call("GET", "/v1/admin/phases/p6", role="auditor")
    assert len(body["waves"]) == 2
    # Moving the waves' times stays allowed until the first starts.
    later = [{"activate_at": "2030-05-01T02:00:00Z"}, {"activate_at": "2030-05-02T02:00:00Z"}]
    assert call("PUT", "/v1/admin/phases/p6", body={**opened, "waves": later}, **OP)[0] == 200


def test_put_validation_names_the_field(call: Any) -> None:
    cases = [
        (phase(kind="loan"), "kind"),
        (phase(birth_date_from="2004-13-01"), "birth_date_from"),
        (phase(registration_opens_at="2030-03-01"), "registration_opens_at"),
        (phase(registration_closes_at="2030-02-01T00:00:00Z"), "registration_closes_at"),
        (phase(amount_satang=10.5), "amount_satang"),
        (phase(tranches=[{"amount_satang": 1, "after_days": 0}]), "tranches"),
        (phase(waves=[]), "waves"),
        (phase(waves=[{}]), "waves[0].activate_at"),
        # A wave decades before registration opens is a typo, not a plan.
        (phase(waves=[{"activate_at": "2030-04-01T02:00:00Z"}, {"activate_at": "2000-04-01T02:00:00Z"}]),
         "waves[1].activate_at"),
        (phase(spending_scope="city"), "spending_scope"),
        (phase(allowed_size_classes=["huge"]), "allowed_size_classes[0]"),
        (phase(kind="cash_transfer"), "payout_bank_code"),
        (phase(budget_satang=-1), "budget_satang"),
        (phase(budget_satang="100"), "budget_satang"),
        (phase(colour="red"), "colour"),
        # The import refuses this name, so such a phase would exclude nobody.
        (phase(exclusion_lists=["welfare-card"]), "exclusion_lists[0]"),
    ]
    for body, field in cases:
        status, answer, _ = call("PUT", "/v1/admin/phases/p5", body=body, **OP)
        assert status == 400, (field, answer)
        assert answer["error"]["code"] == "invalid_request"
        assert answer["error"]["details"]["field"] == field, answer
        assert field.split("[")[0].split(".")[0] in answer["error"]["message"]


def test_a_malformed_phase_id_is_400_on_every_phase_path(call: Any) -> None:
    for method, path, body in (("PUT", "/v1/admin/phases/-p3", phase()), ("GET", "/v1/admin/phases/-p3", None),
                               ("POST", "/v1/admin/phases/-p3/activate", {})):
        status, answer, _ = call(method, path, body=body, **OP)
        assert (status, answer["error"]["details"]["field"]) == (400, "phase_id"), (method, path)


def test_phase_writes_need_an_operator_with_mfa(call: Any) -> None:
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=phase(), role="operator")
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=phase(), role="auditor")
    assert status == 403
    status, body, _ = call("GET", "/v1/admin/ledger/summary", role="citizen")
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_phase_saves_are_audited_in_a_hash_chain(call: Any) -> None:
    from chalicelib import audit

    assert call("PUT", "/v1/admin/phases/p3", body=phase(), **OP)[0] == 201
    assert call("PUT", "/v1/admin/phases/p3", body=phase(name="renamed"), **OP)[0] == 200
    status, body, _ = call("GET", "/v1/admin/audit?limit=1", role="auditor")
    assert status == 200 and len(body["items"]) == 1 and body["next_cursor"]
    newest = body["items"][0]
    assert newest["action"] == "phase_saved" and newest["target"] == "phase:p3"
    status, older, _ = call("GET", f"/v1/admin/audit?limit=5&cursor={body['next_cursor']}", role="operator")
    assert status == 200 and [e["action"] for e in older["items"]] == ["phase_created"]
    assert newest["prev_hash"] == older["items"][0]["hash"]
    assert audit.verify()["ok"] is True
    # Tampering with an event breaks the chain.
    from chalicelib.audit.models import AuditModel

    first = next(iter(AuditModel.query("operators", limit=1)))
    first.event_json = first.event_json.replace("phase_created", "phase_deleted")
    first.save()
    assert audit.verify()["ok"] is False
    assert call("GET", "/v1/admin/audit?limit=0", role="auditor")[0] == 400
    assert call("GET", "/v1/admin/audit", role="citizen")[0] == 403


def test_put_accepts_what_get_returns_and_ignores_the_progress_fields(call: Any) -> None:
    assert call("PUT", "/v1/admin/phases/p3", body=phase(), **OP)[0] == 201
    status, shown, _ = call("GET", "/v1/admin/phases/p3", role="operator")
    assert status == 200 and shown["waves"][0]["status"] == "scheduled" and "credited_count" in shown
    edited = copy.deepcopy(shown)
    edited["name"] = "Phase 3 (renamed)"
    edited["credited_count"] = 12345  # read-only: ignored, not refused
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=edited, **OP)
    assert status == 200, body
    status, again, _ = call("GET", "/v1/admin/phases/p3", role="operator")
    assert again["name"] == "Phase 3 (renamed)" and again["credited_count"] == 0
    assert {k: v for k, v in again.items() if k != "name"} == {k: v for k, v in shown.items() if k != "name"}
    # Anything else unknown is still refused, naming the field.
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body={**edited, "colour": "red"}, **OP)
    assert status == 400 and body["error"]["details"]["field"] == "colour"


def test_a_phase_naming_a_list_never_imported_warns_and_get_shows_each_lists_size(call: Any) -> None:
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=phase(), **OP)
    assert status == 201
    assert [(w["field"], w["code"]) for w in body["warnings"]] == [
        ("exclusion_lists[0]", "exclusion_list_not_imported"), ("exclusion_lists[1]", "exclusion_list_not_imported")]
    assert "welfare_card" in body["warnings"][0]["message"]
    from tests.integration.test_rolling_moto import cids as valid_cids

    cids = valid_cids(3)
    assert call("POST", "/v1/admin/exclusions", body={"list": "welfare_card", "cids": cids}, **OP)[0] == 200
    assert call("POST", "/v1/admin/exclusions", body={"list": "welfare_card", "cids": cids[:1]}, **OP)[0] == 200
    status, shown, _ = call("GET", "/v1/admin/phases/p3", role="auditor")
    assert shown["exclusion_list_sizes"] == {"welfare_card": 3, "prisoners": None}
    assert [w["field"] for w in shown["warnings"]] == ["exclusion_lists[1]"]
    status, body, _ = call("PUT", "/v1/admin/phases/p3", body=phase(exclusion_lists=["welfare_card"]), **OP)
    assert status == 200 and "warnings" not in body


def test_a_new_phase_with_times_long_past_is_400_naming_the_field(call: Any) -> None:
    """Finding 6: a wave decades back (2005 for 2025) was accepted and would
    credit at once."""
    cases = [
        (phase(registration_opens_at="2005-03-01T00:00:00Z", registration_closes_at="2005-03-31T00:00:00Z",
               waves=[{"activate_at": "2005-04-01T02:00:00Z"}]), "registration_opens_at"),
        (phase(registration_opens_at=days_ago(400), registration_closes_at=days_ago(10),
               waves=[{"activate_at": days_ago(5)}]), "registration_opens_at"),
        (phase(registration_opens_at=days_ago(370), registration_closes_at=days_ago(369),
               waves=[{"activate_at": days_ago(200)}]), "registration_opens_at"),
    ]
    for body, field in cases:
        status, answer, _ = call("PUT", "/v1/admin/phases/old", body=body, **OP)
        assert (status, answer["error"]["code"], answer["error"]["details"]["field"]) == (
            400, "invalid_request", field), answer
        assert "days" in answer["error"]["message"] and "year" in answer["error"]["message"]
    assert call("GET", "/v1/admin/phases/old", role="auditor")[0] == 404  # nothing saved, nothing funded
    # Within the bound: a phase whose registration opened a month ago is fine.
    recent = phase(registration_opens_at=days_ago(30), registration_closes_at=days_ago(1),
                   waves=[{"activate_at": days_ago(1)}])
    assert call("PUT", "/v1/admin/phases/recent", body=recent, **OP)[0] == 201


def test_a_saved_phase_keeps_its_past_but_a_moved_wave_is_checked(call: Any, clock: Any) -> None:
    body = phase(registration_opens_at=days_ago(30), registration_closes_at=days_ago(20),
                 waves=[{"activate_at": days_ago(10)}])
    assert call("PUT", "/v1/admin/phases/p7", body=body, **OP)[0] == 201
    # Two years on (the program's clock, chalicelib/clock.py), its times are long past and it is re-saved as is.
    clock.advance(timedelta(days=730))
    assert call("PUT", "/v1/admin/phases/p7", body={**body, "name": "renamed"}, **OP)[0] == 200
    status, answer, _ = call("PUT", "/v1/admin/phases/p7", body={
        **body, "registration_closes_at": days_ago(19)}, **OP)
    assert (status, answer["error"]["details"]["field"]) == (400, "registration_closes_at")
