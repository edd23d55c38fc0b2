"""The operator's activation request (``{"wave"?}``), as the spec that
parses it and writes its OpenAPI schema."""
from __future__ import annotations

from chalicelib.limits import PHASE_WAVES_MAX
from chalicelib.validation import Int, Nullable, Obj, Opt

__all__ = ["ACTIVATE_BODY"]

# 1-based; absent, null or an empty body (the edge parses none as {}):
# every due wave. Whether the phase has that many waves is the use case's.
ACTIVATE_BODY = Obj({"wave": Opt(Nullable(Int(1, PHASE_WAVES_MAX)))})

