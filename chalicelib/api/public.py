"""Public endpoints: health and the OpenAPI document (no token)."""
from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import openapi
from chalicelib.api.common import ApiRequest, endpoint, ok, operation

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)


@bp.route("/v1/health", methods=["GET"])
@endpoint(bp, roles=None)
def health(req: ApiRequest) -> dict[str, Any]:
    return {"status": "ok"}


@bp.route("/v1/openapi.json", methods=["GET"])
@endpoint(bp, roles=None)
def openapi_document(req: ApiRequest) -> dict[str, Any]:
    return openapi.document()


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/health": {"get": operation("Liveness", None, {"200": ok("up", {
        "type": "object", "properties": {"status": {"type": "string", "enum": ["ok"]}}})})},
    "/v1/openapi.json": {"get": operation("This document", None, {"200": ok("OpenAPI 3", {"type": "object"})})},
}
