"""Shared set-up of the registration tests: the app on moto through Chalice's
test client, tokens, phases, valid national IDs."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stdnum.th import pin as thai_pin

from devstack import tokens

DISTRICT = "1001"
BORN_IN_COHORT = "2006-05-01"


def valid_cid(n: int, first: str = "1") -> str:
    body = f"{first}{n:011d}"
    return body + thai_pin.calc_check_digit(body)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def phase_body(*, opens: datetime | None = None, closes: datetime | None = None,
               waves: int = 2, lists: tuple[str, ...] = ("welfare_card", "prisoners"),
               kind: str = "wallet") -> dict[str, Any]:
    now = datetime.now(UTC)
    opens = opens or now - timedelta(days=1)
    closes = closes or now + timedelta(days=30)
    body = {
        "name": "Phase 3: ages 16-20", "kind": kind,
        "birth_date_from": "2004-09-16", "birth_date_to": "2008-09-16",
        "exclusion_lists": list(lists),
        "registration_opens_at": iso(opens), "registration_closes_at": iso(closes),
        "amount_satang": 1_000_000,
        "tranches": [{"amount_satang": 1_000_000, "after_days": 0}],
        "waves": [{"activate_at": iso(closes + timedelta(days=1 + i))} for i in range(waves)],
        "expires_after_days": 180, "spending_scope": "district",
        "allowed_size_classes": ["small"],
        "restricted_categories": ["lottery", "alcohol", "tobacco", "cannabis_kratom", "gift_cards_vouchers",
                                  "gold_gems", "fuel_gas", "electronics", "services", "online"],
        "budget_satang": 100_000_000, "payout_bank_code": "004" if kind == "cash_transfer" else None,
    }
    return body


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """Chalice's test client with tokens and JSON."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> Reply:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        response = getattr(self.client.http, method.lower())(path, **kwargs)
        payload = json.loads(response.body) if response.body else None
        return Reply(response.status_code, payload, dict(response.headers))

    # -- tokens ------------------------------------------------------------------

    @staticmethod
    def citizen(cid: str, birth_date: str = BORN_IN_COHORT, district: str = DISTRICT,
                nationality: str = "TH") -> str:
        return tokens.mint("citizen", {"cid": cid, "birth_date": birth_date, "district": district,
                                       "nationality": nationality})

    @staticmethod
    def registrar(point_id: str | None = "point-1001-01", sub: str = "registrar-7") -> str:
        claims: dict[str, Any] = {"sub": sub}
        if point_id is not None:
            claims["point_id"] = point_id
        return tokens.mint("registrar", claims)

    @staticmethod
    def operator(mfa: bool = True) -> str:
        return tokens.mint("operator", {"mfa": mfa})

    # -- steps ---------------------------------------------------------------------

    def put_phase(self, phase_id: str, body: dict[str, Any]) -> Reply:
        reply = self.call("PUT", f"/v1/admin/phases/{phase_id}", self.operator(), body)
        if reply.status not in (200, 201):
            raise AssertionError(f"phase not saved: {reply.status} {reply.body}")
        _forget_phase_cache()
        return reply

    def register(self, cid: str, phase_id: str = "p3", **claims: Any) -> Reply:
        return self.call("POST", "/v1/registrations", self.citizen(cid, **claims),
                         {"phase_id": phase_id, "consent": True})

    def exclude(self, list_name: str, cids: list[str]) -> Reply:
        return self.call("POST", "/v1/admin/exclusions", self.operator(), {"list": list_name, "cids": cids})


def _forget_phase_cache() -> None:
    """A phase changed: registration must not read the few-seconds cached copy."""
    from chalicelib.config import rebuild

    rebuild()


@contextmanager
def open_api() -> Iterator[Api]:
    """The app on moto through the test client; the ``api`` fixture of
    tests/functional/conftest.py (moto_aws built the runtime)."""
    from chalice.test import Client

    from devstack.server import load_app

    with Client(load_app()) as client:
        yield Api(client)


def ledger_credit(wallet_id: str, amount_satang: int = 1_000_000, phase_id: str = "p3") -> None:
    """Credit a wallet as activation does (treasury -> wallet, status, expiry)."""
    from chalicelib.ledger import Ledger
    from tests.functional.payments_fixtures import credit_wallet

    credit_wallet(Ledger(), wallet_id, amount_satang, phase_id=phase_id)


Step = Callable[..., Reply]
