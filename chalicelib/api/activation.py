"""``POST /v1/admin/phases/{phase_id}/activate``: the operator runs the due
activation now instead of waiting for the schedule (mfa required); 202,
safe to call repeatedly (each citizen is credited once per tranche)."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import audit
from chalicelib.activation import service
from chalicelib.activation.requests import WAVES_MAX, parse_activate_body
from chalicelib.api.common import ApiRequest, Reply, endpoint

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
OPERATOR = ("operator",)


@bp.route("/v1/admin/phases/{phase_id}/activate", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True)
def activate_phase(req: ApiRequest, phase_id: str) -> Reply:
    wave = parse_activate_body(req.json(optional=True))
    body = service.activate(phase_id, wave)
    audit.audit(req.principal, "activation_triggered", f"phase:{phase_id}",
                {"wave": wave, "runs": len(body.get("runs", []))})
    return Reply(202, body)


_ERROR = {"description": "error body (API.md)"}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/admin/phases/{phase_id}/activate": {"post": {
        "summary": "Run the due activation of a phase now (all due waves, or one)",
        "description": "Sends the crediting of every due wave and tranche (waves activate at their "
                       "activate_at, after registration has closed). Safe to call repeatedly: each "
                       "citizen is credited once per tranche; a wave stopped for budget_exhausted "
                       "is resumed (after the budget was raised).",
        "x-roles": ["operator (mfa)"],
        "parameters": [{"name": "phase_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "properties": {"wave": {"type": "integer", "minimum": 1, "maximum": WAVES_MAX,
                                    "description": "1-based; absent: every due wave"}}}}}},
        "responses": {
            "202": {"description": "accepted: the crediting runs in the background", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "phase_id": {"type": "string"}, "status": {"const": "accepted"},
                    "runs": {"type": "array", "items": {"type": "object", "properties": {
                        "wave": {"type": "integer"}, "tranche": {"type": "integer"},
                        "messages": {"type": "integer"}}}},
                    "note": {"type": "string"}}}}}},
            "400": {"description": "invalid_request (details.field: wave or body)"},
            "401": {"description": "unauthenticated"},
            "403": {"description": "forbidden: not an operator, or no mfa"},
            "404": {"description": "not_found: no such phase"},
        }}},
}
