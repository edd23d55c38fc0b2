"""Tokens as the security review tries them: JWKS rotation without a
restart within a bounded cache time, other audience or issuer, claim types,
and a cid with a valid checksum for every role that carries one (401)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import auth
from chalicelib.auth import authenticate
from chalicelib.config import Settings, get_settings, rebuild
from chalicelib.errors import ForbiddenError, UnauthenticatedError
from devstack.procs import LOOPBACK, free_port

ISSUER = "https://issuer.test"
AUDIENCE = "wallet-api"
GOOD_CID = "1101700230708"
BAD_CID = "1101700230707"


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    data.update({"kid": kid, "alg": "ES256", "use": "sig"})
    return data


class _Jwks:
    """A JWKS URL whose key set a test changes, counting fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                data = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HTTPServer((LOOPBACK, free_port()), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def jwks() -> Iterator[_Jwks]:
    served = _Jwks()
    rebuild()
    yield served
    served.server.shutdown()
    served.server.server_close()
    rebuild()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(auth, "_now", lambda: now[0])
    return now


def _settings(url: str) -> Settings:
    return replace(get_settings(), jwks_file=None, jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)


def _token(key: Any, kid: str, **changes: Any) -> str:
    now = int(time.time())
    claims = {"sub": "u1", "role": "citizen", "cid": GOOD_CID, "iss": ISSUER, "aud": AUDIENCE, "iat": now,
              "exp": now + 300, **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    return "Bearer " + jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def test_a_key_rotation_takes_effect_without_a_restart(jwks: _Jwks, clock: list[float]) -> None:
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    settings = _settings(jwks.url)
    jwks.keys = [_jwk(old, "old")]
    assert authenticate(_token(old, "old"), settings).sub == "u1"
    # Rotation step 1: the provider adds the new key and signs with it.
    jwks.keys = [_jwk(old, "old"), _jwk(new, "new")]
    clock[0] += auth.JWKS_REFRESH_MIN_S
    assert authenticate(_token(new, "new"), settings).sub == "u1"  # an unknown kid fetched the set again
    assert authenticate(_token(old, "old"), settings).sub == "u1"  # both valid during the rotation
    # Step 2: the old key is removed; within the cache time it stops verifying.
    jwks.keys = [_jwk(new, "new")]
    clock[0] += auth.JWKS_CACHE_S
    with pytest.raises(UnauthenticatedError):
        authenticate(_token(old, "old"), settings)
    assert authenticate(_token(new, "new"), settings).sub == "u1"
    assert auth.JWKS_CACHE_S <= 600


def test_unknown_kids_do_not_make_every_request_fetch(jwks: _Jwks, clock: list[float]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwks.keys = [_jwk(key, "k1")]
    settings = _settings(jwks.url)
    authenticate(_token(key, "k1"), settings)
    for n in range(20):
        with pytest.raises(UnauthenticatedError):
            authenticate(_token(key, f"random-{n}"), settings)
    assert jwks.fetches == 1


@pytest.fixture
def one_key(jwks: _Jwks, clock: list[float]) -> tuple[Any, Settings]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwks.keys = [_jwk(key, "k1")]
    return key, _settings(jwks.url)


@pytest.mark.parametrize("changes, words", [
    ({"aud": "other-api"}, "audience"), ({"aud": ["other-api"]}, "audience"),
    ({"iss": "https://evil.test"}, "issuer"),
])
def test_another_audience_or_issuer_is_refused(one_key: tuple[Any, Settings], changes: dict[str, Any],
                                               words: str) -> None:
    key, settings = one_key
    with pytest.raises(UnauthenticatedError, match=words):
        authenticate(_token(key, "k1", **changes), settings)


@pytest.mark.parametrize("claim, value", [
    ("exp", str(int(time.time()) + 300)), ("exp", float(int(time.time()) + 300)), ("exp", True),
    ("iat", "yesterday"), ("nbf", [1]), ("sub", 12), ("sub", ""), ("role", ["operator"]), ("role", None),
    ("mfa", "true"), ("cid", 1101700230708), ("birth_date", 20060501), ("district", ["1001"]),
    ("point_id", {"id": "p"}),
])
def test_every_claim_of_the_wrong_type_is_401(one_key: tuple[Any, Settings], claim: str, value: Any) -> None:
    key, settings = one_key
    with pytest.raises(UnauthenticatedError) as caught:
        authenticate(_token(key, "k1", **{claim: value}), settings)
    assert caught.value.status == 401


@pytest.mark.parametrize("role", ["citizen", "merchant", "registrar", "operator", "auditor"])
def test_a_cid_without_a_valid_checksum_is_401_for_every_role(one_key: tuple[Any, Settings], role: str) -> None:
    key, settings = one_key
    with pytest.raises(UnauthenticatedError):
        authenticate(_token(key, "k1", role=role, cid=BAD_CID), settings)
    assert authenticate(_token(key, "k1", role=role, cid=GOOD_CID), settings).role == role


@pytest.mark.parametrize("role", ["citizen", "merchant"])
def test_a_citizen_or_merchant_token_without_a_cid_is_401(one_key: tuple[Any, Settings], role: str) -> None:
    key, settings = one_key
    with pytest.raises(UnauthenticatedError):
        authenticate(_token(key, "k1", role=role, cid=None), settings)


def test_a_well_formed_token_of_a_role_this_api_does_not_serve_is_403(one_key: tuple[Any, Settings]) -> None:
    key, settings = one_key
    with pytest.raises(ForbiddenError):
        authenticate(_token(key, "k1", role="admin"), settings)
