"""The app through Chalice's test client on moto, with shops, wallets and a
card set up, for the merchant and payment endpoint tests."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stdnum.th import pin as thai_pin

from chalicelib import pii
from chalicelib.clock import iso, utcnow
from chalicelib.ledger import Ledger, accounts, audit_ledger
from devstack import tokens
from tests.functional.payments_fixtures import PHASE, credit_wallet
from tests.invariants import drained_summary

PIN = "482915"


def valid_id(n: int, first: str = "3") -> str:
    body = f"{first}{n:011d}"
    return body + thai_pin.calc_check_digit(body)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


def _app() -> Any:
    from devstack.server import load_app

    return load_app()


class Api:
    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, token: str | None = None, body: Any = None,
             key: str | None = None) -> Reply:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        response = getattr(self.client.http, method.lower())(path, **kwargs)
        payload = json.loads(response.body) if response.body else None
        return Reply(response.status_code, payload, {k.lower(): v for k, v in response.headers.items()})


@dataclass
class World:
    api: Api
    operator: str
    shop_a: str  # token: small shop in 1001, active
    shop_b: str  # large wholesaler in 5001, active
    shop_c: str  # small shop in 1001, pending review
    citizen: str  # wallet w1 in 1001, 10,000 baht
    card_code: str  # wallet card of w1

    def merchant_id(self, token: str) -> str:
        return self.api.call("GET", "/v1/merchants/me", token).body["merchant_id"]

    def qr(self, token: str, amount: int | None = 40_000) -> str:
        reply = self.api.call("POST", "/v1/merchants/me/qr", token, {"amount_satang": amount} if amount else {})
        assert reply.status == 201, reply
        return reply.body["qr"]

    def pay(self, qr: str, token: str | None = None, key: str | None = None, **extra: Any) -> Reply:
        return self.api.call("POST", "/v1/payments", token or self.citizen,
                             {"qr": qr, "category": "groceries", **extra}, key=key or uuid.uuid4().hex)


def shop_body(tax_id: str, district: str = "1001", size_class: str = "small", name: str = "Som Tam Shop") -> dict:
    return {"name": name, "tax_id": tax_id, "business_type": "restaurant", "size_class": size_class,
            "district": district, "location": {"lat": 13.75, "lon": 100.5},
            "bank": {"bank_code": "004", "account_no": "1234567890"}}


def citizen_token(cid: str, district: str = "1001") -> str:
    return tokens.mint("citizen", {"cid": cid, "district": district, "birth_date": "2006-01-01",
                                   "nationality": "TH"})


def give_wallet(cid: str, wallet_id: str, amount: int = 1_000_000, district: str = "1001", **credit: Any) -> None:
    from chalicelib.registration.models import BenefitModel

    credit_wallet(Ledger(), wallet_id, amount, **credit)
    BenefitModel(pii.hash_id(cid), phase_id=PHASE, registration_id=f"r-{wallet_id}", wallet_id=wallet_id,
                 district=district, created_at=iso(utcnow())).save()


def balanced() -> bool:
    report = audit_ledger()
    assert report.ok, report
    return drained_summary()["balanced"] is True


def balance(account_id: str) -> int:
    return Ledger().balance(account_id)


@contextmanager
def open_world() -> Iterator[World]:
    """Three shops (two in the reference data), a wallet and its card; the
    ``world`` fixture of tests/functional/conftest.py (moto_aws built the runtime)."""
    from chalice.test import Client

    from chalicelib.registration.cards import card_key, hash_pin, new_card_code
    from chalicelib.registration.models import CardModel

    with Client(_app()) as client:
        api = Api(client)
        operator = tokens.mint("operator", {"mfa": True})
        tax_a, tax_b, tax_c = valid_id(1, "0"), valid_id(2, "0"), valid_id(3, "0")
        reply = api.call("POST", "/v1/admin/merchant-reference", operator, {"merchants": [
            {"tax_id": tax_a, "size_class": "small", "tax_compliant": True},
            {"tax_id": tax_b, "size_class": "large", "tax_compliant": True}]})
        assert reply.status == 200, reply
        shops = []
        for n, (tax_id, district, size, name) in enumerate([(tax_a, "1001", "small", "Som Tam Shop"),
                                                            (tax_b, "5001", "large", "Big Wholesale"),
                                                            (tax_c, "1001", "small", "New Stall")]):
            token = tokens.mint("merchant", {"cid": valid_id(100 + n)})
            reply = api.call("POST", "/v1/merchants", token, shop_body(tax_id, district, size, name))
            assert reply.status == 201, reply
            shops.append(token)
        cid = valid_id(7, "1")
        give_wallet(cid, "w1")
        code = new_card_code()
        CardModel(card_key(code), wallet_id="w1", citizen_hash=pii.hash_id(cid), phase_id=PHASE, district="1001",
                  pin_hash=hash_pin(PIN), point_id="point-1001-01", created_at=iso(utcnow())).save()
        yield World(api, operator, shops[0], shops[1], shops[2], citizen_token(cid), code)


__all__ = ["World", "Api", "Reply", "open_world", "valid_id", "citizen_token", "give_wallet", "balanced", "balance",
           "shop_body", "PIN", "accounts"]
