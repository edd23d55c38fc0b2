"""A large exclusions import on DynamoDB Local: its batches run in parallel
within the request's deadline, every ID lands once, and a re-import (an
import cut off half-way and sent again) resumes, adding only the rest."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
from stdnum.th import pin as thai_pin

from chalicelib import db
from chalicelib.exclusions.models import ExclusionModel
from chalicelib.exclusions.service import import_list, lists_containing
from chalicelib.pii import hash_id

pytestmark = pytest.mark.integration


def _cids(first: int, count: int) -> list[str]:
    return [body + thai_pin.calc_check_digit(body) for body in (f"1{n:011d}" for n in range(first, first + count))]


def test_a_large_import_lands_every_id_once_and_resumes(ddb_local: Any) -> None:
    part, rest = _cids(1, 3_000), _cids(3_001, 1_000)
    with db.request_deadline():
        assert import_list("prisoners", part) == 3_000
    started = time.monotonic()
    with db.request_deadline():
        assert import_list("prisoners", part + rest) == 1_000  # the cut-off import sent again
    elapsed = time.monotonic() - started
    assert ExclusionModel.count() == 4_000
    assert lists_containing(["prisoners", "welfare_card"], hash_id(rest[-1])) == ["prisoners"]
    assert elapsed < db.REQUEST_DEADLINE_S * 3  # bounded even on a loaded machine


# make test imports this many through the served API; `make bench` (bench/exclusions.py) the full 100,000.
SERVED_IMPORT_IDS = 20_000


def test_a_large_import_over_http_answers_202_at_once_and_the_worker_finishes_it(
        local_api: str, local_pump: Any, mint_token: Any) -> None:
    from bench import exclusions

    ids = exclusions.cids(SERVED_IMPORT_IDS)
    figures = exclusions.measure(local_api, mint_token("operator", mfa=True), ids, list_name="prisoners",
                                 timeout_s=600)
    print(json.dumps({k: v for k, v in figures.items() if k != "import"}))
    assert figures["request_s"] < exclusions.REQUEST_TARGET_S
    shown = figures["import"]
    assert (shown["status"], shown["added"], shown["processed"], shown["errors"]) == (
        "done", SERVED_IMPORT_IDS, SERVED_IMPORT_IDS, [])
    assert ExclusionModel.count() == SERVED_IMPORT_IDS
    assert lists_containing(["prisoners"], hash_id(ids[-1])) == ["prisoners"]
