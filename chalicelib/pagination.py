"""Cursors of lists read from a DynamoDB index: the last evaluated key, as
an opaque URL-safe string. A cursor that is not one of ours is a 400
naming ``cursor``, never a 500."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.errors import InvalidRequestError

__all__ = ["encode_cursor", "decode_cursor"]


def encode_cursor(last_evaluated_key: dict[str, Any]) -> str:
    text = json.dumps(last_evaluated_key, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequestError("cursor", "cursor must be the next_cursor of an earlier page; "
                                            "start without it.") from exc
    if not isinstance(key, dict) or not all(isinstance(v, dict) for v in key.values()):
        raise InvalidRequestError("cursor", "cursor must be the next_cursor of an earlier page; start without it.")
    return key
