"""The secrets (ID pepper, data key, QR signing key and, during a rotation,
the previous QR key), read once per cold start.

On AWS each function's environment names the Secrets Manager entry of each
secret it may read (``WALLET_ID_PEPPER_SECRET_ARN`` ...; infra/stack.py sets
them from the function's declaration). ``load()``, called once as app.py is
imported, fetches them (one ``GetSecretValue`` each) and puts each
value where ``chalicelib.config`` reads it (``WALLET_ID_PEPPER`` ...), so that
every later request of the container uses the cached value. An optional
secret (``functions.OPTIONAL_SECRETS``: the previous QR key) whose entry
holds ``functions.NO_SECRET`` or nothing is no value, not an error. Locally the
variables themselves are set (``.devstack/``) and nothing is fetched. Values
are never logged.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Any

import boto3

from chalicelib.config import get_settings, rebuild
from chalicelib.functions import NO_SECRET, OPTIONAL_SECRETS, SECRETS

__all__ = ["ARN_SUFFIX", "DATA_KEY_VARIABLE", "SecretsUnavailableError", "data_key_from_secret", "load"]

# WALLET_ID_PEPPER_SECRET_ARN names the entry whose value becomes WALLET_ID_PEPPER.
ARN_SUFFIX = "_SECRET_ARN"
DATA_KEY_VARIABLE = "WALLET_DATA_KEY"
_DATA_KEY_BYTES = 32
_OPTIONAL_VARIABLES = frozenset(SECRETS[name] for name in OPTIONAL_SECRETS)
# (variable, ARN) of optional entries read and found to hold no value: not
# fetched again by this container (the environment cannot say "read, empty").
_READ_EMPTY: set[tuple[str, str]] = set()


def data_key_from_secret(value: str) -> str:
    """WALLET_DATA_KEY is base64 of a 32-byte AES key. An entry that holds
    one is used as it is; the entry the stack generates (64 random letters
    and digits, ~380 bits) gives its key by SHA-256, the same on every cold start."""
    try:
        if len(base64.b64decode(value, validate=True)) == _DATA_KEY_BYTES:
            return value
    except (binascii.Error, ValueError):
        pass
    digest = hashlib.sha256(b"wallet-data-key:" + value.encode()).digest()
    return base64.b64encode(digest).decode()


class SecretsUnavailableError(RuntimeError):
    """A secret the function is configured to read could not be read."""


def _wanted() -> dict[str, str]:
    """Variable name -> secret ARN, for each secret named but not yet loaded."""
    wanted = {}
    for variable in SECRETS.values():
        arn = os.environ.get(variable + ARN_SUFFIX)
        if arn and not os.environ.get(variable) and (variable, arn) not in _READ_EMPTY:
            wanted[variable] = arn
    return wanted


def load(client: Any = None) -> list[str]:
    """Fetch every configured secret not yet in the environment; returns the
    variables it set (empty when there is nothing to fetch, as locally and on
    every call after the first)."""
    wanted = _wanted()
    if not wanted:
        return []
    # One GetSecretValue per secret (BatchGetSecretValue would need a
    # permission on every secret of the account: it takes no resource).
    client = client or boto3.client("secretsmanager", region_name=get_settings().region)
    for variable, arn in sorted(wanted.items()):
        try:
            value = client.get_secret_value(SecretId=arn).get("SecretString")
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise SecretsUnavailableError(f"could not read {variable} from Secrets Manager ({code}): check the "
                                          "function's role and the key policy of the stage's key") from exc
        if variable in _OPTIONAL_VARIABLES and (not value or value.strip() == NO_SECRET):
            _READ_EMPTY.add((variable, arn))
            os.environ[variable] = ""
            continue
        if not value:
            raise SecretsUnavailableError(f"the Secrets Manager entry of {variable} has no string value")
        os.environ[variable] = data_key_from_secret(value) if variable == DATA_KEY_VARIABLE else value
    rebuild()
    return sorted(wanted)
