"""Races of registration and of wrong PINs, on DynamoDB Local with threads
(moto is not safe under concurrent transactions: ARCHITECTURE.md).

What a user would check: one registration however often a citizen taps
"register"; at most one accepted phase per citizen; a card locked after
exactly five wrong PINs, however many arrive at once.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest

from chalicelib.eligibility import Citizen, PhaseRules
from chalicelib.errors import RuleError
from chalicelib.pii import hash_id
from chalicelib.registration.cards import card_key, verify_pin
from chalicelib.registration.models import BenefitModel, CardModel, RegistrationModel
from chalicelib.registration.service import Assisted, register

NOW = datetime(2025, 3, 2, tzinfo=UTC)
CIDS = ["1101700230708", "1234567890121", "3100600123455", "1409900123456", "2100100012346"]


def phase(phase_id: str) -> PhaseRules:
    return PhaseRules.from_definition(phase_id, {
        "kind": "wallet", "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
        "exclusion_lists": ["prisoners"],
        "registration_opens_at": "2025-03-01T00:00:00Z", "registration_closes_at": "2025-03-31T00:00:00Z",
        "waves": [{"activate_at": "2025-04-01T02:00:00Z"}, {"activate_at": "2025-04-02T02:00:00Z"}],
    })


def citizen(cid: str) -> Citizen:
    return Citizen(hash_id(cid), date(2006, 1, 1), "TH", "1001")


@pytest.fixture
def tables(ddb_local):
    """Fresh tables of a stage of its own on the shared DynamoDB Local."""
    return ddb_local


def all_at_once(calls: list, workers: int | None = None) -> list:
    """Run the calls on threads released together; each result or exception."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers or len(calls)) as pool:
        return list(pool.map(run, calls))


def test_ten_parallel_registrations_of_one_citizen_make_one(tables):
    who = citizen(CIDS[0])
    results = all_at_once([lambda: register(phase("p3"), who, now=NOW)] * 10)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.created for r in results) == 1
    assert {r.registration.registration_id for r in results} == {results[0].registration.registration_id}
    assert {r.registration.status for r in results} == {"accepted"}
    stored = list(RegistrationModel.scan())
    assert len(stored) == 1 and stored[0].status == "accepted"
    assert BenefitModel.get(who.citizen_hash).phase_id == "p3"


def test_a_citizen_racing_into_two_phases_is_accepted_in_at_most_one(tables):
    calls = []
    for cid in CIDS:
        who = citizen(cid)
        calls += [lambda who=who: register(phase("p3"), who, now=NOW),
                  lambda who=who: register(phase("p4"), who, now=NOW)]
    results = all_at_once(calls)
    assert not [r for r in results if isinstance(r, Exception)], results
    for cid in CIDS:
        mine = [r.registration for r in results if r.registration.citizen_hash == hash_id(cid)]
        assert sorted(r.status for r in mine) == ["accepted", "rejected"]
        rejected = next(r for r in mine if r.status == "rejected")
        accepted = next(r for r in mine if r.status == "accepted")
        assert rejected.reason == "already_benefited" and rejected.wallet_id is None
        assert BenefitModel.get(hash_id(cid)).phase_id == accepted.phase_id
    assert len(list(RegistrationModel.scan())) == 2 * len(CIDS)
    assert len(list(BenefitModel.scan())) == len(CIDS)


def test_twenty_parallel_wrong_pins_lock_the_card_at_exactly_five(tables):
    who = citizen(CIDS[1])
    done = register(phase("p3"), who, now=NOW, assisted=Assisted("point-7", "registrar-1", "135790"))
    code = done.card_code
    results = all_at_once([lambda: verify_pin(code, "246801")] * 20)
    codes = [r.code for r in results if isinstance(r, RuleError)]
    assert len(codes) == 20, results
    assert codes.count("pin_invalid") == 4
    assert codes.count("card_locked") == 16
    card = CardModel.get(card_key(code), consistent_read=True)
    assert card.locked is True and card.failed_attempts == 5
    with pytest.raises(RuleError) as caught:
        verify_pin(code, "135790")  # the right PIN no longer opens a locked card
    assert caught.value.code == "card_locked"


def test_right_and_wrong_pins_at_once_never_leave_more_than_five_counted(tables):
    who = citizen(CIDS[2])
    done = register(phase("p3"), who, now=NOW, assisted=Assisted("point-7", "registrar-1", "135790"))
    code = done.card_code
    calls = [lambda: verify_pin(code, "246801")] * 8 + [lambda: verify_pin(code, "135790")] * 4
    all_at_once(calls)
    card = CardModel.get(card_key(code), consistent_read=True)
    assert 0 <= card.failed_attempts <= 5
    assert card.locked == (card.failed_attempts == 5)


def test_racing_reissues_leave_exactly_one_working_card(tables):
    """A lost card reissued from two desks at once (or a double submit): one
    card stays in use, every other is revoked and refuses its PIN."""
    from chalicelib.errors import ConflictError, NotFoundError
    from chalicelib.registration.service import reissue_card

    who = citizen(CIDS[3])
    first = register(phase("p3"), who, now=NOW, assisted=Assisted("point-7", "registrar-1", "135790"))
    results = all_at_once([lambda n=n: reissue_card(who, Assisted(f"point-{n}", "registrar-1", "246813"), NOW)
                           for n in range(4)])
    issued = [r[0] for r in results if isinstance(r, tuple)]
    assert issued and all(isinstance(r, (tuple, ConflictError)) for r in results), results
    registration = RegistrationModel.get(f"p3#{who.citizen_hash}", consistent_read=True)
    in_use = [c for c in CardModel.scan(consistent_read=True) if not c.revoked]
    assert [c.card_key for c in in_use] == [registration.card_key]
    for code in [first.card_code, *issued]:
        if card_key(code) == registration.card_key:
            assert verify_pin(code, "246813").card_key == registration.card_key
        else:
            with pytest.raises(NotFoundError):
                verify_pin(code, "246813" if code != first.card_code else "135790")
