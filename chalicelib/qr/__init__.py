"""Dynamic, signed, single-use QR codes in the EMVCo merchant-presented format."""
from chalicelib.qr.codec import (
    QR_TTL_S,
    QrClaims,
    QrError,
    QrExpiredError,
    QrInvalidError,
    baht_text,
    crc16_ccitt_false,
    issue_qr,
    key_id,
    parse_tlv,
    satang_of,
    verify_qr,
)

__all__ = [
    "QR_TTL_S",
    "QrClaims",
    "QrError",
    "QrExpiredError",
    "QrInvalidError",
    "baht_text",
    "crc16_ccitt_false",
    "issue_qr",
    "parse_tlv",
    "satang_of",
    "key_id",
    "verify_qr",
]
