"""Validation of the operator's activation request (``{"wave"?}``)."""
from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidRequestError

__all__ = ["WAVES_MAX", "parse_activate_body"]

# Far above any plan (phase 3 uses a handful of waves); bounds the input.
WAVES_MAX = 366


def parse_activate_body(body: Any) -> int | None:
    """The wave asked for, or None for every due wave. An absent or empty
    body means every wave."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise InvalidRequestError("body", 'The body must be a JSON object such as {"wave": 1} or {}.')
    unknown = sorted(set(body) - {"wave"})
    if unknown:
        raise InvalidRequestError(unknown[0], f"Unknown field {unknown[0]!r}; the only field is 'wave'.")
    wave = body.get("wave")
    if wave is None:
        return None
    if not isinstance(wave, int) or isinstance(wave, bool) or not 1 <= wave <= WAVES_MAX:
        raise InvalidRequestError("wave", f"wave must be a whole number 1..{WAVES_MAX} (waves are 1-based).")
    return wave
