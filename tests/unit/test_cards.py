"""Card codes and PIN rules: pure, no I/O."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import InvalidRequestError
from chalicelib.registration.cards import (
    CROCKFORD_ALPHABET,
    hash_pin,
    new_card_code,
    normalize_card_code,
    pin_matches,
    validate_pin,
)

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_a_new_card_code_is_three_groups_of_four_crockford_symbols():
    for _ in range(200):
        code = new_card_code()
        assert CODE.match(code), code
        assert normalize_card_code(code) == code


def test_card_codes_do_not_repeat():
    assert len({new_card_code() for _ in range(5_000)}) == 5_000


def test_a_typed_code_is_read_in_any_case_without_dashes_and_with_look_alikes():
    code = new_card_code()
    typed = code.replace("-", " ").lower().replace("1", "l").replace("0", "o")
    assert normalize_card_code(typed) == code


@given(st.data())
def test_every_single_symbol_typo_is_caught_by_the_check_symbol(data):
    code = new_card_code().replace("-", "")
    position = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    other = data.draw(st.sampled_from([c for c in CROCKFORD_ALPHABET if c != code[position]]))
    typo = code[:position] + other + code[position + 1:]
    with pytest.raises(InvalidRequestError) as caught:
        normalize_card_code(typo)
    assert caught.value.field == "card_code"


@pytest.mark.parametrize("bad", ["", "ABCD-EFGH", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKM!", 12345, None])
def test_malformed_codes_are_refused_naming_the_field(bad):
    with pytest.raises(InvalidRequestError) as caught:
        normalize_card_code(bad)
    assert caught.value.field == "card_code"


@pytest.mark.parametrize("pin", ["135790", "204863", "112233", "123457", "000001"])
def test_good_pins_are_accepted(pin):
    assert validate_pin(pin) == pin


@pytest.mark.parametrize("pin", [
    "000000", "999999",                      # one digit repeated
    "123456", "234567", "654321", "890123",  # runs, also across 9-0
    "09876", "1234567", "12345a", "１２３４５７", 123457, None,
])
def test_weak_or_malformed_pins_are_refused_naming_the_field(pin):
    with pytest.raises(InvalidRequestError) as caught:
        validate_pin(pin)
    assert caught.value.field == "pin"


def test_a_pin_is_stored_only_as_an_argon2id_hash_that_checks_it():
    stored = hash_pin("135790")
    assert stored.startswith("$argon2id$") and "135790" not in stored
    assert pin_matches(stored, "135790")
    assert not pin_matches(stored, "135791")
    assert not pin_matches("not-a-hash", "135790")
