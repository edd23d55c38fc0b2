"""Every setting of the backend, read from the environment in one place,
and the runtime built from them: the composition root of a container.

The same code runs on AWS and locally: on AWS the endpoint variables are unset
and boto3/PynamoDB find the regional endpoints themselves.

``runtime()`` owns everything a container builds once: the settings, the
DynamoDB connection, AWS clients, token keys, every cache (``TtlCache``) and
the services built on them. Each is made on first use by the module that
needs it (``runtime().component(name, build)``, ``runtime().cache(...)``),
so this module imports none of them. Tests and the local stack change the
environment and call ``rebuild()``: a new runtime, nothing carried over;
there are no other reset hooks.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib.cache import TtlCache

__all__ = ["Runtime", "Settings", "get_settings", "rebuild", "runtime"]

T = TypeVar("T")

# DynamoDB has accepted 100 items per TransactWriteItems since 2022; the
# DynamoDB Local build used locally accepts 10 (ARCHITECTURE.md).
TRANSACTION_ITEM_LIMIT_AWS = 100


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = _env(name)
    if raw is None:
        return default
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    dynamodb_endpoint: str | None
    sqs_endpoint: str | None
    s3_endpoint: str | None
    jwt_issuer: str
    jwt_audience: str
    jwks_url: str | None
    jwks_file: str | None
    treasury_shards: int
    transaction_item_limit: int
    id_pepper: str
    data_key: str
    qr_signing_key: str
    schedule_rate_s: int
    # S3 bucket the banks' statements (camt.053) land in; bucket names are
    # global on AWS, so a deployment may name it explicitly.
    statement_bucket: str
    # BANKS.md: a payout without the bank's word after this long is flagged
    # for inquiry (a cash_transfer phase may set its own).
    bank_timeout_hours: int = 24
    # Per-caller abuse limits (chalicelib.ratelimit); off only for the
    # benchmarks, whose few synthetic callers pay thousands of times a minute.
    rate_limits: bool = True
    # KMS key (id or ARN) that wraps the data keys of personal data on AWS;
    # unset locally, where WALLET_DATA_KEY wraps them (chalicelib.pii).
    kms_key_id: str | None = None
    # The QR signing key before the last rotation: its QRs still verify
    # (a QR lives 2 minutes; drop it once the rotation is a few minutes old).
    qr_previous_signing_key: str = ""

    @property
    def resource_prefix(self) -> str:
        """Prefix of every table, queue and bucket name of this stage."""
        return f"wallet-{self.stage}"

    def table_name(self, short: str) -> str:
        return f"{self.resource_prefix}-{short}"

    def queue_name(self, short: str) -> str:
        return f"{self.resource_prefix}-{short}"

    @property
    def is_local(self) -> bool:
        return self.dynamodb_endpoint is not None


def _load() -> Settings:
    stage = _env("WALLET_STAGE", "local") or "local"
    return Settings(
        stage=stage,
        region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "ap-southeast-1")) or "ap-southeast-1",
        dynamodb_endpoint=_env("WALLET_DYNAMODB_ENDPOINT"),
        sqs_endpoint=_env("WALLET_SQS_ENDPOINT"),
        s3_endpoint=_env("WALLET_S3_ENDPOINT"),
        jwt_issuer=_env("WALLET_JWT_ISSUER", "https://id.tangrat.go.th") or "",
        jwt_audience=_env("WALLET_JWT_AUDIENCE", "wallet-api") or "wallet-api",
        jwks_url=_env("WALLET_JWKS_URL"),
        jwks_file=_env("WALLET_JWKS_FILE"),
        treasury_shards=_env_int("WALLET_TREASURY_SHARDS", 8),
        transaction_item_limit=_env_int(
            "WALLET_TRANSACTION_ITEM_LIMIT", TRANSACTION_ITEM_LIMIT_AWS, minimum=3
        ),
        # Secrets: on AWS these come from the function's environment, filled
        # from Secrets Manager by the infrastructure; never logged.
        id_pepper=_env("WALLET_ID_PEPPER", "") or "",
        data_key=_env("WALLET_DATA_KEY", "") or "",
        qr_signing_key=_env("WALLET_QR_SIGNING_KEY", "") or "",
        schedule_rate_s=_env_int("WALLET_SCHEDULE_RATE_S", 60),
        statement_bucket=_env("WALLET_STATEMENT_BUCKET", f"wallet-{stage}-statements")
        or f"wallet-{stage}-statements",
        bank_timeout_hours=_env_int("WALLET_BANK_TIMEOUT_HOURS", 24),
        rate_limits=(_env("WALLET_RATE_LIMITS", "on") or "on") != "off",
        kms_key_id=_env("WALLET_KMS_KEY_ID"),
        qr_previous_signing_key=_env("WALLET_QR_PREVIOUS_SIGNING_KEY", "") or "",
    )


class Runtime:
    """What one container builds once from its settings (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._components: dict[str, Any] = {}
        self._lock = threading.RLock()

    def component(self, name: str, build: Callable[[], T]) -> T:
        """The runtime's ``name``, built by ``build()`` on first use (once,
        even when threads ask at the same time)."""
        found = self._components.get(name)
        if found is None:
            with self._lock:
                found = self._components.get(name)
                if found is None:
                    found = self._components[name] = build()
        return found

    def cache(self, name: str, ttl_s: float | None, entries_max: int) -> TtlCache[Any]:
        """The runtime's cache ``name`` (made on first use with these bounds)."""
        return self.component(f"cache:{name}", lambda: TtlCache(ttl_s, entries_max))


_current: Runtime | None = None
_current_lock = threading.Lock()


def runtime() -> Runtime:
    """The container's runtime, built from the environment on first use."""
    global _current
    found = _current
    if found is None:
        with _current_lock:
            found = _current
            if found is None:
                found = _current = Runtime(_load())
    return found


def rebuild() -> Runtime:
    """A new runtime from the environment as it is now (tests, the local
    stack, benchmarks): every connection, client, cache and service is made
    again on next use."""
    global _current
    with _current_lock:
        _current = Runtime(_load())
        return _current


def get_settings() -> Settings:
    return runtime().settings
