"""Registration-point endpoints (registrars bound to a point) and the
operator's import of exclusion lists, which registration reads."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import audit
from chalicelib.api.citizen import REGISTRATION_SCHEMA
from chalicelib.api.common import ApiRequest, Reply, endpoint
from chalicelib.clock import utcnow
from chalicelib.exclusions import CIDS_PER_REQUEST_MAX
from chalicelib.registration import usecases
from chalicelib.registration.phases import phase_rules
from chalicelib.validation import Cid, Const, Date, District, ListOf, Obj, PhaseId, Str

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
REGISTRAR = {"registrar"}
OPERATOR = {"operator"}


def _registrar(req: ApiRequest) -> dict[str, Any]:
    return {**req.principal.claims, "sub": req.principal.sub}


@bp.route("/v1/assisted-registrations", methods=["POST"])
@endpoint(bp, roles=REGISTRAR)
def assisted_registration(req: ApiRequest) -> Reply:
    status, body = usecases.register_assisted(_registrar(req), req.json(), phases=phase_rules, now=utcnow())
    return Reply(status, body)


@bp.route("/v1/cards/{card_code}/unlock", methods=["POST"])
@endpoint(bp, roles=REGISTRAR)
def unlock_card(req: ApiRequest, card_code: str) -> dict[str, Any]:
    return usecases.unlock_card(_registrar(req), card_code, req.json())


@bp.route("/v1/admin/exclusions", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True)
def import_exclusions(req: ApiRequest) -> dict[str, Any]:
    body = req.json()
    result = usecases.import_exclusions(body, req.principal.sub)
    # Which list and how many; never the IDs.
    audit.audit(req.principal, "exclusions_imported", f"exclusion-list:{body['list']}",
                {"received": len(body["cids"]), **result})
    return result


# -- OpenAPI path items of this blueprint, for the document at /v1/openapi.json --

ASSISTED_BODY = Obj({"phase_id": PhaseId(), "cid": Cid(), "birth_date": Date(), "district": District(),
                     "consent": Const(True),
                     "pin": Str(6, 6, r"[0-9]{6}", "6 digits, not all the same, not a run such as 123456")})
UNLOCK_BODY = Obj({"cid": Cid(), "pin": Str(6, 6, r"[0-9]{6}", "6 digits, not all the same, not a run")})
EXCLUSIONS_BODY = Obj({"list": Str(1, 64, r"[a-z][a-z0-9_]{0,63}", "a list name such as welfare_card"),
                       "cids": ListOf(Cid(), 1, CIDS_PER_REQUEST_MAX)})
_ASSISTED_SCHEMA = {**REGISTRATION_SCHEMA, "properties": {
    **REGISTRATION_SCHEMA["properties"],
    "card_code": {"type": "string", "pattern": "^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$",
                  "description": "accepted in a wallet phase: the code to print on the wallet card"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/assisted-registrations": {"post": {
        "summary": "A registrar registers a citizen from the ID card and issues a wallet card",
        "x-roles": ["registrar"],
        "requestBody": {"required": True, **_json(ASSISTED_BODY.schema())},
        "responses": {
            "201": {"description": "registered now", **_json(_ASSISTED_SCHEMA)},
            "200": {"description": "registered before: the same registration (and card)", **_json(_ASSISTED_SCHEMA)},
            "400": {"description": "invalid_request (details.field), e.g. a weak PIN or a wrong check digit"},
            "403": {"description": "forbidden: not a registrar bound to a point (point_id)"},
            "404": {"description": "not_found: no such phase"},
            "422": {"description": "registration_closed"},
            "503": {"description": "paused (Retry-After)"}}}},
    "/v1/cards/{card_code}/unlock": {"post": {
        "summary": "Set a new PIN and unlock a card once the citizen has shown the ID card",
        "x-roles": ["registrar"],
        "parameters": [{"name": "card_code", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, **_json(UNLOCK_BODY.schema())},
        "responses": {
            "200": {"description": "unlocked with the new PIN", **_json({
                "type": "object", "properties": {"card_code": {"type": "string"}, "locked": {"type": "boolean"},
                                                 "failed_attempts": {"type": "integer"}}})},
            "400": {"description": "invalid_request (details.field)"},
            "404": {"description": "not_found: no card with this code for this ID (the same answer either way)"}}}},
    "/v1/admin/exclusions": {"post": {
        "summary": "Import an agency's exclusion list (IDs hashed on arrival)", "x-roles": ["operator"],
        "x-mfa": True,
        "requestBody": {"required": True, **_json(EXCLUSIONS_BODY.schema())},
        "responses": {
            "200": {"description": "added: IDs new to the list (a re-import adds 0)", **_json({
                "type": "object", "required": ["added"], "properties": {"added": {"type": "integer"}}})},
            "400": {"description": "invalid_request naming the entry, e.g. cids[3]"},
            "403": {"description": "forbidden: operators with mfa only"}}}},
}
