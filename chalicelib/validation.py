"""Declarative request validation that also writes the OpenAPI schema.

A body is described once, e.g.
``Obj({"phase_id": PhaseId(), "consent": Const(True), "phone": Opt(Phone())})``;
``parse`` returns clean Python values or raises InvalidRequestError naming the
field by its dotted path (``bank.account_no``, ``cids[3]``) and saying how to
fix it; ``schema()`` gives the JSON Schema for the OpenAPI document, so the
document and the checks cannot drift apart.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from stdnum.th import pin as thai_pin

from chalicelib.clock import parse_iso
from chalicelib.errors import InvalidRequestError

__all__ = [
    "Field", "Str", "Int", "Money", "Bool", "Const", "Enum", "Date", "DateTime", "Cid", "TaxId",
    "District", "BankCode", "Phone", "PhaseId", "ListOf", "Obj", "Opt", "Nullable",
    "parse_json", "AMOUNT_SATANG_MAX", "KNOWN_BANK_CODES", "BODY_BYTES_MAX",
]

AMOUNT_SATANG_MAX = 1_000_000_000  # 10 million baht per request (API.md)
BODY_BYTES_MAX = 4 * 1024 * 1024
# Participating banks (Bank of Thailand codes).
KNOWN_BANK_CODES = frozenset({
    "002", "004", "006", "011", "014", "017", "020", "022", "024", "025", "030", "033", "034",
    "035", "045", "066", "067", "069", "070", "071", "073", "098",
})


def _fail(path: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(path or "body", message)


class Field:
    description = ""

    def parse(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError


class Opt:
    """An optional member of an Obj (absent is fine; present must be valid)."""

    def __init__(self, field: Field, default: Any = None) -> None:
        self.field = field
        self.default = default


class Nullable(Field):
    def __init__(self, field: Field) -> None:
        self.field = field

    def parse(self, value: Any, path: str) -> Any:
        return None if value is None else self.field.parse(value, path)

    def schema(self) -> dict[str, Any]:
        return {**self.field.schema(), "nullable": True}


class Str(Field):
    def __init__(self, min_len: int = 1, max_len: int = 200, pattern: str | None = None,
                 hint: str | None = None) -> None:
        self.min_len, self.max_len = min_len, max_len
        self.pattern = re.compile(pattern) if pattern else None
        self.hint = hint

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise _fail(path, f"{path} must be a string.")
        if not self.min_len <= len(value) <= self.max_len:
            raise _fail(path, f"{path} must be {self.min_len} to {self.max_len} characters long.")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise _fail(path, f"{path} must be {self.hint or 'of the form ' + self.pattern.pattern}.")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "minLength": self.min_len, "maxLength": self.max_len}
        if self.pattern is not None:
            out["pattern"] = f"^{self.pattern.pattern}$"
        return out


class Int(Field):
    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def parse(self, value: Any, path: str) -> Any:
        # bool is an int in Python; 1.0 and "1" are not integers in this API.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"{path} must be a whole number (no quotes, no decimals).")
        if self.minimum is not None and value < self.minimum:
            raise _fail(path, f"{path} must be at least {self.minimum}.")
        if self.maximum is not None and value > self.maximum:
            raise _fail(path, f"{path} must be at most {self.maximum}.")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Money(Int):
    """Satang: an integer, > 0 where money moves, at most 10 million baht."""

    def __init__(self, minimum: int = 1, maximum: int = AMOUNT_SATANG_MAX) -> None:
        super().__init__(minimum, maximum)

    def parse(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"{path} must be a whole number of satang (1 baht = 100 satang), "
                              "not a string, decimal or boolean.")
        return super().parse(value, path)


class Bool(Field):
    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise _fail(path, f"{path} must be true or false.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class Const(Field):
    def __init__(self, value: Any) -> None:
        self.value = value

    def parse(self, value: Any, path: str) -> Any:
        if value is not self.value and (type(value) is not type(self.value) or value != self.value):
            raise _fail(path, f"{path} must be {json.dumps(self.value)}.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"enum": [self.value]}


class Enum(Field):
    def __init__(self, *choices: str) -> None:
        self.choices = tuple(choices)

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or value not in self.choices:
            raise _fail(path, f"{path} must be one of: {', '.join(self.choices)}.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class Date(Field):
    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise _fail(path, f"{path} must be a date as YYYY-MM-DD.")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise _fail(path, f"{path} is not a real calendar date.") from exc

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


class DateTime(Field):
    def parse(self, value: Any, path: str) -> Any:
        try:
            if not isinstance(value, str):
                raise ValueError
            return parse_iso(value)
        except ValueError as exc:
            raise _fail(path, f"{path} must be an RFC 3339 time with an offset, "
                              "e.g. 2025-03-18T09:00:00Z.") from exc

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


class Cid(Field):
    """A 13-digit Thai national ID with a valid check digit."""

    label = "national ID"

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"\d{13}", value):
            raise _fail(path, f"{path} must be the 13 digits of a Thai {self.label}, without dashes.")
        if not thai_pin.is_valid(value):
            raise _fail(path, f"{path} has a wrong check digit; re-read the {self.label}.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[0-9]{13}$", "description": f"Thai {self.label} (checksum)"}


class TaxId(Cid):
    label = "tax ID"


class District(Str):
    def __init__(self) -> None:
        super().__init__(4, 4, r"[1-9][0-9]{3}", "a 4-digit DOPA district code such as 1001")


class BankCode(Field):
    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"\d{3}", value):
            raise _fail(path, f"{path} must be a 3-digit Thai bank code such as 004.")
        if value not in KNOWN_BANK_CODES:
            raise _fail(path, f"{path} {value} is not a participating bank.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(KNOWN_BANK_CODES)}


class Phone(Str):
    def __init__(self) -> None:
        super().__init__(10, 10, r"0[689][0-9]{8}", "a Thai mobile number of 10 digits such as 0812345678")


class PhaseId(Str):
    def __init__(self) -> None:
        super().__init__(1, 64, r"[A-Za-z0-9][A-Za-z0-9_-]*", "letters, digits, '_' or '-' (1 to 64)")


class ListOf(Field):
    def __init__(self, item: Field, min_items: int = 0, max_items: int = 100) -> None:
        self.item, self.min_items, self.max_items = item, min_items, max_items

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise _fail(path, f"{path} must be a list.")
        if not self.min_items <= len(value) <= self.max_items:
            raise _fail(path, f"{path} must have {self.min_items} to {self.max_items} entries.")
        return [self.item.parse(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(), "minItems": self.min_items,
                "maxItems": self.max_items}


class Obj(Field):
    """An object with known members; unknown members are refused."""

    def __init__(self, members: Mapping[str, Field | Opt]) -> None:
        self.members = dict(members)

    def parse(self, value: Any, path: str = "") -> Any:
        where = path or "the body"
        if not isinstance(value, dict):
            raise _fail(path, f"{where} must be a JSON object.")
        unknown = sorted(set(value) - set(self.members))
        if unknown:
            name = f"{path}.{unknown[0]}" if path else unknown[0]
            raise _fail(name, f"{name} is not a field of this request; remove it "
                              f"(fields: {', '.join(self.members)}).")
        out: dict[str, Any] = {}
        for name, spec in self.members.items():
            full = f"{path}.{name}" if path else name
            if name not in value:
                if isinstance(spec, Opt):
                    if spec.default is not None:
                        out[name] = spec.default
                    continue
                raise _fail(full, f"{full} is required.")
            field = spec.field if isinstance(spec, Opt) else spec
            out[name] = field.parse(value[name], full)
        return out

    def schema(self) -> dict[str, Any]:
        props = {n: (s.field if isinstance(s, Opt) else s).schema() for n, s in self.members.items()}
        required = [n for n, s in self.members.items() if not isinstance(s, Opt)]
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            out["required"] = required
        return out


def parse_json(raw: bytes | str | None) -> Any:
    """The request body as JSON; 400 naming ``body`` if it is not JSON."""
    if raw is None or raw in (b"", ""):
        raise InvalidRequestError("body", "The request needs a JSON body.")
    if len(raw) > BODY_BYTES_MAX:
        raise InvalidRequestError("body", f"The body is larger than {BODY_BYTES_MAX} bytes.")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError("body", "The body is not valid UTF-8 JSON.") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def one_of(value: str, choices: Iterable[str]) -> bool:
    return value in set(choices)
