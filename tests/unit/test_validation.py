"""Declarative validation: each bad value is a 400 naming its dotted field."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import InvalidRequestError
from chalicelib.validation import (
    AMOUNT_SATANG_MAX, BankCode, Cid, Const, Date, DateTime, District, Enum, ListOf, Money, Obj, Opt, Phone,
    Str, parse_json,
)

SPEC = Obj({
    "phase_id": Str(1, 64), "consent": Const(True), "phone": Opt(Phone()),
    "amount_satang": Opt(Money()), "cid": Opt(Cid()), "district": Opt(District()),
    "bank": Opt(Obj({"code": BankCode(), "account_no": Str(10, 12, r"[0-9]+", "10 to 12 digits")})),
    "day": Opt(Date()), "at": Opt(DateTime()), "kind": Opt(Enum("a", "b")),
    "items": Opt(ListOf(Obj({"n": Money()}), 1, 3)),
})
GOOD = {"phase_id": "p3", "consent": True}


def field_of(body: Any) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        SPEC.parse(body, "")
    return caught.value.field


def test_good_body_is_returned() -> None:
    assert SPEC.parse({**GOOD, "amount_satang": 100, "cid": "1101700230708"}, "") == {
        **GOOD, "amount_satang": 100, "cid": "1101700230708"}


@pytest.mark.parametrize("body,field", [
    ({"consent": True}, "phase_id"),
    ({**GOOD, "extra": 1}, "extra"),
    ({**GOOD, "consent": False}, "consent"),
    ({**GOOD, "consent": 1}, "consent"),
    ({**GOOD, "amount_satang": 1.5}, "amount_satang"),
    ({**GOOD, "amount_satang": 100.0}, "amount_satang"),
    ({**GOOD, "amount_satang": "100"}, "amount_satang"),
    ({**GOOD, "amount_satang": True}, "amount_satang"),
    ({**GOOD, "amount_satang": 0}, "amount_satang"),
    ({**GOOD, "amount_satang": AMOUNT_SATANG_MAX + 1}, "amount_satang"),
    ({**GOOD, "cid": "1101700230706"}, "cid"),
    ({**GOOD, "cid": "110170023070"}, "cid"),
    ({**GOOD, "district": "0101"}, "district"),
    ({**GOOD, "phone": "12345"}, "phone"),
    ({**GOOD, "bank": {"code": "999", "account_no": "1234567890"}}, "bank.code"),
    ({**GOOD, "bank": {"code": "004", "account_no": "12"}}, "bank.account_no"),
    ({**GOOD, "bank": {"code": "004", "account_no": "1234567890", "x": 1}}, "bank.x"),
    ({**GOOD, "day": "2025-02-30"}, "day"),
    ({**GOOD, "at": "2025-03-18T09:00:00"}, "at"),
    ({**GOOD, "kind": "c"}, "kind"),
    ({**GOOD, "items": []}, "items"),
    ({**GOOD, "items": [{"n": 1}, {"n": -1}]}, "items[1].n"),
    ([], "body"),
])
def test_bad_values_name_the_field(body: Any, field: str) -> None:
    assert field_of(body) == field


def test_message_names_the_field_and_the_fix() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        SPEC.parse({**GOOD, "amount_satang": 1.5}, "")
    assert "amount_satang" in caught.value.message and "satang" in caught.value.message
    assert caught.value.body()["error"]["details"]["field"] == "amount_satang"


def test_money_bound_is_accepted() -> None:
    assert Money().parse(AMOUNT_SATANG_MAX, "amount_satang") == AMOUNT_SATANG_MAX


@pytest.mark.parametrize("raw", [None, b"", b"{", b"\xff\xfe", b"NaN", b"[1,]"])
def test_parse_json_rejects_malformed(raw: Any) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_json(raw)
    assert caught.value.field == "body"


def test_schema_reflects_the_spec() -> None:
    schema = SPEC.schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["phase_id", "consent"]
    assert schema["properties"]["amount_satang"]["type"] == "integer"
