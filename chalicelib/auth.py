"""Who is calling: the JWT of the identity provider behind Tang Rat.

Verified against the configured JWKS (a file locally, the provider's URL on
AWS), issuer and audience, with ``exp`` required and 60 s of leeway. Only
ES256 and RS256 are accepted: ``alg: none`` and every HMAC algorithm are
refused before any key is looked at, so a token "signed" with the public key
as an HMAC secret never verifies; a key is used only for the algorithm of
its own type (an RS256 token naming an EC key is refused, not fed to it).

``authenticate`` is the one place a token is judged: whatever is wrong with
it (any exception of the JWT library included) is 401 ``unauthenticated``,
and so is a claim of the wrong type (``CLAIMS``: ``exp`` a string, ``role`` a
list) or a ``cid`` without a valid checksum, for every role that carries one:
the identity in the token is unusable, the caller must sign in again. A
well-formed token of a role this API does not serve is 403.

Keys of a JWKS URL are cached for at most ``JWKS_CACHE_S``; a token naming a
key the cache does not hold fetches the set again (at most once every
``JWKS_REFRESH_MIN_S``), so a rotation (a second key added, then the old one
removed) takes effect without a restart, and a removed key stops verifying
within ``JWKS_CACHE_S``.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib import limits
from chalicelib.config import Settings, get_settings, runtime
from chalicelib.errors import ForbiddenError, InvalidRequestError, UnauthenticatedError
from chalicelib.lazy import lazy_module
from chalicelib.validation import Bool, Cid, Date, District, Field, Int, ListOf, Obj, Opt, Str

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
    "CLAIMS",
    "JWKS_CACHE_S",
    "JWKS_REFRESH_MIN_S",
]

ROLES = frozenset({"citizen", "merchant", "registrar", "operator", "auditor"})
ALLOWED_ALGORITHMS = ("ES256", "RS256")
LEEWAY_S = 60
TOKEN_CHARS_MAX = 8192
JWKS_CACHE_S = 300
JWKS_REFRESH_MIN_S = 10
# Which key type verifies which algorithm.
_KEY_TYPE = {"ES256": "EC", "RS256": "RSA"}
_CLAIM_CHARS_MAX = 256


class _Audience(Field):
    """``aud``: a string or a list of strings (RFC 7519)."""

    _one = Str(1, _CLAIM_CHARS_MAX)
    _many = ListOf(Str(1, _CLAIM_CHARS_MAX), 1, 20)

    def parse(self, value: Any, path: str) -> Any:
        return self._many.parse(value, path) if isinstance(value, list) else self._one.parse(value, path)

    def schema(self) -> dict[str, Any]:
        return {}


_TIME = Int(0, 2**40)
# The type of every claim this API reads; others (the provider's own) pass.
CLAIMS = Obj({
    "sub": Str(1, _CLAIM_CHARS_MAX), "role": Str(1, _CLAIM_CHARS_MAX), "iss": Str(1, _CLAIM_CHARS_MAX),
    "aud": _Audience(), "exp": _TIME, "iat": Opt(_TIME), "nbf": Opt(_TIME),
    "mfa": Opt(Bool()), "cid": Opt(Cid()), "birth_date": Opt(Date()), "district": Opt(District()),
    "nationality": Opt(Str(2, 3)), "point_id": Opt(Str(1, limits.POINT_ID_CHARS_MAX, limits.POINT_ID_PATTERN)),
}, closed=False)
# Roles whose tokens name a person by cid (API.md): it must be there.
_CID_ROLES = frozenset({"citizen", "merchant"})


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


def _now() -> float:
    return time.monotonic()


class _UrlKeys:
    """The key set of a JWKS URL, kept at most ``JWKS_CACHE_S``; a kid not in
    it fetches again, at most once every ``JWKS_REFRESH_MIN_S``."""

    def __init__(self, url: str, clock: Callable[[], float] | None = None) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False)
        self._clock = clock or (lambda: _now())
        self._lock = threading.Lock()
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = float("-inf")

    def _fetch(self, now: float) -> None:
        self._fetched_at = now
        self._keys = jwt.PyJWKSet.from_dict(self._client.fetch_data())

    def get(self, kid: str | None) -> list[jwt.PyJWK]:
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= JWKS_CACHE_S:
                self._fetch(now)
            found = _matching(self._keys, kid)
            if not found and now - self._fetched_at >= JWKS_REFRESH_MIN_S:
                self._fetch(now)
                found = _matching(self._keys, kid)
            return found


def _matching(keys: jwt.PyJWKSet | None, kid: str | None) -> list[jwt.PyJWK]:
    if keys is None:
        return []
    return [k for k in keys.keys if kid is None or k.key_id == kid]


class _Keys:
    """The JWKS, loaded once per container (file: again when it changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file_state: tuple[str, float] | None = None
        self._file_keys: jwt.PyJWKSet | None = None
        self._urls: dict[str, _UrlKeys] = {}

    def signing_key(self, kid: str | None, algorithm: str, settings: Settings) -> Any:
        if settings.jwks_url:
            with self._lock:
                source = self._urls.setdefault(settings.jwks_url, _UrlKeys(settings.jwks_url))
            candidates = source.get(kid)
        elif settings.jwks_file:
            candidates = _matching(self._from_file(settings.jwks_file), kid)
        else:
            raise UnauthenticatedError("No identity provider is configured for this stage.")
        candidates = [k for k in candidates if k.key_type == _KEY_TYPE[algorithm]]
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
    UnauthenticatedError (401) for anything short of a valid token with
    claims of the right types, ForbiddenError (403) for a role this API
    does not serve."""
    settings = settings or get_settings()
    token = _bearer(authorization)
    try:
        claims = _verified_claims(token, settings)
    except (UnauthenticatedError, ForbiddenError):
        raise
    except Exception as exc:
        raise UnauthenticatedError("The token could not be verified; sign in again.") from exc
    return Principal(sub=claims["sub"], role=claims["role"], claims=claims)


def _verified_claims(token: str, settings: Settings) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise UnauthenticatedError("The token is not a well-formed JWT.") from exc
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
        raise UnauthenticatedError(f"Tokens must be signed with {' or '.join(ALLOWED_ALGORITHMS)}.")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise UnauthenticatedError("The token's kid must be a string.")
    key = _keys().signing_key(kid, algorithm, settings)
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
    return _typed(claims)


def _typed(claims: Any) -> dict[str, Any]:
    """Every claim this API reads, of its type (CLAIMS), a cid with a valid
    checksum for every role that carries one; 401 naming the claim."""
    if not isinstance(claims, dict):
        raise UnauthenticatedError("The token's claims are not an object.")
    try:
        CLAIMS.parse(claims, "")
    except InvalidRequestError as exc:
        raise UnauthenticatedError(f"The token's claim '{exc.field}' is not usable; sign in again.",
                                   {"claim": exc.field}) from exc
    role = claims["role"]
    if role not in ROLES:
        raise ForbiddenError("The token's role may not use this API.")
    if role in _CID_ROLES and "cid" not in claims:
        raise UnauthenticatedError(f"A {role} token must carry the cid claim; sign in again.", {"claim": "cid"})
    return claims


def require_role(principal: Principal, roles: Iterable[str]) -> None:
    """The caller's role is one of ``roles``; a registrar also acts only at
    a point of its own (its token's ``point_id``), never without one."""
    allowed = set(roles)
    if principal.role not in allowed:
        raise ForbiddenError(f"This operation is for {', '.join(sorted(allowed))}; your role is {principal.role}.")
    if principal.role == "registrar" and not principal.claims.get("point_id"):
        raise ForbiddenError("This registrar token is not bound to a registration point (claim point_id).")


def require_mfa(principal: Principal) -> None:
    """Operator writes need a token from a multi-factor sign-in."""
    if principal.role == "operator" and not principal.mfa:
        raise ForbiddenError("Operator changes need a token from a multi-factor sign-in (mfa: true).")
