"""Declarative validation: each bad value is a 400 naming its dotted field."""
from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import InvalidRequestError
from chalicelib.limits import REQUEST_AMOUNT_SATANG_MAX as AMOUNT_SATANG_MAX
from chalicelib.validation import (
    PAGE_QUERY,
    BankCode,
    Cid,
    Const,
    Date,
    DateTime,
    District,
    Enum,
    ListOf,
    Money,
    Obj,
    Opt,
    Params,
    Phone,
    Pin,
    Str,
    UrlInt,
    parse_json,
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


@pytest.mark.parametrize("typed", ["0812345678", "081-234-5678", "081 234 5678", "+66812345678", "+66 81 234 5678",
                                   " 0812345678 "])
def test_a_phone_is_returned_as_its_ten_digits(typed: str) -> None:
    assert Phone().parse(typed, "phone") == "0812345678"


@pytest.mark.parametrize("typed", ["021234567", "0712345678", "+6681234567", "66812345678", "08123456789",
                                   "08123456７8"])
def test_a_phone_that_is_no_thai_mobile_is_refused(typed: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        Phone().parse(typed, "phone")
    assert caught.value.field == "phone" and "0812345678" in caught.value.message


@pytest.mark.parametrize("pin, why", [("98765", "6 digits"), ("abcdef", "6 digits"), ("１２３４５６", "6 digits"),
                                      ("111111", "repeated"), ("234567", "run"), ("654321", "run"),
                                      ("890123", "run")])
def test_a_weak_pin_is_refused_saying_why(pin: str, why: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        Pin().parse(pin, "pin")
    assert caught.value.field == "pin" and why in caught.value.message
    assert pin not in caught.value.message


def test_a_cid_is_never_echoed_in_a_message() -> None:
    spec = Obj({"cids": ListOf(Cid(), 1, 5)})
    for bad in ("1101700230706", "110170023070", "1101-70023-0708"):
        with pytest.raises(InvalidRequestError) as caught:
            spec.parse({"cids": ["1101700230708", bad]}, "")
        assert caught.value.field == "cids[1]"
        assert bad not in caught.value.message and "1101700230708" not in caught.value.message


def test_the_page_query_parses_text_and_fills_the_default() -> None:
    assert PAGE_QUERY.parse({}, "") == {"limit": 50}
    assert PAGE_QUERY.parse({"limit": "100", "cursor": "abc"}, "") == {"limit": 100, "cursor": "abc"}
    for query, field in (({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "5x"}, "limit"),
                         ({"limit": "-1"}, "limit"), ({"limit": "99999999999"}, "limit"), ({"cursor": ""}, "cursor"),
                         ({"page": "2"}, "page")):
        with pytest.raises(InvalidRequestError) as caught:
            PAGE_QUERY.parse(query, "")
        assert caught.value.field == field, query
    assert PAGE_QUERY.parameters() == [
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
        {"name": "cursor", "in": "query", "required": False,
         "schema": {"type": "string", "minLength": 1, "maxLength": 512,
                    "description": "the next_cursor of the page before"}}]


def test_path_parameters_are_required() -> None:
    assert Params("path", {"id": Str(1, 9)}).parameters()[0]["required"] is True
    with pytest.raises(ValueError):
        Params("path", {"id": Opt(Str())})
    with pytest.raises(ValueError):
        Params("header", {"id": Str()})
    assert UrlInt(1, 9).parse("7", "n") == 7


def test_a_stripped_string_refuses_blank_and_returns_it_trimmed() -> None:
    assert Str(1, 10, strip=True).parse("  Som Tam ", "name") == "Som Tam"
    with pytest.raises(InvalidRequestError):
        Str(1, 10, strip=True).parse("   ", "name")


def test_schemas_are_openapi_3_0() -> None:
    assert Const(True).schema() == {"type": "boolean", "enum": [True]}  # 3.0 has no const
    assert Obj({"a": Str()}, closed=False).schema()["additionalProperties"] is True
    assert Obj({"a": Str()}, closed=False).parse({"a": "x", "other": 1}, "") == {"a": "x"}


def test_district_codes_are_the_real_dopa_list() -> None:
    """Review finding: any [1-9]\\d{3} passed (9,000 codes); DOPA has 928."""
    import geothai

    from chalicelib.validation import District

    valid = [d.code for p in geothai.provinces() for d in geothai.districts(p.code)]
    assert len(valid) == 928
    spec = District()
    assert all(spec.parse(code, "district") == code for code in valid)
    refused = 0
    for n in range(1000, 10_000):
        try:
            spec.parse(str(n), "district")
        except InvalidRequestError:
            refused += 1
    assert refused == 9000 - 928
