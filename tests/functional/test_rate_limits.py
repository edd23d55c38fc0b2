"""Per-caller abuse limits (chalicelib.ratelimit): 429 rate_limited with
Retry-After on money-moving and registration endpoints, counted in DynamoDB
so that every Lambda container sees the same count."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib import limits, ratelimit
from chalicelib.ratelimit.models import RateCounterModel

pytestmark = pytest.mark.functional

CITIZEN = {"cid": "1101700230708", "birth_date": "2006-05-01", "district": "1001", "nationality": "TH"}


@pytest.mark.parametrize("path, role, claims, allowed", [
    ("/v1/payments", "citizen", CITIZEN, limits.PAYMENTS_PER_CALLER_PER_WINDOW_MAX),
    ("/v1/merchant-payments", "merchant", {"cid": "3101700203456"}, limits.PAYMENTS_PER_CALLER_PER_WINDOW_MAX),
    ("/v1/card-payments", "merchant", {"cid": "3101700203456"}, limits.PAYMENTS_PER_CALLER_PER_WINDOW_MAX),
    ("/v1/withdrawals", "merchant", {"cid": "3101700203456"}, limits.PAYMENTS_PER_CALLER_PER_WINDOW_MAX),
    ("/v1/registrations", "citizen", CITIZEN, limits.REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX),
    ("/v1/merchants", "merchant", {"cid": "3101700203456"}, limits.MERCHANT_REGISTRATIONS_PER_CALLER_PER_WINDOW_MAX),
])
def test_a_caller_over_the_limit_is_429_with_retry_after(call: Any, tokens: Any, path: str, role: str,
                                                          claims: dict[str, Any], allowed: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_000.0)  # one window for the whole test
    token = tokens.make(role, sub="same-caller", **claims)
    headers = {"Authorization": token, "Idempotency-Key": "k1"}
    for _ in range(allowed):
        status, body, _ = call("POST", path, headers=headers, raw="{}")
        assert status == 400  # counted, then refused for its body
    status, body, answer_headers = call("POST", path, headers=headers, raw="{}")
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert 1 <= int(answer_headers["Retry-After"]) <= limits.RATE_WINDOW_S
    # Another caller is not held back.
    other = tokens.make(role, sub="other-caller", **claims)
    assert call("POST", path, headers={"Authorization": other, "Idempotency-Key": "k1"}, raw="{}")[0] == 400
    # The count is DynamoDB's, not a container's.
    counters = {c.counter_key.split("#")[1]: int(c.hits) for c in RateCounterModel.scan()}
    assert counters[f"{role}:same-caller"] == allowed + 1


def test_a_new_window_lets_the_caller_in_again(moto_aws: Any) -> None:
    limit = ratelimit.Limit("t", 2, 60)
    now = [1_800_000_010.0]
    assert [ratelimit.hit(limit, "c", lambda: now[0]).allowed for _ in range(3)] == [True, True, False]
    refused = ratelimit.hit(limit, "c", lambda: now[0])
    assert not refused.allowed and not refused.crossed and refused.retry_after_s == 50
    now[0] += 50
    assert ratelimit.hit(limit, "c", lambda: now[0]).allowed
