"""The local development token issuer (ES256).

Its key pair and JWKS are made once in the state folder; only the local stack
and the tests point WALLET_JWKS_FILE / WALLET_JWT_ISSUER at them, so deployed
stages never trust this issuer.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from devstack.paths import state_dir
from devstack.procs import file_lock

__all__ = ["LOCAL_ISSUER", "AUDIENCE", "TOKEN_TTL_S", "ROLES", "ensure_keys", "jwks_path",
           "mint", "parse_claims"]

LOCAL_ISSUER = "wallet-local-dev"
AUDIENCE = "wallet-api"
TOKEN_TTL_S = 3600
ALGORITHM = "ES256"
ROLES = ("citizen", "merchant", "registrar", "operator", "auditor")
_DIR = "dev-issuer"


def _dir() -> Path:
    path = state_dir() / _DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def jwks_path() -> Path:
    return _dir() / "jwks.json"


def _private_path() -> Path:
    return _dir() / "private.pem"


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_keys() -> tuple[Path, Path]:
    """(private key PEM, JWKS file), created on first use."""
    with file_lock(_dir() / "keys.lock"):
        if not (_private_path().exists() and jwks_path().exists()):
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            public_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
            public_jwk.update({"kid": f"local-{uuid.uuid4().hex[:12]}", "alg": ALGORITHM, "use": "sig"})
            _write_atomic(_private_path(), pem, 0o600)
            _write_atomic(jwks_path(), json.dumps({"keys": [public_jwk]}, indent=2).encode(), 0o644)
    return _private_path(), jwks_path()


def parse_claims(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` strings -> claims; ``true``/``false`` become booleans."""
    claims: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--claim wants key=value, got {pair!r}")
        claims[key] = {"true": True, "false": False}.get(value, value)
    return claims


def mint(role: str, claims: dict[str, Any] | None = None, ttl_s: int = TOKEN_TTL_S) -> str:
    """A token of the local issuer for ``role`` with extra ``claims``."""
    private_path, jwks_file = ensure_keys()
    kid = json.loads(jwks_file.read_text())["keys"][0]["kid"]
    now = int(time.time())
    payload: dict[str, Any] = {"sub": f"dev-{uuid.uuid4().hex[:16]}", "role": role,
                               "iss": LOCAL_ISSUER, "aud": AUDIENCE, "iat": now,
                               "exp": now + ttl_s}
    payload.update(claims or {})
    return jwt.encode(payload, private_path.read_bytes(), algorithm=ALGORITHM,
                      headers={"kid": kid})
