"""The dynamic QR: EMVCo TLV shape, CRC, signature, expiry, amounts."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.qr import (
    QR_TTL_S,
    QrExpiredError,
    QrInvalidError,
    baht_text,
    crc16_ccitt_false,
    issue_qr,
    parse_tlv,
    satang_of,
    verify_qr,
)

KEY = b"k" * 32
REQUEST_MAX = 1_000_000_000
NOW_S = 1_750_000_000

# Published PromptPay payloads (dtinth/promptpay-qr test suite): a generic
# EMVCo reader must read them and agree with their CRC.
PROMPTPAY_PHONE = "00020101021129370016A000000677010111011300668012345675802TH530376463046197"
PROMPTPAY_AMOUNT = "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469"


def _crc_ok(payload: str) -> bool:
    return f"{crc16_ccitt_false(payload[:-4].encode()):04X}" == payload[-4:]


def test_crc16_ccitt_false_check_value():
    # The catalogue check value of CRC-16/CCITT-FALSE over "123456789".
    assert crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize("payload", [PROMPTPAY_PHONE, PROMPTPAY_AMOUNT])
def test_reads_published_promptpay_payloads(payload):
    fields = parse_tlv(payload)
    assert fields["00"] == "01"
    assert fields["53"] == "764" and fields["58"] == "TH"
    account = parse_tlv(fields["29"])
    assert account["00"] == "A000000677010111"
    assert _crc_ok(payload)


def test_promptpay_amount_field_in_satang():
    assert satang_of(parse_tlv(PROMPTPAY_AMOUNT)["54"]) == 422


def test_our_payload_is_standard_emvco():
    payload, claims = issue_qr(merchant_id="m_abc", merchant_name="Som Tam Shop", city="1001",
                               key=KEY, now_s=NOW_S, amount_satang=40000)
    fields = parse_tlv(payload)
    assert next(iter(fields)) == "00" and list(fields)[-1] == "63"
    assert fields["01"] == "12"
    assert fields["54"] == "400.00"
    assert fields["59"] == "Som Tam Shop"
    assert parse_tlv(fields["50"])["01"] == "m_abc" and "30" not in fields and "29" not in fields
    assert parse_tlv(fields["62"])["05"] == claims.nonce
    assert _crc_ok(payload)
    assert claims.expires_at_s == NOW_S + QR_TTL_S


def test_round_trip_with_and_without_amount():
    for amount in (None, 1, 99, 100, 123456):
        payload, issued = issue_qr(merchant_id="m_1", merchant_name="A", city="1001", key=KEY,
                                   now_s=NOW_S, amount_satang=amount)
        assert verify_qr(payload, key=KEY, now_s=NOW_S + 1) == issued


def test_thai_name_goes_to_language_template():
    payload, _ = issue_qr(merchant_id="m_1", merchant_name="ร้านส้มตำ", city="1001", key=KEY, now_s=NOW_S)
    fields = parse_tlv(payload)
    assert fields["59"] == "m_1"
    assert parse_tlv(fields["64"])["01"] == "ร้านส้มตำ"
    assert verify_qr(payload, key=KEY, now_s=NOW_S).merchant_id == "m_1"


def test_nonces_are_unique():
    nonces = {issue_qr(merchant_id="m", merchant_name="A", city="1001", key=KEY, now_s=NOW_S)[1].nonce
              for _ in range(200)}
    assert len(nonces) == 200


def test_every_changed_character_is_refused():
    payload, _ = issue_qr(merchant_id="m_1", merchant_name="Shop", city="1001", key=KEY, now_s=NOW_S,
                          amount_satang=500)
    for i in range(len(payload)):
        changed = payload[:i] + ("1" if payload[i] != "1" else "2") + payload[i + 1:]
        with pytest.raises(QrInvalidError):
            verify_qr(changed, key=KEY, now_s=NOW_S)


def _recrc(body: str) -> str:
    body = body[:-4]
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


def test_changed_amount_with_recomputed_crc_fails_the_signature():
    payload, _ = issue_qr(merchant_id="m_1", merchant_name="Shop", city="1001", key=KEY, now_s=NOW_S,
                          amount_satang=500)
    forged = _recrc(payload.replace("54045.00", "54049.00"))
    assert _crc_ok(forged)
    with pytest.raises(QrInvalidError) as err:
        verify_qr(forged, key=KEY, now_s=NOW_S)
    assert err.value.code == "qr_invalid" and err.value.details["reason"] == "bad signature"


def test_other_key_is_refused():
    payload, _ = issue_qr(merchant_id="m_1", merchant_name="Shop", city="1001", key=KEY, now_s=NOW_S)
    with pytest.raises(QrInvalidError):
        verify_qr(payload, key=b"x" * 32, now_s=NOW_S)


def test_wrong_crc_is_refused():
    payload, _ = issue_qr(merchant_id="m_1", merchant_name="Shop", city="1001", key=KEY, now_s=NOW_S)
    with pytest.raises(QrInvalidError) as err:
        verify_qr(payload[:-4] + ("0000" if payload[-4:] != "0000" else "0001"), key=KEY, now_s=NOW_S)
    assert err.value.details["reason"] == "CRC mismatch"


@pytest.mark.parametrize("junk", ["", "hello", 42, None, "0002", PROMPTPAY_PHONE, "0" * 2000])
def test_foreign_or_junk_payloads_are_invalid(junk):
    with pytest.raises(QrInvalidError):
        verify_qr(junk, key=KEY, now_s=NOW_S)


def test_expiry():
    payload, claims = issue_qr(merchant_id="m_1", merchant_name="Shop", city="1001", key=KEY, now_s=NOW_S)
    verify_qr(payload, key=KEY, now_s=claims.expires_at_s - 1)
    with pytest.raises(QrExpiredError) as err:
        verify_qr(payload, key=KEY, now_s=claims.expires_at_s)
    assert err.value.code == "qr_expired" and err.value.status == 422


@pytest.mark.parametrize("satang,text", [(1, "0.01"), (10, "0.10"), (100, "1.00"), (40000, "400.00"),
                                         (1_000_000_000, "10000000.00"), (123456789, "1234567.89")])
def test_baht_text(satang, text):
    assert baht_text(satang) == text
    assert satang_of(text) == satang


@given(st.integers(min_value=1, max_value=10**12 - 1))
def test_amount_text_round_trips(satang):
    assert satang_of(baht_text(satang)) == satang


@pytest.mark.parametrize("text", ["1.234", "-1", "1e3", "01.00", "", "1.", ".5", " 1"])
def test_bad_amount_text(text):
    with pytest.raises(ValueError):
        satang_of(text)


def test_parse_tlv_refuses_short_and_repeated_fields():
    for bad in ["0002", "00020", "000201000201", "ab0201"]:
        with pytest.raises(ValueError):
            parse_tlv(bad)


# -- the review's QR findings ----------------------------------------------------------


def test_the_signed_template_names_its_key_and_has_room() -> None:
    from chalicelib.qr import key_id

    payload, _ = issue_qr(merchant_id="m_" + "a" * 24, merchant_name="A", city="Phra Nakhon", key=KEY,
                          now_s=NOW_S, amount_satang=REQUEST_MAX)
    signed = parse_tlv(parse_tlv(payload)["80"])
    assert signed["04"] == key_id(KEY) and len(parse_tlv(payload)["80"]) <= 90
    assert list(signed) == ["00", "01", "02", "04", "03"]
    assert KEY.hex()[:6] not in signed["04"]


def test_during_a_rotation_a_qr_of_either_key_verifies() -> None:
    old, new = b"o" * 32, b"n" * 32
    by_old, _ = issue_qr(merchant_id="m_1", merchant_name="A", city="Dusit", key=old, now_s=NOW_S)
    by_new, _ = issue_qr(merchant_id="m_1", merchant_name="A", city="Dusit", key=new, now_s=NOW_S)
    for payload in (by_old, by_new):
        assert verify_qr(payload, keys=[new, old], now_s=NOW_S).merchant_id == "m_1"
    with pytest.raises(QrInvalidError) as caught:
        verify_qr(by_old, keys=[new], now_s=NOW_S)  # the old key retired
    assert "does not hold" in caught.value.details["reason"]


def test_the_merchant_city_is_the_districts_name() -> None:
    from chalicelib.payments.service import district_city

    assert district_city("1001") == "Phra Nakhon"
    payload, _ = issue_qr(merchant_id="m_1", merchant_name="A", city=district_city("5001"), key=KEY, now_s=NOW_S)
    assert parse_tlv(payload)["60"] == "Mueang Chiang M"  # EMVCo: at most 15 characters
