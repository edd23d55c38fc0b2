"""``POST /v1/admin/phases/{phase_id}/activate``: the operator runs the due
activation now instead of waiting for the schedule (mfa required); 202,
safe to call repeatedly (each citizen is credited once per tranche)."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.activation import service
from chalicelib.activation.requests import WAVES_MAX, parse_activate_body
from chalicelib.auth import authenticate, require_mfa, require_role
from chalicelib.errors import WalletError
from chalicelib.validation import parse_json

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
OPERATOR = ("operator",)


@bp.route("/v1/admin/phases/{phase_id}/activate", methods=["POST"])
def activate_phase(phase_id: str) -> Response:
    try:
        principal = authenticate(bp.current_request.headers.get("authorization"))
        require_role(principal, OPERATOR)
        require_mfa(principal)
        raw = bp.current_request.raw_body
        wave = parse_activate_body(parse_json(raw) if raw else None)
        body = service.activate(phase_id, wave)
    except WalletError as exc:
        return Response(body=exc.body(), status_code=exc.status)
    return Response(body=body, status_code=202)


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
