"""The requests of merchants, as the specs that parse them and write their
OpenAPI schemas, and the values the use cases take. Pure."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import limits
from chalicelib.validation import (
    BankCode,
    Bool,
    Cid,
    District,
    Enum,
    Int,
    ListOf,
    Number,
    Obj,
    Opt,
    Params,
    Str,
    TaxId,
)

__all__ = [
    "REVIEW_DECISIONS",
    "MERCHANT_REGISTRATION_BODY",
    "MERCHANT_REFERENCE_BODY",
    "MERCHANT_REVIEW_BODY",
    "MERCHANT_ID_PATH",
    "RegistrationRequest",
    "ReferenceEntry",
    "parse_registration",
    "mcc_of",
]

REVIEW_DECISIONS = ("approve", "reject", "suspend")
# Merchant category codes (ISO 18245) of common business types, for the QR.
_MCC = {
    "grocery": "5411", "restaurant": "5812", "food_stall": "5814", "bakery": "5462",
    "pharmacy": "5912", "clothing": "5651", "hardware": "5251", "books": "5942",
    "market_stall": "5499", "convenience": "5499",
}
DEFAULT_MCC = "5999"

_REASON = Str(1, limits.REASON_CHARS_MAX, strip=True)
MERCHANT_REGISTRATION_BODY = Obj({
    "name": Str(1, limits.MERCHANT_NAME_CHARS_MAX, strip=True),
    "tax_id": TaxId(),
    "business_type": Str(1, limits.BUSINESS_TYPE_CHARS_MAX, limits.BUSINESS_TYPE_PATTERN,
                         f"a lower-case code such as grocery: 1 to {limits.BUSINESS_TYPE_CHARS_MAX} letters, "
                         "digits and '_', starting with a letter"),
    "size_class": Enum(*limits.SIZE_CLASSES),
    "district": District(),
    "location": Obj({"lat": Number(limits.LATITUDE_DEG_RANGE, "degrees north: a place in Thailand"),
                     "lon": Number(limits.LONGITUDE_DEG_RANGE, "degrees east: a place in Thailand")}),
    "bank": Obj({"bank_code": BankCode(),
                 "account_no": Str(limits.ACCOUNT_NO_DIGITS_MIN, limits.ACCOUNT_NO_DIGITS_MAX,
                                   limits.ACCOUNT_NO_PATTERN,
                                   f"{limits.ACCOUNT_NO_DIGITS_MIN} to {limits.ACCOUNT_NO_DIGITS_MAX} digits, "
                                   "without dashes")}),
})
MERCHANT_REFERENCE_BODY = Obj({"merchants": ListOf(
    Obj({"tax_id": TaxId(), "size_class": Enum(*limits.SIZE_CLASSES), "tax_compliant": Bool(),
         "owner_cid": Opt(Cid()),
         "balance_shards": Opt(Int(1, limits.MERCHANT_BALANCE_SHARDS_MAX))}),
    1, limits.MERCHANT_REFERENCE_ENTRIES_MAX)})
MERCHANT_REVIEW_BODY = Obj({"decision": Enum(*REVIEW_DECISIONS), "reason": _REASON})
# Ids the server makes are opaque (API.md): only bounded here.
MERCHANT_ID_PATH = Params("path", {"merchant_id": Str(1, limits.MERCHANT_ID_CHARS_MAX,
                                                      hint="the merchant_id the shop was registered with")})


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

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> RegistrationRequest:
        """From a body as MERCHANT_REGISTRATION_BODY parsed it."""
        return cls(name=body["name"], tax_id=body["tax_id"], business_type=body["business_type"],
                   size_class=body["size_class"], district=body["district"], lat=body["location"]["lat"],
                   lon=body["location"]["lon"], bank_code=body["bank"]["bank_code"],
                   account_no=body["bank"]["account_no"])


@dataclass(frozen=True)
class ReferenceEntry:
    tax_id: str
    size_class: str
    tax_compliant: bool
    owner_cid: str | None = None  # the owner on the Revenue Department's record
    # Items each of the shop's balances is split into (a wholesaler); None: unchanged.
    balance_shards: int | None = None

    @classmethod
    def all_of(cls, body: Mapping[str, Any]) -> list[ReferenceEntry]:
        """From a body as MERCHANT_REFERENCE_BODY parsed it."""
        return [cls(e["tax_id"], e["size_class"], e["tax_compliant"], e.get("owner_cid"), e.get("balance_shards"))
                for e in body["merchants"]]


def parse_registration(body: Any) -> RegistrationRequest:
    """A registration body as sent (400 naming the field), for callers
    without the HTTP edge (the benchmarks, tests)."""
    return RegistrationRequest.of(MERCHANT_REGISTRATION_BODY.parse(body, ""))


def mcc_of(business_type: str) -> str:
    return _MCC.get(business_type, DEFAULT_MCC)
