"""The app's one clock: real time, or real time plus the local stack's offset."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import clock


@pytest.fixture
def clock_file(tmp_path, monkeypatch):
    path = tmp_path / "clock.json"
    monkeypatch.setenv(clock.CLOCK_FILE_ENV, str(path))
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setattr(clock, "_RECHECK_S", 0.0)
    return path


def _close(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 5


def test_without_a_clock_file_the_clock_is_real_time(monkeypatch):
    monkeypatch.delenv(clock.CLOCK_FILE_ENV, raising=False)
    assert _close(clock.utcnow(), datetime.now(UTC))


def test_a_missing_file_is_real_time_and_a_written_offset_moves_every_reading(clock_file):
    assert _close(clock.utcnow(), datetime.now(UTC))
    clock.write_offset(str(clock_file), timedelta(days=30).total_seconds())
    assert _close(clock.utcnow(), datetime.now(UTC) + timedelta(days=30))
    assert clock.parse_iso(clock.iso_now()) > datetime.now(UTC) + timedelta(days=29)
    clock.write_offset(str(clock_file), 0)
    assert _close(clock.utcnow(), datetime.now(UTC))


def test_a_deployed_function_ignores_the_clock_file(clock_file, monkeypatch):
    clock.write_offset(str(clock_file), 86400.0)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "wallet-prod-api")
    assert _close(clock.utcnow(), datetime.now(UTC))


def test_an_unreadable_clock_file_says_how_to_fix_it(clock_file):
    clock_file.write_text("{not json")
    with pytest.raises(RuntimeError, match="devstack clock reset"):
        clock.utcnow()


@pytest.mark.parametrize("text,seconds", [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45),
                                          ("1d12h", 129600)])
def test_durations(text, seconds):
    assert clock.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "3w", "-1d", "1.5d", "0d"])
def test_bad_durations_are_refused_with_an_example(text):
    with pytest.raises(ValueError, match="30d"):
        clock.parse_duration(text)
