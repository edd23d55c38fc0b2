"""Secrets of the local stack: generated once into the state folder and reused,
so data written to a DynamoDB Local data folder stays readable across restarts."""
from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from devstack.paths import state_dir
from devstack.procs import file_lock

__all__ = ["load_or_create"]

_FILE = "secrets.json"
_KEY_BYTES = 32


def _generate() -> dict[str, str]:
    return {
        "WALLET_ID_PEPPER": secrets.token_urlsafe(_KEY_BYTES),
        "WALLET_DATA_KEY": base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode(),
        "WALLET_QR_SIGNING_KEY": base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode(),
    }


def load_or_create() -> dict[str, str]:
    """The local secrets as environment variables (names -> values)."""
    path: Path = state_dir() / _FILE
    with file_lock(state_dir() / "secrets.lock"):
        current = json.loads(path.read_text()) if path.exists() else {}
        fresh = _generate()
        missing = {k: v for k, v in fresh.items() if not current.get(k)}
        if missing:
            current.update(missing)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(current, indent=2))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
    return {k: current[k] for k in fresh}
