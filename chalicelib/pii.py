"""Personal data at rest: keyed hashes for national IDs, envelope encryption for the rest.

National IDs are never stored or logged in clear: every table keys citizens by
``hash_id(cid)``, an HMAC-SHA-256 under a secret pepper, so that a leaked table
cannot be joined back to people by hashing all 13-digit numbers.

Other personal fields (phone numbers, bank account numbers) are encrypted
with envelope encryption: each value under a data key (AES-256-GCM, the
record's key bound as associated data so a ciphertext cannot be moved to
another record), and the data key itself wrapped by a key-encryption key
that the backend never holds in the table: KMS on AWS (``WALLET_KMS_KEY_ID``,
GenerateDataKey / Decrypt with an encryption context), the local key
``WALLET_DATA_KEY`` in the devstack and tests. A stored value is
``v2.<wrapped data key>.<nonce + ciphertext>``; a data key is reused for at
most ``DATA_KEY_REUSE_S`` and ``DATA_KEY_USES_MAX`` values (one KMS call per
few thousand writes, not one per write), and unwrapped keys are cached for
reads. Values written before envelope encryption (no ``v2.``) still decrypt.
Keys and the pepper come from configuration (Secrets Manager on AWS),
never from the repository.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.config import get_settings, runtime
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import aead
else:
    # cryptography's Rust bindings (~8 ms of a cold start): loaded by the
    # first encryption or decryption, not by every function's import.
    aead = lazy_module("cryptography.hazmat.primitives.ciphers.aead")

__all__ = ["hash_id", "identity_hash", "encrypt", "decrypt", "PiiConfigError",
           "DATA_KEY_REUSE_S", "DATA_KEY_USES_MAX", "ENVELOPE_PREFIX"]

_NONCE_BYTES = 12
_KEY_BYTES = 32
ENVELOPE_PREFIX = "v2."
DATA_KEY_REUSE_S = 300.0
DATA_KEY_USES_MAX = 10_000
_UNWRAPPED_CACHE_MAX = 1024
# Bound into every wrap, locally and as KMS's encryption context.
_WRAP_CONTEXT = {"purpose": "wallet-personal-data"}


class PiiConfigError(RuntimeError):
    """A secret the backend cannot run without is missing: a deployment fault."""


def _pepper() -> bytes:
    pepper = get_settings().id_pepper
    if len(pepper) < 16:
        raise PiiConfigError("WALLET_ID_PEPPER must be set to a secret of 16+ characters")
    return pepper.encode()


def _local_key() -> bytes:
    raw = get_settings().data_key
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise PiiConfigError("WALLET_DATA_KEY must be base64 of 32 bytes") from exc
    if len(key) != _KEY_BYTES:
        raise PiiConfigError("WALLET_DATA_KEY must be base64 of 32 bytes")
    return key


def hash_id(value: str, purpose: str = "cid") -> str:
    """Keyed hash of an identifier (hex). ``purpose`` separates domains, so the
    same number hashed as a national ID and as a tax ID gives different keys."""
    return hmac.new(_pepper(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def identity_hash(citizen_hash: str, birth_date: str) -> str:
    """What the program holds of a citizen's identity besides the ID itself:
    a keyed hash of the ID's hash and the birth date (YYYY-MM-DD), so a
    registrar's reading of the ID card can be checked without a birth date
    in clear."""
    return hash_id(f"{citizen_hash}|{birth_date}", purpose="identity")


# -- key-encryption keys ------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad() -> bytes:
    return ";".join(f"{k}={v}" for k, v in sorted(_WRAP_CONTEXT.items())).encode()


def _kms(region: str) -> Any:
    return runtime().component(f"kms:{region}", lambda: boto3.client("kms", region_name=region))


def _new_data_key() -> tuple[bytes, str]:
    """A fresh data key and its wrapped form (the only form stored)."""
    settings = get_settings()
    if settings.kms_key_id:
        answer = _kms(settings.region).generate_data_key(KeyId=settings.kms_key_id, KeySpec="AES_256",
                                                         EncryptionContext=_WRAP_CONTEXT)
        return bytes(answer["Plaintext"]), "k" + _b64(answer["CiphertextBlob"])
    key = os.urandom(_KEY_BYTES)
    nonce = os.urandom(_NONCE_BYTES)
    return key, "l" + _b64(nonce + aead.AESGCM(_local_key()).encrypt(nonce, key, _aad()))


def _unwrap(wrapped: str) -> bytes:
    kind, blob = wrapped[:1], _unb64(wrapped[1:])
    if kind == "k":
        settings = get_settings()
        answer = _kms(settings.region).decrypt(CiphertextBlob=blob, EncryptionContext=_WRAP_CONTEXT)
        return bytes(answer["Plaintext"])
    if kind == "l":
        return aead.AESGCM(_local_key()).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad())
    raise ValueError("unknown wrapping of a data key")


class _DataKeys:
    """The current data key of this process, and unwrapped keys for reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[bytes, str, float, int] | None = None  # key, wrapped, since, uses
        self._unwrapped: dict[str, bytes] = {}

    def current(self) -> tuple[bytes, str]:
        with self._lock:
            now = time.monotonic()
            found = self._current
            if found is None or now - found[2] >= DATA_KEY_REUSE_S or found[3] >= DATA_KEY_USES_MAX:
                key, wrapped = _new_data_key()
                found = (key, wrapped, now, 0)
            self._current = (found[0], found[1], found[2], found[3] + 1)
            return found[0], found[1]

    def unwrap(self, wrapped: str) -> bytes:
        with self._lock:
            cached = self._unwrapped.get(wrapped)
        if cached is not None:
            return cached
        key = _unwrap(wrapped)
        with self._lock:
            if len(self._unwrapped) >= _UNWRAPPED_CACHE_MAX:
                self._unwrapped.clear()
            self._unwrapped[wrapped] = key
        return key



def _keys() -> _DataKeys:
    """The runtime's data keys (made again with the runtime: new settings, new keys)."""
    return runtime().component("pii-data-keys", _DataKeys)


def encrypt(text: str, context: str) -> str:
    """Envelope-encrypt ``text``; ``context`` (e.g. the record's key) is bound
    as associated data so a ciphertext cannot be moved to another record."""
    key, wrapped = _keys().current()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = aead.AESGCM(key).encrypt(nonce, text.encode(), context.encode())
    return f"{ENVELOPE_PREFIX}{wrapped}.{_b64(nonce + sealed)}"


def decrypt(token: str, context: str) -> str:
    if token.startswith(ENVELOPE_PREFIX):
        wrapped, _, payload = token[len(ENVELOPE_PREFIX):].partition(".")
        raw = _unb64(payload)
        key = _keys().unwrap(wrapped)
        return aead.AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
    # Written before envelope encryption: under the local key itself.
    raw = base64.b64decode(token)
    return aead.AESGCM(_local_key()).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
