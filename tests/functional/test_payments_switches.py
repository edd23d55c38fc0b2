"""The payments switch: paused for all, a district or a bank; resumed."""
from __future__ import annotations

import pytest

from chalicelib.config import rebuild
from chalicelib.errors import InvalidRequestError, PausedError
from chalicelib.switches import check_switch, list_switches, set_switch


@pytest.fixture
def switches(moto_aws):
    rebuild()
    yield
    rebuild()


def test_nothing_paused_by_default(switches):
    check_switch("payments", district="1001", bank="004")


def test_pause_by_scope_and_resume(switches):
    set_switch("payments", "paused", "district:1001", "flood", by="op1")
    with pytest.raises(PausedError) as err:
        check_switch("payments", district="1001")
    assert err.value.status == 503 and err.value.retry_after_s > 0
    check_switch("payments", district="1002")
    check_switch("withdrawals", district="1001")
    set_switch("payments", "paused", "all", "incident")
    with pytest.raises(PausedError):
        check_switch("payments", district="1002")
    assert {s["scope"] for s in list_switches()} == {"all", "district:1001"}
    set_switch("payments", "on", "all", "over")
    set_switch("payments", "on", "district:1001", "over")
    check_switch("payments", district="1001")
    assert list_switches() == []


def test_a_bank_scope(switches):
    set_switch("withdrawals", "paused", "bank:004", "bank outage")
    with pytest.raises(PausedError):
        check_switch("withdrawals", bank="004")
    check_switch("withdrawals", bank="006")


def test_a_change_is_seen_at_once_in_the_container_that_made_it(switches):
    check_switch("payments", district="1001")  # cached as "nothing paused"
    set_switch("payments", "paused", "all", "x")
    with pytest.raises(PausedError):
        check_switch("payments")


def test_another_container_sees_a_change_after_the_cache_time(switches, monkeypatch):
    from chalicelib import cache
    from chalicelib.switches import SWITCH_CACHE_TTL_S, models

    now = [100.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    check_switch("payments")  # cached as "nothing paused"
    models.SwitchModel("payments", paused={"all": {"reason": "x", "updated_at": "", "by": ""}},
                       updated_at="").save()  # written by another container
    check_switch("payments")  # still the cached answer
    now[0] += SWITCH_CACHE_TTL_S
    with pytest.raises(PausedError):
        check_switch("payments")


@pytest.mark.parametrize("scope", ["", "district:01", "bank:4", "everything", None])
def test_bad_scope(switches, scope):
    with pytest.raises(InvalidRequestError):
        set_switch("payments", "paused", scope, "x")
