"""EMVCo merchant-presented QR payloads, as Thai QR Payment uses them, signed.

A payload is a string of TLV fields: a 2-digit tag, a 2-digit length (in
characters) and the value; templates nest the same way. The dynamic QR a shop
shows for one sale carries:

    00 "01"                      payload format indicator
    01 "12"                      point of initiation: dynamic (one sale)
    50 {00 GUID, 01 merchant id} merchant account information, on a tag Thai
                                 QR Payment does not assign (29 is PromptPay
                                 credit transfer, 30 PromptPay bill payment,
                                 which Thai bank apps would try to pay)
    52 MCC, 53 "764" (THB), 54 amount in baht "123.45" (optional)
    58 "TH", 59 merchant name (ASCII, <= 25), 60 merchant city: the shop's
    district by name (ASCII, <= 15, from DOPA's list), as EMVCo means it
    62 {05 reference label = the nonce}
    64 {00 "th", 01 name in Thai}  only when the name is not plain ASCII
    80 {00 GUID, 01 expiry (unix s), 02 nonce, 04 key id, 03 signature}
    63 CRC-16/CCITT-FALSE over everything before its value, "6304" included

The signature is HMAC-SHA256 under the QR signing key, truncated to 128
bits (22 characters), over every character of the payload before the
signature's own sub-field, so that any change to any field before it
(amount, merchant, expiry, nonce, key id) is detected; the CRC then catches
transport damage as any EMVCo reader expects. The key id (``key_id``: a
one-way digest of the key, never the key) names the key that signed, so
that the signing key can be rotated: during a rotation a QR of either key
verifies (``verify_qr(..., keys=[new, old])``), and template 80 stays well
under the TLV maximum of 99 characters. The nonce (128
random bits) makes each QR unique, and the payment records it once, so a
copied or forwarded QR works at most once.

Pure functions: no clock, no settings, no I/O; callers pass the key and time.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from chalicelib.errors import RuleError
from chalicelib.limits import QR_PAYLOAD_CHARS_MAX, REQUEST_AMOUNT_SATANG_MAX

__all__ = [
    "QR_TTL_S",
    "QR_TTL_S_MAX",
    "QR_GUID",
    "QrClaims",
    "QrError",
    "QrInvalidError",
    "QrExpiredError",
    "crc16_ccitt_false",
    "parse_tlv",
    "tlv",
    "baht_text",
    "satang_of",
    "issue_qr",
    "verify_qr",
    "key_id",
]

# A face-to-face sale: the customer scans within a minute or two.
QR_TTL_S = 120
QR_TTL_S_MAX = 600
# A QR's amount is what one request pays: at most REQUEST_AMOUNT_SATANG_MAX
# ("10000000.00", within the amount field's 13 characters). A payload is at
# most QR_PAYLOAD_CHARS_MAX: far above ours (~250), far below what would
# cost anything to look at.
QR_GUID = "TH.GO.DW"  # ours, in templates 50 and 80
SIGNATURE_BYTES = 16  # HMAC-SHA256 truncated to 128 bits
KEY_ID_CHARS = 6
NONCE_BYTES = 16  # 128 bits
MERCHANT_NAME_CHARS_MAX = 25
CITY_CHARS_MAX = 15
CURRENCY_THB = "764"
COUNTRY_TH = "TH"
FORMAT_INDICATOR = "01"
POINT_DYNAMIC = "12"
DEFAULT_MCC = "5999"

_TAG_ACCOUNT = "50"
_TAG_SIGNED = "80"
_TAG_CRC = "63"
_CRC_HEADER = _TAG_CRC + "04"
_AMOUNT_RE = re.compile(r"^(0|[1-9][0-9]{0,9})(?:\.([0-9]{1,2}))?$")
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")


class QrError(RuleError):
    pass


class QrInvalidError(QrError):
    def __init__(self, why: str) -> None:
        super().__init__("qr_invalid", "This QR code is not a valid payment QR; ask the shop to show a new one.",
                         {"reason": why})


class QrExpiredError(QrError):
    def __init__(self, expired_at_s: int) -> None:
        super().__init__("qr_expired", "This QR code has expired; ask the shop to show a new one.",
                         {"expired_at_s": expired_at_s})


@dataclass(frozen=True)
class QrClaims:
    merchant_id: str
    nonce: str
    expires_at_s: int
    amount_satang: int | None


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no
    xor-out), EMVCo's QR checksum: the standard library's CRC-CCITT started
    at 0xFFFF is exactly it, in C."""
    return binascii.crc_hqx(data, 0xFFFF)


def tlv(tag: str, value: str) -> str:
    if len(tag) != 2 or not tag.isdigit():
        raise ValueError(f"tag {tag!r} is not two digits")
    if not 0 < len(value) <= 99:
        raise ValueError(f"field {tag} must be 1..99 characters, got {len(value)}")
    return f"{tag}{len(value):02d}{value}"


def parse_tlv(payload: str) -> dict[str, str]:
    """Generic EMVCo TLV: ``{tag: value}``; a template's value is parsed again
    with this function. Raises ValueError on any malformed field or a tag
    that repeats."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(payload):
        header = payload[position:position + 4]
        if len(header) < 4 or not header.isdigit():
            raise ValueError(f"bad field header at {position}")
        tag, length = header[:2], int(header[2:])
        value = payload[position + 4:position + 4 + length]
        if length == 0 or len(value) != length:
            raise ValueError(f"field {tag} is cut short")
        if tag in fields:
            raise ValueError(f"field {tag} repeats")
        fields[tag] = value
        position += 4 + length
    return fields


def baht_text(amount_satang: int) -> str:
    """Satang to the QR's amount text, integers only: 12345 -> "123.45"."""
    if isinstance(amount_satang, bool) or not isinstance(amount_satang, int) or amount_satang <= 0:
        raise ValueError("amount_satang must be a positive integer")
    baht, satang = divmod(amount_satang, 100)
    return f"{baht}.{satang:02d}"


def satang_of(text: str) -> int:
    """The QR's amount text to satang, integers only: "4.2" -> 420."""
    match = _AMOUNT_RE.match(text)
    if match is None:
        raise ValueError("amount is not a decimal of at most 2 places")
    fraction = (match.group(2) or "").ljust(2, "0")
    return int(match.group(1)) * 100 + int(fraction or "0")


def _crc_text(body: str) -> str:
    return f"{crc16_ccitt_false(body.encode('utf-8')):04X}"


def _signature(key: bytes, signed: str) -> str:
    digest = hmac.new(key, signed.encode("utf-8"), hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def key_id(key: bytes) -> str:
    """The id of a signing key in the QR: a one-way digest, so that a QR
    names its key without saying anything about it."""
    return hashlib.sha256(b"wallet-qr-key-id:" + key).hexdigest()[:KEY_ID_CHARS]


def _check_key(key: bytes) -> None:
    if len(key) < 16:
        raise ValueError("the QR signing key must be at least 16 bytes")


def issue_qr(
    *,
    merchant_id: str,
    merchant_name: str,
    city: str,
    key: bytes,
    now_s: int,
    amount_satang: int | None = None,
    mcc: str = DEFAULT_MCC,
    ttl_s: int = QR_TTL_S,
    nonce: str | None = None,
) -> tuple[str, QrClaims]:
    """Build a signed dynamic QR payload for one sale."""
    _check_key(key)
    if not 0 < ttl_s <= QR_TTL_S_MAX:
        raise ValueError(f"ttl_s must be 1..{QR_TTL_S_MAX}")
    if amount_satang is not None and amount_satang > REQUEST_AMOUNT_SATANG_MAX:
        raise ValueError(f"amount_satang must be at most {REQUEST_AMOUNT_SATANG_MAX}")
    nonce = nonce or secrets.token_urlsafe(NONCE_BYTES)
    expires_at_s = now_s + ttl_s
    ascii_name = _PRINTABLE_ASCII.match(merchant_name) is not None and merchant_name.strip() != ""
    parts = [
        tlv("00", FORMAT_INDICATOR),
        tlv("01", POINT_DYNAMIC),
        tlv(_TAG_ACCOUNT, tlv("00", QR_GUID) + tlv("01", merchant_id)),
        tlv("52", mcc),
        tlv("53", CURRENCY_THB),
    ]
    if amount_satang is not None:
        parts.append(tlv("54", baht_text(amount_satang)))
    parts += [
        tlv("58", COUNTRY_TH),
        # A name in Thai script goes into the alternate-language template 64;
        # field 59 must stay readable by every EMVCo reader.
        tlv("59", merchant_name[:MERCHANT_NAME_CHARS_MAX] if ascii_name else merchant_id[:MERCHANT_NAME_CHARS_MAX]),
        tlv("60", city[:CITY_CHARS_MAX]),
        tlv("62", tlv("05", nonce)),
    ]
    if not ascii_name:
        parts.append(tlv("64", tlv("00", "th") + tlv("01", merchant_name[:MERCHANT_NAME_CHARS_MAX])))
    head = "".join(parts)
    signature_length = len(_signature(key, ""))
    signed_fields = (tlv("00", QR_GUID) + tlv("01", str(expires_at_s)) + tlv("02", nonce)
                     + tlv("04", key_id(key)))
    template_length = len(signed_fields) + 4 + signature_length
    signed = head + f"{_TAG_SIGNED}{template_length:02d}" + signed_fields + f"03{signature_length:02d}"
    body = signed + _signature(key, signed) + _CRC_HEADER
    payload = body + _crc_text(body)
    return payload, QrClaims(merchant_id, nonce, expires_at_s, amount_satang)


def _accepted(key: bytes | None, keys: tuple[bytes, ...] | list[bytes]) -> list[bytes]:
    accepted = ([key] if key is not None else []) + list(keys)
    if not accepted:
        raise ValueError("verify_qr needs at least one key")
    for one in accepted:
        _check_key(one)
    return accepted


def verify_qr(payload: object, *, key: bytes | None = None, keys: tuple[bytes, ...] | list[bytes] = (),
              now_s: int) -> QrClaims:
    """The claims of a QR this backend issued, or QrInvalidError / QrExpiredError.

    ``key`` and ``keys``: the signing keys accepted now (during a rotation
    the new and the old); the QR's key id picks one. Checks, in order:
    shape, CRC, signature (constant time), then expiry, so that a forged QR
    never learns whether its expiry would pass.
    """
    accepted = _accepted(key, keys)
    if not isinstance(payload, str) or not 0 < len(payload) <= QR_PAYLOAD_CHARS_MAX:
        raise QrInvalidError("not a QR payload")
    try:
        fields = parse_tlv(payload)
    except ValueError as exc:
        raise QrInvalidError("malformed") from exc
    if list(fields)[-1] != _TAG_CRC or not payload.endswith(_CRC_HEADER + fields[_TAG_CRC]):
        raise QrInvalidError("no CRC at the end")
    body = payload[:-4]
    if not hmac.compare_digest(_crc_text(body), fields[_TAG_CRC].upper()):
        raise QrInvalidError("CRC mismatch")
    signed_template = fields.get(_TAG_SIGNED)
    if signed_template is None or list(fields)[-2] != _TAG_SIGNED:
        raise QrInvalidError("not signed by this program")
    try:
        signed_fields = parse_tlv(signed_template)
        account = parse_tlv(fields.get(_TAG_ACCOUNT, ""))
    except ValueError as exc:
        raise QrInvalidError("malformed template") from exc
    signature = signed_fields.get("03")
    if signed_fields.get("00") != QR_GUID or signature is None or list(signed_fields)[-1] != "03":
        raise QrInvalidError("not signed by this program")
    signer = next((k for k in accepted if key_id(k) == signed_fields.get("04")), None)
    if signer is None:
        raise QrInvalidError("signed with a key this program does not hold")
    # The signature covers everything before its own value ("03LL" included).
    signed = body[:len(body) - len(_CRC_HEADER) - len(signature)]
    if not hmac.compare_digest(_signature(signer, signed), signature):
        raise QrInvalidError("bad signature")
    # Signed: every field below was written by this backend.
    if (fields.get("00") != FORMAT_INDICATOR or fields.get("01") != POINT_DYNAMIC
            or fields.get("53") != CURRENCY_THB or account.get("00") != QR_GUID or "01" not in account):
        raise QrInvalidError("not a dynamic payment QR of this program")
    try:
        expires_at_s = int(signed_fields["01"])
        amount = satang_of(fields["54"]) if "54" in fields else None
    except (KeyError, ValueError) as exc:
        raise QrInvalidError("malformed signed fields") from exc
    nonce = signed_fields.get("02")
    if not nonce:
        raise QrInvalidError("no nonce")
    if now_s >= expires_at_s:
        raise QrExpiredError(expires_at_s)
    return QrClaims(account["01"], nonce, expires_at_s, amount)
