"""A gate on chalicelib's source: DynamoDB's cancellation reasons are read in
one place (chalicelib/db.py's Transaction, which matches them to the items
in the order it sent them), never by position, and a failed single-item
condition is read one way (``db.condition_failed``)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
DB_MODULE = CHALICELIB / "db.py"

# Anywhere, db.py included: a list of reasons or failures read by index.
POSITIONAL = re.compile(r"\b(reasons|failed|cancellation_reasons|CancellationReasons\"?\]?)\s*\[\s*-?\d+\s*\]")
# Lists of that name that are not DynamoDB's answer.
NOT_CANCELLATIONS = {"activation/progress.py": "the stop reasons of an activation's runs"}
# Only db.py may touch these: the raw reasons, the raw error code, PynamoDB's
# TransactWrite (which sends puts before updates, whatever the order of the
# calls) and the low-level transaction call.
DB_ONLY = {
    "cancellation reasons": re.compile(r"cancellation_reasons|CancellationReasons"),
    "the raw error code": re.compile(r"ConditionalCheckFailed|cause_response_code"),
    "PynamoDB's TransactWrite": re.compile(r"\bTransactWrite\b|TransactWriteError"),
    "a TransactWriteItems call": re.compile(r"transact_write_items"),
}


def _sources() -> list[Path]:
    return sorted(CHALICELIB.rglob("*.py"))


def test_no_list_of_reasons_or_failures_is_read_by_position():
    found = [f"{path.relative_to(CHALICELIB)}:{n}: {line.strip()}"
             for path in _sources() if str(path.relative_to(CHALICELIB)) not in NOT_CANCELLATIONS
             for n, line in enumerate(path.read_text().splitlines(), 1) if POSITIONAL.search(line)]
    assert not found, found


@pytest.mark.parametrize("what", sorted(DB_ONLY))
def test_only_the_db_layer_reads_what_dynamodb_says_about_a_condition(what):
    pattern = DB_ONLY[what]
    found = [f"{path.relative_to(CHALICELIB)}:{n}: {line.strip()}"
             for path in _sources() if path != DB_MODULE
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, f"{what} outside chalicelib/db.py: {found}"


def test_the_gate_catches_the_spellings_it_replaced():
    # The lines this issue removed, as they were written: each must trip the gate.
    removed = [
        'if reasons and reasons[0] == "ConditionalCheckFailed":',
        'if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":',
        'what = "owner" if failed and failed[0] else "tax_id"',
    ]
    assert all(POSITIONAL.search(line) for line in removed)
    assert DB_ONLY["the raw error code"].search('if exc.cause_response_code == "ConditionalCheckFailedException":')
    assert DB_ONLY["PynamoDB's TransactWrite"].search("with TransactWrite(connection=db.connection()) as tx:")
