"""run_idempotent on its table (moto): once per caller and key, replay, conflict."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from chalicelib.auth import Principal
from chalicelib.errors import IdempotencyConflictError, RuleError
from chalicelib.idempotency import IN_PROGRESS_TIMEOUT_S, IdempotencyModel, StoredResponse, run_idempotent, scoped_id

CALLER = Principal("u1", "merchant", {})


def test_first_call_runs_replay_returns_the_stored_response(moto_aws: Any) -> None:
    runs: list[int] = []

    def work() -> StoredResponse:
        runs.append(1)
        return StoredResponse(201, {"n": len(runs)})

    assert run_idempotent(CALLER, "k", "fp1", work) == (StoredResponse(201, {"n": 1}), False)
    assert run_idempotent(CALLER, "k", "fp1", work) == (StoredResponse(201, {"n": 1}), True)
    assert runs == [1]
    # Another caller's same key is another record.
    assert run_idempotent(Principal("u2", "merchant", {}), "k", "fp1", work)[1] is False
    record = IdempotencyModel.get(scoped_id("idem", CALLER, "k"))
    assert record.expires_at.timestamp() >= record.started_at_s + 7 * 24 * 3600


def test_same_key_other_request_is_409(moto_aws: Any) -> None:
    run_idempotent(CALLER, "k", "fp1", lambda: StoredResponse(200, {}))
    with pytest.raises(IdempotencyConflictError):
        run_idempotent(CALLER, "k", "fp2", lambda: StoredResponse(200, {}))


def test_concurrent_first_call_in_progress_is_409_then_a_stale_marker_is_taken_over(moto_aws: Any) -> None:
    clock = [1_000_000.0]
    marker = IdempotencyModel(scoped_id("idem", CALLER, "k"), fingerprint="fp1", state="in_progress",
                              started_at_s=int(clock[0]),
                              expires_at=datetime.fromtimestamp(clock[0] + 10, tz=timezone.utc))
    marker.save()
    with pytest.raises(IdempotencyConflictError) as caught:
        run_idempotent(CALLER, "k", "fp1", lambda: StoredResponse(200, {}), clock=lambda: clock[0])
    assert caught.value.details["in_progress"] is True
    clock[0] += IN_PROGRESS_TIMEOUT_S + 1
    assert run_idempotent(CALLER, "k", "fp1", lambda: StoredResponse(200, {"ok": 1}),
                          clock=lambda: clock[0]) == (StoredResponse(200, {"ok": 1}), False)


def test_an_error_is_not_stored_and_a_retry_runs_again(moto_aws: Any) -> None:
    def refuse() -> StoredResponse:
        raise RuleError("insufficient_funds", "no")

    with pytest.raises(RuleError):
        run_idempotent(CALLER, "k", "fp1", refuse)
    assert run_idempotent(CALLER, "k", "fp1", lambda: StoredResponse(201, {}))[1] is False
