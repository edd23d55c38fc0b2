"""Token verification: every way a token can be wrong is a 401 (or 403 for the role)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chalicelib.auth import Principal, authenticate, require_mfa, require_role
from chalicelib.config import Settings, get_settings, rebuild
from chalicelib.errors import ForbiddenError, UnauthenticatedError

ISSUER = "https://issuer.test"
AUDIENCE = "wallet-api"


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = jwt.algorithms.ECAlgorithm if alg == "ES256" else jwt.algorithms.RSAAlgorithm
    data = json.loads(algo.to_jwk(public_key))
    data.update({"kid": kid, "alg": alg, "use": "sig"})
    return data


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Any]:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [_jwk(ec_key.public_key(), "ec1", "ES256"), _jwk(rsa_key.public_key(), "rsa1", "RS256")]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    rebuild()
    return {"ec": ec_key, "rsa": rsa_key, "path": str(path)}


@pytest.fixture
def settings(keys: dict[str, Any]) -> Settings:
    from dataclasses import replace

    return replace(get_settings(), jwks_file=keys["path"], jwks_url=None, jwt_issuer=ISSUER,
                   jwt_audience=AUDIENCE)


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "user-1", "role": "citizen", "cid": "1101700230708", "iss": ISSUER, "aud": AUDIENCE, "iat": now,
              "exp": now + 300}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(keys: dict[str, Any], alg: str = "ES256", kid: str = "ec1", **claims: Any) -> str:
    key = keys["ec"] if alg == "ES256" else keys["rsa"]
    return "Bearer " + jwt.encode(_claims(**claims), key, algorithm=alg, headers={"kid": kid})


def test_valid_es256_and_rs256_tokens(keys: dict[str, Any], settings: Settings) -> None:
    principal = authenticate(_token(keys), settings)
    assert (principal.sub, principal.role) == ("user-1", "citizen")
    assert authenticate(_token(keys, "RS256", "rsa1", role="auditor"), settings).role == "auditor"


def test_no_token(settings: Settings) -> None:
    for header in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(UnauthenticatedError):
            authenticate(header, settings)


def test_bad_signature(keys: dict[str, Any], settings: Settings) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(), other, algorithm="ES256", headers={"kid": "ec1"})
    with pytest.raises(UnauthenticatedError, match="signature"):
        authenticate(f"Bearer {token}", settings)


def test_another_issuer(keys: dict[str, Any], settings: Settings) -> None:
    with pytest.raises(UnauthenticatedError, match="issuer"):
        authenticate(_token(keys, iss="https://evil.test"), settings)


def test_wrong_audience(keys: dict[str, Any], settings: Settings) -> None:
    with pytest.raises(UnauthenticatedError, match="audience"):
        authenticate(_token(keys, aud="other-api"), settings)


def test_expired_beyond_leeway(keys: dict[str, Any], settings: Settings) -> None:
    now = int(time.time())
    with pytest.raises(UnauthenticatedError, match="expired"):
        authenticate(_token(keys, exp=now - 120), settings)
    # Within the 60 s leeway it still verifies.
    assert authenticate(_token(keys, exp=now - 30), settings).sub == "user-1"


def test_exp_is_required(keys: dict[str, Any], settings: Settings) -> None:
    with pytest.raises(UnauthenticatedError, match="exp"):
        authenticate(_token(keys, exp=None), settings)


def test_alg_none_is_refused(keys: dict[str, Any], settings: Settings) -> None:
    token = jwt.encode(_claims(), None, algorithm="none")
    with pytest.raises(UnauthenticatedError, match="ES256"):
        authenticate(f"Bearer {token}", settings)


def test_hs256_signed_with_the_public_key_is_refused(keys: dict[str, Any], settings: Settings) -> None:
    import base64
    import hashlib
    import hmac

    public_pem = keys["rsa"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    # Hand-made: PyJWT itself refuses to use a PEM public key as an HMAC secret.
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa1'}).encode())}." \
                    f"{b64(json.dumps(_claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(UnauthenticatedError, match="ES256"):
        authenticate(f"Bearer {signing_input}.{b64(signature)}", settings)


def test_unknown_role_is_forbidden(keys: dict[str, Any], settings: Settings) -> None:
    with pytest.raises(ForbiddenError):
        authenticate(_token(keys, role="admin"), settings)


def test_role_not_allowed_here_and_mfa() -> None:
    citizen = Principal("u", "citizen", {})
    with pytest.raises(ForbiddenError):
        require_role(citizen, {"operator"})
    require_role(citizen, {"citizen"})
    with pytest.raises(ForbiddenError):
        require_mfa(Principal("op", "operator", {"mfa": False}))
    with pytest.raises(ForbiddenError):
        require_mfa(Principal("op", "operator", {"mfa": "true"}))
    require_mfa(Principal("op", "operator", {"mfa": True}))
