"""Checks of merchant requests: pure, each failure names the field and the fix."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from stdnum.th import tin

from chalicelib.errors import InvalidRequestError

__all__ = [
    "SIZE_CLASSES",
    "KNOWN_BANK_CODES",
    "ACCOUNT_NO_DIGITS_MIN",
    "ACCOUNT_NO_DIGITS_MAX",
    "NAME_CHARS_MAX",
    "REFERENCE_BATCH_MAX",
    "REVIEW_DECISIONS",
    "RegistrationRequest",
    "ReferenceEntry",
    "parse_registration",
    "parse_reference",
    "parse_review",
    "check_tax_id",
    "check_district",
    "mcc_of",
]

SIZE_CLASSES = ("small", "medium", "large")
# Bank of Thailand 3-digit codes of banks that take government payouts.
KNOWN_BANK_CODES = frozenset({
    "002", "004", "006", "011", "014", "017", "022", "024", "025", "030", "033", "034",
    "066", "067", "069", "070", "071", "073",
})
# Thai deposit account numbers are 10 digits at most banks, 12 at a few
# (GSB, BAAC); anything else is a typing mistake.
ACCOUNT_NO_DIGITS_MIN = 10
ACCOUNT_NO_DIGITS_MAX = 12
NAME_CHARS_MAX = 100
BUSINESS_TYPE_CHARS_MAX = 40
REASON_CHARS_MAX = 500
REFERENCE_BATCH_MAX = 1000
REVIEW_DECISIONS = ("approve", "reject", "suspend")
# Thailand's bounding box, with a margin: a shop elsewhere is a typing mistake.
LAT_RANGE = (5.0, 21.0)
LON_RANGE = (97.0, 106.0)
_DISTRICT_RE = re.compile(r"^[1-9][0-9]{3}$")
_BUSINESS_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Merchant category codes (ISO 18245) of common business types, for the QR.
_MCC = {
    "grocery": "5411", "restaurant": "5812", "food_stall": "5814", "bakery": "5462",
    "pharmacy": "5912", "clothing": "5651", "hardware": "5251", "books": "5942",
    "market_stall": "5499", "convenience": "5499",
}
DEFAULT_MCC = "5999"

_REGISTRATION_FIELDS = {"name", "tax_id", "business_type", "size_class", "district", "location", "bank"}


@dataclass(frozen=True)
class RegistrationRequest:
    name: str
    tax_id: str
    business_type: str
    size_class: str
    district: str
    lat: float
    lon: float
    bank_code: str
    account_no: str


@dataclass(frozen=True)
class ReferenceEntry:
    tax_id: str
    size_class: str
    tax_compliant: bool


def _object(value: Any, field: str, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequestError(field or "body", f"{field or 'the body'} must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        name = f"{field}.{unknown[0]}" if field else unknown[0]
        raise InvalidRequestError(name, f"unknown field {name}; remove it")
    missing = sorted(required - set(value))
    if missing:
        name = f"{field}.{missing[0]}" if field else missing[0]
        raise InvalidRequestError(name, f"{name} is required")
    return value


def _text(value: Any, field: str, max_chars: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_chars:
        raise InvalidRequestError(field, f"{field} must be a non-empty string of at most {max_chars} characters")
    return value.strip()


def check_tax_id(value: Any, field: str = "tax_id") -> str:
    if not isinstance(value, str) or len(value) != 13 or not value.isdigit() or not tin.is_valid(value):
        raise InvalidRequestError(field, f"{field} must be 13 digits with a valid Thai checksum")
    return value


def check_district(value: Any, field: str = "district") -> str:
    if not isinstance(value, str) or not _DISTRICT_RE.match(value):
        raise InvalidRequestError(field, f"{field} must be a 4-digit DOPA district code such as 1001")
    return value


def _size_class(value: Any, field: str) -> str:
    if value not in SIZE_CLASSES:
        raise InvalidRequestError(field, f"{field} must be one of {', '.join(SIZE_CLASSES)}")
    return str(value)


def _coordinate(value: Any, field: str, bounds: tuple[float, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not bounds[0] <= value <= bounds[1]:
        raise InvalidRequestError(field, f"{field} must be a number in {bounds[0]}..{bounds[1]} (a place in Thailand)")
    return float(value)


def parse_registration(body: Any) -> RegistrationRequest:
    body = _object(body, "", _REGISTRATION_FIELDS, _REGISTRATION_FIELDS)
    location = _object(body["location"], "location", {"lat", "lon"}, {"lat", "lon"})
    bank = _object(body["bank"], "bank", {"bank_code", "account_no"}, {"bank_code", "account_no"})
    business_type = body["business_type"]
    if not isinstance(business_type, str) or not _BUSINESS_TYPE_RE.match(business_type):
        raise InvalidRequestError("business_type", "business_type must be a lower-case code such as 'grocery'")
    if bank["bank_code"] not in KNOWN_BANK_CODES:
        raise InvalidRequestError("bank.bank_code", "bank.bank_code must be the 3-digit code of a participating "
                                  f"bank: {', '.join(sorted(KNOWN_BANK_CODES))}")
    account_no = bank["account_no"]
    if (not isinstance(account_no, str) or not account_no.isascii() or not account_no.isdigit()
            or not ACCOUNT_NO_DIGITS_MIN <= len(account_no) <= ACCOUNT_NO_DIGITS_MAX):
        raise InvalidRequestError("bank.account_no", f"bank.account_no must be {ACCOUNT_NO_DIGITS_MIN} to "
                                  f"{ACCOUNT_NO_DIGITS_MAX} digits, without dashes")
    return RegistrationRequest(
        name=_text(body["name"], "name", NAME_CHARS_MAX),
        tax_id=check_tax_id(body["tax_id"]),
        business_type=business_type,
        size_class=_size_class(body["size_class"], "size_class"),
        district=check_district(body["district"]),
        lat=_coordinate(location["lat"], "location.lat", LAT_RANGE),
        lon=_coordinate(location["lon"], "location.lon", LON_RANGE),
        bank_code=bank["bank_code"],
        account_no=account_no,
    )


def parse_reference(body: Any) -> list[ReferenceEntry]:
    body = _object(body, "", {"merchants"}, {"merchants"})
    entries = body["merchants"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= REFERENCE_BATCH_MAX:
        raise InvalidRequestError("merchants", f"merchants must be a list of 1..{REFERENCE_BATCH_MAX} entries; "
                                  "send more in further requests")
    out = []
    for index, entry in enumerate(entries):
        where = f"merchants[{index}]"
        entry = _object(entry, where, {"tax_id", "size_class", "tax_compliant"},
                        {"tax_id", "size_class", "tax_compliant"})
        if not isinstance(entry["tax_compliant"], bool):
            raise InvalidRequestError(f"{where}.tax_compliant", f"{where}.tax_compliant must be true or false")
        out.append(ReferenceEntry(check_tax_id(entry["tax_id"], f"{where}.tax_id"),
                                  _size_class(entry["size_class"], f"{where}.size_class"),
                                  entry["tax_compliant"]))
    return out


def parse_review(body: Any) -> tuple[str, str]:
    body = _object(body, "", {"decision", "reason"}, {"decision", "reason"})
    if body["decision"] not in REVIEW_DECISIONS:
        raise InvalidRequestError("decision", f"decision must be one of {', '.join(REVIEW_DECISIONS)}")
    return body["decision"], _text(body["reason"], "reason", REASON_CHARS_MAX)


def mcc_of(business_type: str) -> str:
    return _MCC.get(business_type, DEFAULT_MCC)
