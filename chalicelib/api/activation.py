"""``POST /v1/admin/phases/{phase_id}/activate``: the operator runs the due
activation now instead of waiting for the schedule (mfa required); 202,
safe to call repeatedly (each citizen is credited once per tranche)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.activation.requests import ACTIVATE_BODY
from chalicelib.api.common import ApiRequest, Reply, endpoint, error, ok, operation
from chalicelib.lazy import lazy_module
from chalicelib.phases.definition import PHASE_ID_PATH

if TYPE_CHECKING:
    from chalicelib import audit
    from chalicelib.activation import service
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    audit = lazy_module("chalicelib.audit")
    service = lazy_module("chalicelib.activation.service")

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
OPERATOR = ("operator",)


@bp.route("/v1/admin/phases/{phase_id}/activate", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True, body=ACTIVATE_BODY, body_required=False, path=PHASE_ID_PATH)
def activate_phase(req: ApiRequest, phase_id: str) -> Reply:
    wave = req.body.get("wave")
    body = service.activate(phase_id, wave)
    audit.audit(req.principal, "activation_triggered", f"phase:{phase_id}",
                {"wave": wave, "runs": len(body.get("runs", []))})
    return Reply(202, body)


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/admin/phases/{phase_id}/activate": {"post": operation(
        "Run the due activation of a phase now (all due waves, or one)", OPERATOR,
        {"202": ok("accepted: the crediting runs in the background", {"type": "object", "properties": {
            "phase_id": {"type": "string"}, "status": {"type": "string", "enum": ["accepted"]},
            "runs": {"type": "array", "items": {"type": "object", "properties": {
                "wave": {"type": "integer"}, "tranche": {"type": "integer"}, "messages": {"type": "integer"}}}},
            "note": {"type": "string"}}}),
         "400": error("invalid_request (details.field: wave or body)"),
         "403": error("forbidden: not an operator, or no mfa"),
         "404": error("not_found: no such phase")},
        body=ACTIVATE_BODY, body_required=False, path=PHASE_ID_PATH, mfa=True,
        description="Sends the crediting of every due wave and tranche (waves activate at their "
                    "activate_at, after registration has closed). Safe to call repeatedly: each "
                    "citizen is credited once per tranche; a wave stopped for budget_exhausted "
                    "is resumed (after the budget was raised).")},
}
