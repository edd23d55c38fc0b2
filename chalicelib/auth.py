"""Who is calling: the JWT of the identity provider behind Tang Rat.

Verified against the configured JWKS (a file locally, the provider's URL on
AWS), issuer and audience, with ``exp`` required and 60 s of leeway. Only
ES256 and RS256 are accepted: ``alg: none`` and every HMAC algorithm are
refused before any key is looked at, so a token "signed" with the public key
as an HMAC secret never verifies.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings, get_settings, runtime
from chalicelib.errors import ForbiddenError, UnauthenticatedError
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    import jwt
else:
    jwt = lazy_module("jwt")  # PyJWT and cryptography's X.509: only the API verifies tokens

__all__ = [
    "Principal",
    "ROLES",
    "ALLOWED_ALGORITHMS",
    "LEEWAY_S",
    "authenticate",
    "require_role",
    "require_mfa",
]

ROLES = frozenset({"citizen", "merchant", "registrar", "operator", "auditor"})
ALLOWED_ALGORITHMS = ("ES256", "RS256")
LEEWAY_S = 60
TOKEN_CHARS_MAX = 8192
JWKS_CACHE_S = 300


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """The caller, for scoping idempotency keys and resources."""
        return f"{self.role}:{self.sub}"

    @property
    def mfa(self) -> bool:
        return self.claims.get("mfa") is True


class _Keys:
    """The JWKS, loaded once per container (file: again when it changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file_state: tuple[str, float] | None = None
        self._file_keys: jwt.PyJWKSet | None = None
        self._clients: dict[str, jwt.PyJWKClient] = {}

    def signing_key(self, token: str, kid: str | None, settings: Settings) -> Any:
        if settings.jwks_url:
            client = self._clients.get(settings.jwks_url)
            if client is None:
                client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=JWKS_CACHE_S)
                self._clients[settings.jwks_url] = client
            try:
                return client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise UnauthenticatedError("The token's signing key is not one of the identity provider's.") from exc
        if not settings.jwks_file:
            raise UnauthenticatedError("No identity provider is configured for this stage.")
        keys = self._from_file(settings.jwks_file)
        candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
        if len(candidates) != 1:
            raise UnauthenticatedError("The token's signing key is not one of the identity provider's.")
        return candidates[0].key

    def _from_file(self, path: str) -> jwt.PyJWKSet:
        mtime = os.stat(path).st_mtime
        with self._lock:
            if self._file_state != (path, mtime) or self._file_keys is None:
                with open(path, encoding="utf-8") as handle:
                    self._file_keys = jwt.PyJWKSet.from_dict(json.load(handle))
                self._file_state = (path, mtime)
            return self._file_keys


def _keys() -> _Keys:
    """The runtime's key cache (rebuilt with the runtime when keys rotate in tests)."""
    return runtime().component("token-keys", _Keys)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise UnauthenticatedError("Send the Tang Rat token as 'Authorization: Bearer <token>'.")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthenticatedError("The Authorization header must be 'Bearer <token>'.")
    if len(token) > TOKEN_CHARS_MAX:
        raise UnauthenticatedError("The token is too long to be one of ours.")
    return token


def authenticate(authorization: str | None, settings: Settings | None = None) -> Principal:
    """The caller of a request, from its Authorization header; raises
    UnauthenticatedError (401) for anything short of a valid token."""
    settings = settings or get_settings()
    token = _bearer(authorization)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise UnauthenticatedError("The token is not a well-formed JWT.") from exc
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise UnauthenticatedError(f"Tokens must be signed with {' or '.join(ALLOWED_ALGORITHMS)}.")
    key = _keys().signing_key(token, header.get("kid"), settings)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise UnauthenticatedError("The token has expired; sign in again.") from exc
    except jwt.InvalidAudienceError as exc:
        raise UnauthenticatedError("The token is not meant for this API (audience).") from exc
    except jwt.InvalidIssuerError as exc:
        raise UnauthenticatedError("The token was issued by an issuer this API does not trust.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise UnauthenticatedError(f"The token lacks the '{exc.claim}' claim.") from exc
    except jwt.PyJWTError as exc:
        raise UnauthenticatedError("The token's signature does not verify.") from exc
    role = claims.get("role")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise UnauthenticatedError("The token's 'sub' claim must be a non-empty string.")
    if role not in ROLES:
        raise ForbiddenError("The token's role may not use this API.")
    return Principal(sub=claims["sub"], role=role, claims=claims)


def require_role(principal: Principal, roles: Iterable[str]) -> None:
    allowed = set(roles)
    if principal.role not in allowed:
        raise ForbiddenError(f"This operation is for {', '.join(sorted(allowed))}; your role is {principal.role}.")


def require_mfa(principal: Principal) -> None:
    """Operator writes need a token from a multi-factor sign-in."""
    if principal.role == "operator" and not principal.mfa:
        raise ForbiddenError("Operator changes need a token from a multi-factor sign-in (mfa: true).")
