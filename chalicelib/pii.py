"""Personal data at rest: keyed hashes for national IDs, encryption for the rest.

National IDs are never stored or logged in clear: every table keys citizens by
``hash_id(cid)``, an HMAC-SHA-256 under a secret pepper, so that a leaked table
cannot be joined back to people by hashing all 13-digit numbers. Other personal
fields (phone) are encrypted with AES-256-GCM under the data key.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.config import get_settings

__all__ = ["hash_id", "identity_hash", "encrypt", "decrypt", "PiiConfigError"]

_NONCE_BYTES = 12
_KEY_BYTES = 32


class PiiConfigError(RuntimeError):
    """A secret the backend cannot run without is missing: a deployment fault."""


def _pepper() -> bytes:
    pepper = get_settings().id_pepper
    if len(pepper) < 16:
        raise PiiConfigError("WALLET_ID_PEPPER must be set to a secret of 16+ characters")
    return pepper.encode()


def _data_key() -> bytes:
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


def encrypt(text: str, context: str) -> str:
    """AES-256-GCM; ``context`` (e.g. the record's key) is bound as associated
    data so a ciphertext cannot be moved to another record."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_data_key()).encrypt(nonce, text.encode(), context.encode())
    return base64.b64encode(nonce + sealed).decode()


def decrypt(token: str, context: str) -> str:
    raw = base64.b64decode(token)
    return AESGCM(_data_key()).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
