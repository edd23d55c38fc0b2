"""What each Lambda function of app.py is and may touch, declared next to its
handler.

Every handler of app.py (the API's one function, each SQS handler and each
schedule) has a ``FunctionSpec`` beside it: its memory, timeout and reserved
concurrency, the tables it reads and writes, the queues it sends to and the
one it consumes, the statement bucket and the secrets it reads. The CDK app
(infra/) builds each function's settings and its own IAM role from this and
nothing else, so that a function can touch only what its declaration names; a
test fails on a handler without a declaration and on any wildcard in the
roles. Pure: no AWS library.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "API_HANDLER",
    "FunctionSpec",
    "NO_SECRET",
    "OPTIONAL_SECRETS",
    "SECRETS",
    "declare",
    "declared",
    "reset_declarations",
    "time_left",
]

# The API's routes run in one function, named as Chalice names it.
API_HANDLER = "api_handler"

# Secrets Manager entries every function that needs them reads once per cold
# start (chalicelib/secrets.py); the environment variable is the local fallback.
SECRETS: dict[str, str] = {
    "id-pepper": "WALLET_ID_PEPPER",
    "data-key": "WALLET_DATA_KEY",
    "qr-signing-key": "WALLET_QR_SIGNING_KEY",
    # The QR key before the last rotation (its QRs verify for the minutes they
    # live, chalicelib/qr/codec.py). Optional: between rotations its entry
    # holds NO_SECRET and the function runs without a previous key.
    "qr-previous-signing-key": "WALLET_QR_PREVIOUS_SIGNING_KEY",
}
# Secrets a function runs without: an entry holding NO_SECRET (or nothing) is no value.
OPTIONAL_SECRETS = frozenset({"qr-previous-signing-key"})
# What an optional secret's entry holds when there is no value (the stack's
# initial value; Secrets Manager takes no empty SecretString).
NO_SECRET = "none"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: settings and every resource it may touch.

    Table, queue and secret names are short names (``transfers``,
    ``activation``, ``id-pepper``); the stage prefix is added by the
    infrastructure. ``writes`` implies read access to the same tables.
    """

    name: str
    memory_mb: int
    timeout_s: int
    why: str
    reserved_concurrency: int | None = None
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    sends: tuple[str, ...] = ()
    consumes: str | None = None
    batch_size: int = 1
    max_concurrency: int | None = None
    statement_bucket: str | None = None  # None, "read" or "write"
    secrets: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()  # tables whose DynamoDB stream it reads

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the function touches, read or write."""
        return tuple(sorted(set(self.reads) | set(self.writes)))


_DECLARED: dict[str, FunctionSpec] = {}


def declare(name: str, *, memory_mb: int, timeout_s: int, why: str, **kwargs: object) -> FunctionSpec:
    """Declare the function ``name`` (the handler's Python name, or
    API_HANDLER); declaring one name twice with other settings is an error."""
    spec = FunctionSpec(name=name, memory_mb=memory_mb, timeout_s=timeout_s, why=why, **kwargs)  # type: ignore[arg-type]
    if spec.consumes is not None and spec.batch_size < 1:
        raise ValueError(f"{name}: batch_size must be >= 1")
    unknown = set(spec.secrets) - set(SECRETS)
    if unknown:
        raise ValueError(f"{name}: unknown secrets {sorted(unknown)}; known: {sorted(SECRETS)}")
    if spec.statement_bucket not in (None, "read", "write"):
        raise ValueError(f"{name}: statement_bucket must be None, 'read' or 'write'")
    existing = _DECLARED.get(name)
    if existing is not None and existing != spec:
        raise ValueError(f"function {name!r} is declared twice with different settings")
    _DECLARED[name] = spec
    return spec


def declared() -> dict[str, FunctionSpec]:
    """Every declared function by name."""
    return dict(_DECLARED)


def reset_declarations() -> None:
    """Forget every declaration (tests that declare their own)."""
    _DECLARED.clear()


def time_left(context: Any) -> Callable[[], float] | None:
    """The seconds a function's invocation has left, from Lambda's context
    (``get_remaining_time_in_millis``); None without one (tests, scripts)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return lambda: float(remaining()) / 1000
