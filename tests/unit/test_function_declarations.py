"""Declarations of the Lambda functions (chalicelib/functions.py): every
handler of app.py has one, and a declaration cannot name what does not exist."""
from __future__ import annotations

import pytest

from chalicelib import functions

pytestmark = pytest.mark.unit


def test_every_handler_of_the_app_is_declared():
    import app

    handlers = {source.name for source in app.app.event_sources}
    assert handlers, "the app has SQS handlers and schedules"
    assert set(functions.declared()) == handlers | {functions.API_HANDLER}


def test_a_declaration_names_only_known_secrets_and_is_not_redeclared_differently():
    with pytest.raises(ValueError, match="unknown secrets"):
        functions.declare("f_unknown_secret", memory_mb=128, timeout_s=3, why="test", secrets=("pin",))
    with pytest.raises(ValueError, match="statement_bucket"):
        functions.declare("f_bad_bucket", memory_mb=128, timeout_s=3, why="test", statement_bucket="delete")
    existing = functions.declared()["activation_schedule"]
    assert functions.declare(existing.name, memory_mb=existing.memory_mb, timeout_s=existing.timeout_s,
                             why=existing.why, reserved_concurrency=existing.reserved_concurrency,
                             reads=existing.reads, writes=existing.writes, sends=existing.sends) == existing
    with pytest.raises(ValueError, match="declared twice"):
        functions.declare(existing.name, memory_mb=existing.memory_mb * 2, timeout_s=existing.timeout_s,
                          why=existing.why)
    assert "f_unknown_secret" not in functions.declared()


def test_writes_imply_reads():
    spec = functions.FunctionSpec("f", 128, 3, "test", reads=("phases",), writes=("accounts",))
    assert spec.tables == ("accounts", "phases")


def test_the_local_pump_keeps_the_schedules_proportions():
    from devstack.pump import ticks_between

    assert ticks_between("rate(1 minute)") == 1
    assert ticks_between("rate(1 hour)") == 60 and ticks_between("rate(2 hours)") == 120
    assert ticks_between("rate(1 day)") == 1440
    assert ticks_between("cron(0 3 * * ? *)") == 1
