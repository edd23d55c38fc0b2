"""Idempotency-Key parsing, scoping and request fingerprints (no I/O)."""
from __future__ import annotations

import pytest

from chalicelib.auth import Principal
from chalicelib.errors import InvalidRequestError
from chalicelib.idempotency import fingerprint, parse_idempotency_key, scoped_id


@pytest.mark.parametrize("key", ["a", "A-b_9", "x" * 64])
def test_good_keys(key: str) -> None:
    assert parse_idempotency_key({"idempotency-key": key}) == key
    assert parse_idempotency_key({"Idempotency-Key": key}) == key


@pytest.mark.parametrize("headers", [{}, {"idempotency-key": ""}, {"idempotency-key": "x" * 65},
                                     {"idempotency-key": "a b"}, {"idempotency-key": "é"},
                                     {"idempotency-key": "a/b"}])
def test_bad_keys_name_the_header(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_idempotency_key(headers)
    assert caught.value.field == "Idempotency-Key"
    assert "Idempotency-Key" in caught.value.message


def test_scoped_per_caller_without_personal_data() -> None:
    alice = Principal("cid-1101700230708", "citizen", {})
    bob = Principal("cid-2", "citizen", {})
    shop = Principal("cid-1101700230708", "merchant", {})
    ids = {scoped_id("pay", p, "k1") for p in (alice, bob, shop)}
    assert len(ids) == 3
    assert scoped_id("pay", alice, "k1") == scoped_id("pay", alice, "k1")
    assert scoped_id("pay", alice, "k1") != scoped_id("pay", alice, "k2")
    assert all("1101700230708" not in i and i.startswith("pay_") for i in ids)


def test_fingerprint_is_canonical_and_covers_path_and_body() -> None:
    base = fingerprint("POST", "/v1/payments", {"a": 1, "b": [1, 2]})
    assert base == fingerprint("post", "/v1/payments", {"b": [1, 2], "a": 1})
    assert base != fingerprint("POST", "/v1/payments", {"a": 2, "b": [1, 2]})
    assert base != fingerprint("POST", "/v1/merchant-payments", {"a": 1, "b": [1, 2]})
    assert len(base) == 64


def test_fingerprint_leaves_the_pin_out() -> None:
    assert fingerprint("POST", "/p", {"a": 1, "pin": "123456"}) == fingerprint("POST", "/p", {"a": 1, "pin": "999999"})

