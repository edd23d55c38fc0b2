"""Declarative request validation that also writes the OpenAPI schema.

A request is described once, e.g.
``Obj({"phase_id": PhaseId(), "consent": Const(True), "phone": Opt(Phone())})``;
``parse`` returns clean Python values or raises InvalidRequestError naming the
field by its dotted path (``bank.account_no``, ``cids[3]``) and saying how to
fix it; ``schema()`` gives the JSON Schema (OpenAPI 3.0.3) for the document,
so the document and the checks cannot drift apart. Query strings and path
parameters are ``Params`` (their values arrive as text); ``PAGE_QUERY`` is
API.md's ``?limit&cursor``. Every bound comes from ``chalicelib.limits``.

Cross-field rules (a date range, tranches adding up, a QR's amount against
the body's) belong to the use case, after ``parse``. A message never echoes
a value that identifies a person (a cid): it names the field only.
"""
from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from chalicelib import limits
from chalicelib.clock import parse_iso
from chalicelib.errors import InvalidRequestError
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    import geothai
    from stdnum.th import pin as thai_pin
    from stdnum.th import tin as thai_tin
else:
    # DOPA's districts (geothai builds a Literal of 928 codes: ~15 ms of a
    # cold start) and the ID checksums: loaded by the first request that
    # validates one, not by every function's import.
    geothai = lazy_module("geothai")
    thai_pin = lazy_module("stdnum.th.pin")
    thai_tin = lazy_module("stdnum.th.tin")

__all__ = [
    "Field", "Str", "Int", "Money", "Number", "Bool", "Const", "Enum", "Date", "DateTime", "Cid", "TaxId",
    "District", "SwitchScope", "BankCode", "Phone", "Pin", "PhaseId", "ListName", "Category", "ListOf", "Obj", "Opt",
    "Nullable", "UrlInt", "Params", "PAGE_QUERY", "parse_json", "BODY_BYTES_MAX",
]

BODY_BYTES_MAX = 4 * 1024 * 1024
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Digits of a number in a URL: ten are more than any bound here.
_URL_INT = re.compile(r"[0-9]{1,10}")


def _fail(path: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(path or "body", message)


class Field:
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
    """A string of ``min_len..max_len`` characters matching ``pattern``;
    ``hint`` says what is expected, in the words of the message. ``strip``
    takes surrounding white space off first (so blank is too short)."""

    def __init__(self, min_len: int = 1, max_len: int = 200, pattern: str | None = None,
                 hint: str | None = None, strip: bool = False) -> None:
        self.min_len, self.max_len = min_len, max_len
        self.pattern = re.compile(pattern) if pattern else None
        self.hint = hint
        self.strip = strip

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise _fail(path, f"{path} must be a string{': ' + self.hint if self.hint else ''}.")
        if self.strip:
            value = value.strip()
        if not self.min_len <= len(value) <= self.max_len:
            raise _fail(path, f"{path} must be {self.hint}." if self.hint else
                        f"{path} must be {self.min_len} to {self.max_len} characters long"
                        f"{' (not blank)' if self.strip else ''}.")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise _fail(path, f"{path} must be {self.hint or 'of the form ' + self.pattern.pattern}.")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "minLength": self.min_len, "maxLength": self.max_len}
        if self.pattern is not None:
            out["pattern"] = f"^{self.pattern.pattern}$"
        if self.hint:
            out["description"] = self.hint
        return out


class Int(Field):
    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def parse(self, value: Any, path: str) -> Any:
        # bool is an int in Python; 1.0 and "1" are not integers in this API.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"{path} must be a whole number (no quotes, no decimals).")
        return self._in_range(value, path)

    def _in_range(self, value: int, path: str) -> int:
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
    """Satang: an integer, > 0 where money moves, at most what one request
    may name (API.md) unless a larger bound is given (a phase's budget)."""

    def __init__(self, minimum: int = 1, maximum: int = limits.REQUEST_AMOUNT_SATANG_MAX) -> None:
        super().__init__(minimum, maximum)

    def parse(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"{path} must be a whole number of satang (1 baht = 100 satang), "
                              "not a string, decimal or boolean.")
        return self._in_range(value, path)

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "description": "satang (1 baht = 100 satang)"}


class Number(Field):
    """A JSON number (integer or decimal) in ``bounds``; ``hint`` says what it is."""

    def __init__(self, bounds: tuple[float, float], hint: str) -> None:
        self.bounds, self.hint = bounds, hint

    def parse(self, value: Any, path: str) -> Any:
        low, high = self.bounds
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise _fail(path, f"{path} must be a number in {low}..{high} ({self.hint}).")
        return float(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.bounds[0], "maximum": self.bounds[1], "description": self.hint}


class Bool(Field):
    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise _fail(path, f"{path} must be true or false.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class Const(Field):
    """Exactly one value, e.g. ``consent: true``; ``why`` is said when it is not."""

    def __init__(self, value: Any, why: str = "") -> None:
        self.value, self.why = value, why

    def parse(self, value: Any, path: str) -> Any:
        if value is not self.value and (type(value) is not type(self.value) or value != self.value):
            raise _fail(path, f"{path} must be {json.dumps(self.value)}{': ' + self.why if self.why else ''}.")
        return value

    def schema(self) -> dict[str, Any]:
        # OpenAPI 3.0 has no ``const``: a one-value enum says the same.
        kind = {bool: "boolean", str: "string", int: "integer"}.get(type(self.value))
        return {**({"type": kind} if kind else {}), "enum": [self.value]}


class Enum(Field):
    def __init__(self, *choices: str) -> None:
        self.choices = tuple(choices)
        self._set = frozenset(choices)

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or value not in self._set:
            raise _fail(path, f"{path} must be one of: {', '.join(self.choices)}.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class Date(Field):
    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
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
    """A 13-digit Thai national ID with a valid check digit. The message
    names the field, never the value (it identifies a person)."""

    label = "national ID"
    _pattern = re.compile(limits.CID_PATTERN)

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not self._pattern.fullmatch(value):
            raise _fail(path, f"{path} must be the 13 digits of a Thai {self.label}, without dashes.")
        if not self._valid(value):
            raise _fail(path, f"{path} has a wrong check digit; re-read the {self.label}.")
        return value

    @staticmethod
    def _valid(value: str) -> bool:
        return bool(thai_pin.is_valid(value))

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{limits.CID_PATTERN}$",
                "description": f"Thai {self.label} (13 digits, checksum)"}


class TaxId(Cid):
    """A Thai tax ID: a person's national ID or a company's registration
    number (starting 0), both 13 digits with the same check digit."""

    label = "tax ID"

    @staticmethod
    def _valid(value: str) -> bool:
        return bool(thai_tin.is_valid(value))


class District(Str):
    """A DOPA district code that exists: the shape from limits, the list
    from ``geothai`` (DOPA's 928 districts, kept by its maintainers), not a
    pattern alone (9,000 codes of which most name no district, and a shop
    with a mistyped district could never be paid)."""

    def __init__(self) -> None:
        super().__init__(4, 4, limits.DISTRICT_PATTERN, "a 4-digit DOPA district code such as 1001")

    def parse(self, value: Any, path: str) -> Any:
        code = super().parse(value, path)
        if geothai.district(code) is None:
            raise _fail(path, f"{path} {code} is not a DOPA district code; check it against the ID card or "
                              "the district office (1001 is Phra Nakhon, Bangkok).")
        return code


class SwitchScope(Str):
    """``all``, ``district:<a DOPA district>`` or ``bank:<a participating bank>``."""

    def __init__(self) -> None:
        super().__init__(3, limits.SWITCH_SCOPE_CHARS_MAX, limits.SWITCH_SCOPE_PATTERN,
                         "'all', 'district:<4-digit district code>' or 'bank:<3-digit bank code>'")

    def parse(self, value: Any, path: str) -> Any:
        scope = super().parse(value, path)
        kind, _, code = scope.partition(":")
        if kind == "district":
            District().parse(code, path)
        elif kind == "bank":
            BankCode().parse(code, path)
        return scope


class BankCode(Field):
    _pattern = re.compile(limits.BANK_CODE_PATTERN)

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not self._pattern.fullmatch(value):
            raise _fail(path, f"{path} must be a 3-digit Thai bank code such as 004.")
        if value not in limits.BANK_CODES:
            raise _fail(path, f"{path} {value} is not a participating bank; use one of "
                              f"{', '.join(sorted(limits.BANK_CODES))}.")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(limits.BANK_CODES), "description": "a participating bank"}


class Phone(Str):
    """A Thai mobile number, returned as its 10 digits ``0[689]xxxxxxxx``
    (``+66``, spaces and dashes are accepted and taken out)."""

    _separators = re.compile(r"[\s-]")

    def __init__(self) -> None:
        super().__init__(10, limits.PHONE_CHARS_MAX, limits.PHONE_PATTERN,
                         "a Thai mobile number of 10 digits starting 06, 08 or 09, such as 0812345678")

    def parse(self, value: Any, path: str) -> Any:
        digits = self._separators.sub("", super().parse(value, path))
        return "0" + digits[3:] if digits.startswith("+66") else digits


class Pin(Str):
    """A wallet card's PIN as the citizen chooses it: 6 digits, not one
    digit repeated, not a run (123456, 654321, also across 9-0)."""

    def __init__(self) -> None:
        super().__init__(limits.PIN_DIGITS, limits.PIN_DIGITS, limits.PIN_PATTERN,
                         f"{limits.PIN_DIGITS} digits, not all the same, not a run such as 123456")

    def parse(self, value: Any, path: str) -> Any:
        pin = super().parse(value, path)
        if len(set(pin)) == 1:
            raise _fail(path, f"{path} must not be one digit repeated; choose another PIN.")
        steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
        if steps in ({1}, {9}):
            raise _fail(path, f"{path} must not be a run such as 123456; choose another PIN.")
        return pin


class PhaseId(Str):
    def __init__(self) -> None:
        super().__init__(1, limits.PHASE_ID_CHARS_MAX, limits.PHASE_ID_PATTERN,
                         f"a phase id: 1 to {limits.PHASE_ID_CHARS_MAX} letters, digits, '_' or '-', "
                         "starting with a letter or digit")


class ListName(Str):
    """The name of an exclusion list, as a phase names it and an import fills it."""

    def __init__(self) -> None:
        super().__init__(1, limits.LIST_NAME_CHARS_MAX, limits.LIST_NAME_PATTERN,
                         f"a list name such as welfare_card: 1 to {limits.LIST_NAME_CHARS_MAX} lower-case "
                         "letters, digits and '_', starting with a letter")


class Category(Str):
    def __init__(self) -> None:
        super().__init__(1, limits.CATEGORY_CHARS_MAX, limits.CATEGORY_PATTERN,
                         f"a lower-case category code such as groceries: 1 to {limits.CATEGORY_CHARS_MAX} "
                         "letters, digits and '_', starting with a letter")


class ListOf(Field):
    def __init__(self, item: Field, min_items: int = 0, max_items: int = 100) -> None:
        self.item, self.min_items, self.max_items = item, min_items, max_items

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise _fail(path, f"{path} must be a list.")
        if not self.min_items <= len(value) <= self.max_items:
            raise _fail(path, f"{path} must have {self.min_items} to {self.max_items} entries (it has {len(value)}).")
        parse = self.item.parse
        return [parse(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(), "minItems": self.min_items,
                "maxItems": self.max_items}


class Obj(Field):
    """An object with known members; unknown members are refused, unless
    ``closed`` is False (a token's claims carry others that are not ours).
    ``ignored`` members are taken and dropped: read-only fields of the
    resource that a client may send back as it got them (GET then PUT)."""

    def __init__(self, members: Mapping[str, Field | Opt], closed: bool = True,
                 ignored: Iterable[str] = ()) -> None:
        self.members = dict(members)
        self.closed = closed
        self.ignored = tuple(ignored)
        self._names = frozenset(self.members) | frozenset(self.ignored)
        # (name, field, optional, default), resolved once: parse runs on every request.
        self._plan = [(name, spec.field if isinstance(spec, Opt) else spec, isinstance(spec, Opt),
                       spec.default if isinstance(spec, Opt) else None) for name, spec in self.members.items()]

    def parse(self, value: Any, path: str = "") -> Any:
        if not isinstance(value, dict):
            raise _fail(path, f"{path or 'the body'} must be a JSON object.")
        if self.closed and not self._names.issuperset(value):
            unknown = min(set(value) - self._names)
            name = f"{path}.{unknown}" if path else unknown
            raise _fail(name, f"{name} is not a field of this request; remove it "
                              f"(fields: {', '.join(self.members)}).")
        out: dict[str, Any] = {}
        for name, field, optional, default in self._plan:
            full = f"{path}.{name}" if path else name
            if name not in value:
                if not optional:
                    raise _fail(full, f"{full} is required.")
                if default is not None:
                    out[name] = default
                continue
            out[name] = field.parse(value[name], full)
        return out

    def schema(self) -> dict[str, Any]:
        props = {name: _with_default(field.schema(), default) for name, field, _, default in self._plan}
        required = [name for name, _, optional, _ in self._plan if not optional]
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": not self.closed}
        if required:
            out["required"] = required
        if self.ignored:
            # Read-only fields of the resource (its GET): taken and ignored.
            out["x-ignored-fields"] = list(self.ignored)
        return out


def _with_default(schema: dict[str, Any], default: Any) -> dict[str, Any]:
    return schema if default is None else {**schema, "default": default}


class UrlInt(Int):
    """A whole number written in a URL (a query or path parameter)."""

    def parse(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not _URL_INT.fullmatch(value):
            raise _fail(path, f"{path} must be a whole number"
                              f"{f' from {self.minimum} to {self.maximum}' if self.maximum is not None else ''}.")
        return self._in_range(int(value), path)


class Params(Obj):
    """The query string (``where="query"``) or path parameters (``"path"``)
    of an operation: each value arrives as text. ``parameters()`` gives the
    OpenAPI parameter objects; unknown query parameters are refused."""

    def __init__(self, where: str, members: Mapping[str, Field | Opt]) -> None:
        if where not in ("query", "path"):
            raise ValueError(f"parameters are in the query or the path, not {where!r}")
        if where == "path" and any(isinstance(spec, Opt) for spec in members.values()):
            raise ValueError("a path parameter is always required")
        super().__init__(members)
        self.where = where

    def parameters(self) -> list[dict[str, Any]]:
        return [{"name": name, "in": self.where, "required": not optional,
                 "schema": _with_default(field.schema(), default)}
                for name, field, optional, default in self._plan]


# API.md's lists: ?limit= 1..100 (default 50) and ?cursor= from the last page.
PAGE_QUERY = Params("query", {
    "limit": Opt(UrlInt(1, limits.PAGE_SIZE_MAX), default=limits.PAGE_SIZE_DEFAULT),
    "cursor": Opt(Str(1, limits.CURSOR_CHARS_MAX, hint="the next_cursor of the page before")),
})


def parse_json(raw: bytes | str | None, bytes_max: int = BODY_BYTES_MAX) -> Any:
    """The request body as JSON; 400 naming ``body`` if it is not JSON or
    is larger than ``bytes_max``."""
    if raw is None or raw in (b"", ""):
        raise InvalidRequestError("body", "The request needs a JSON body.")
    if len(raw) > bytes_max:
        raise InvalidRequestError("body", f"The body is larger than this operation takes ({bytes_max} bytes).")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError("body", "The body is not valid UTF-8 JSON.") from exc
    except RecursionError as exc:
        raise InvalidRequestError("body", "The body is nested too deeply; no request of this API "
                                          "nests more than a few levels.") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
