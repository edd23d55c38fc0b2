"""Registration-point endpoints (registrars bound to a point) and the
operator's import of exclusion lists, which registration reads."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib import limits, ratelimit
from chalicelib.api.citizen import REGISTRATION_SCHEMA
from chalicelib.api.common import ApiRequest, Reply, endpoint, error, ok, operation
from chalicelib.clock import utcnow
from chalicelib.exclusions.requests import EXCLUSIONS_BODY, IMPORT_ID_PATH, VIEW_SCHEMA
from chalicelib.lazy import lazy_module
from chalicelib.registration.requests import (
    ASSISTED_REGISTRATION_BODY,
    CARD_CODE_PATH,
    CARD_REISSUE_BODY,
    CARD_UNLOCK_BODY,
    CARD_UNLOCK_BY_BODY,
)

if TYPE_CHECKING:
    from chalicelib import audit
    from chalicelib.registration import phases as registration_phases
    from chalicelib.registration import usecases
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    audit = lazy_module("chalicelib.audit")
    usecases = lazy_module("chalicelib.registration.usecases")
    registration_phases = lazy_module("chalicelib.registration.phases")

if TYPE_CHECKING:
    from chalicelib.exclusions import imports as exclusion_imports
else:
    # the use cases behind the routes, loaded at a route's first request (bench/coldstart.py)
    exclusion_imports = lazy_module("chalicelib.exclusions.imports")

__all__ = ["bp", "OPENAPI_PATHS"]

bp = Blueprint(__name__)
REGISTRAR = {"registrar"}
OPERATOR = {"operator"}
READERS = {"operator", "auditor"}


@bp.route("/v1/assisted-registrations", methods=["POST"])
@endpoint(bp, roles=REGISTRAR, rate=ratelimit.REGISTRAR, body=ASSISTED_REGISTRATION_BODY)
def assisted_registration(req: ApiRequest) -> Reply:
    status, body = usecases.register_assisted(req.principal, req.body, phases=registration_phases.phase_rules,
                                              now=utcnow())
    return Reply(status, body)


@bp.route("/v1/cards/reissue", methods=["POST"])
@endpoint(bp, roles=REGISTRAR, rate=ratelimit.REGISTRAR, body=CARD_REISSUE_BODY)
def reissue_card(req: ApiRequest) -> Reply:
    status, body = usecases.reissue(req.principal, req.body, now=utcnow())
    return Reply(status, body)


@bp.route("/v1/cards/unlock", methods=["POST"])
@endpoint(bp, roles=REGISTRAR, rate=ratelimit.REGISTRAR, body=CARD_UNLOCK_BY_BODY)
def unlock_card_by_body(req: ApiRequest) -> dict[str, Any]:
    return usecases.unlock_card_by_body(req.principal, req.body)


@bp.route("/v1/cards/{card_code}/unlock", methods=["POST"])
@endpoint(bp, roles=REGISTRAR, rate=ratelimit.REGISTRAR, body=CARD_UNLOCK_BODY, path=CARD_CODE_PATH)
def unlock_card(req: ApiRequest, card_code: str) -> dict[str, Any]:
    return usecases.unlock_card(req.principal, card_code, req.body)


@bp.route("/v1/admin/exclusions", methods=["POST"])
@endpoint(bp, roles=OPERATOR, write=True, body=EXCLUSIONS_BODY, body_bytes_max=limits.BULK_BODY_BYTES_MAX)
def import_exclusions(req: ApiRequest) -> dict[str, Any] | Reply:
    body = req.body
    if len(body["cids"]) > limits.EXCLUSION_SYNC_CIDS_MAX:
        return _import_later(req)
    result = usecases.import_exclusions(body, req.principal.sub)
    # Which list and how many; never the IDs.
    audit.audit(req.principal, "exclusions_imported", f"exclusion-list:{body['list']}",
                {"received": len(body["cids"]), **result})
    return result


def _import_later(req: ApiRequest) -> Reply:
    """A body too large to import within the request: stored and queued
    (202); the worker's result at the Location."""
    body = req.body
    shown, changed = exclusion_imports.start(body["list"], body["cids"], req.principal)
    if changed:
        audit.audit(req.principal, "exclusions_import_queued", f"exclusion-list:{body['list']}",
                    {"import_id": shown["import_id"], "received": shown["received"], "unique": shown["unique"]})
    return Reply(202, shown, {"Location": f"/v1/admin/exclusions/imports/{shown['import_id']}"})


@bp.route("/v1/admin/exclusions/imports/{import_id}", methods=["GET"])
@endpoint(bp, roles=READERS, path=IMPORT_ID_PATH)
def exclusion_import(req: ApiRequest, import_id: str) -> dict[str, Any]:
    return exclusion_imports.get_import(import_id)


# -- OpenAPI path items of this blueprint, for the document at /v1/openapi.json --

_CARD_CODE_SCHEMA = {"type": "string", "pattern": "^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$",
                     "description": "the code to print on the wallet card; shown once"}
_ASSISTED_SCHEMA = {**REGISTRATION_SCHEMA, "properties": {
    **REGISTRATION_SCHEMA["properties"], "card_code": _CARD_CODE_SCHEMA}}
_UNLOCKED = {"type": "object", "required": ["locked", "failed_attempts"], "properties": {
    "locked": {"type": "boolean"}, "failed_attempts": {"type": "integer"}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/assisted-registrations": {"post": operation(
        "A registrar registers a citizen from the ID card and issues a wallet card", REGISTRAR,
        {"201": ok("registered now; card_code (shown this once) when accepted in a wallet phase",
                   _ASSISTED_SCHEMA),
         "200": ok("registered before: the same registration, without a card code (a lost card is "
                   "reissued)", REGISTRATION_SCHEMA),
         "400": error("invalid_request (details.field), e.g. a weak PIN or a wrong check digit"),
         "403": error("forbidden: not a registrar bound to a point (point_id)"),
         "404": error("not_found: no such phase"),
         "422": error("registration_closed; identity_mismatch: the birth date or district is not what the "
                      "program holds for this national ID"),
         "503": error("paused (Retry-After)")},
        body=ASSISTED_REGISTRATION_BODY, rate=ratelimit.REGISTRAR)},
    "/v1/cards/reissue": {"post": operation(
        "A new wallet card for a registered citizen; the old card stops working at once", REGISTRAR,
        {"201": ok("the new card's code, shown this once", {
            "type": "object", "required": ["card_code"], "properties": {"card_code": _CARD_CODE_SCHEMA}}),
         "404": error("not_found: this national ID holds no wallet"),
         "422": error("identity_mismatch: the birth date or district is not what the program holds")},
        body=CARD_REISSUE_BODY, rate=ratelimit.REGISTRAR)},
    "/v1/cards/unlock": {"post": operation(
        "Set a new PIN on a locked card once the citizen has shown the ID card (the code in the body, "
        "not in the URL)", REGISTRAR,
        {"200": ok("unlocked with the new PIN", _UNLOCKED),
         "404": error("not_found: no card with this code for this ID (the same answer either way)"),
         "422": error("card_not_locked: only a locked card is unlocked; identity_mismatch: the birth date "
                      "is not what the program holds")},
        body=CARD_UNLOCK_BY_BODY, rate=ratelimit.REGISTRAR)},
    "/v1/cards/{card_code}/unlock": {"post": operation(
        "Set a new PIN on a locked card once the citizen has shown the ID card (prefer POST "
        "/v1/cards/unlock: a code in a URL reaches access logs)", REGISTRAR,
        {"200": ok("unlocked with the new PIN", _UNLOCKED),
         "404": error("not_found: no card with this code for this ID (the same answer either way)"),
         "422": error("card_not_locked: only a locked card is unlocked")},
        body=CARD_UNLOCK_BODY, path=CARD_CODE_PATH, rate=ratelimit.REGISTRAR)},
    "/v1/admin/exclusions": {"post": operation(
        "Import an agency's exclusion list (IDs hashed on arrival)", OPERATOR,
        {"200": ok(f"up to {limits.EXCLUSION_SYNC_CIDS_MAX} IDs, imported now; added: IDs new to the list "
                   "(a re-import adds 0)", {
                       "type": "object", "required": ["added"], "properties": {"added": {"type": "integer"}}}),
         "202": ok(f"more than {limits.EXCLUSION_SYNC_CIDS_MAX} IDs: stored (keyed hashes) and imported by a "
                   "worker; the import's state at Location (GET /v1/admin/exclusions/imports/{import_id}). The "
                   "same body again is the same import (a failed one resumes)", VIEW_SCHEMA),
         "400": error("invalid_request naming the entry, e.g. cids[3]"),
         "403": error("forbidden: operators with mfa only")},
        body=EXCLUSIONS_BODY, body_bytes_max=limits.BULK_BODY_BYTES_MAX, mfa=True)},
    "/v1/admin/exclusions/imports/{import_id}": {"get": operation(
        "A stored exclusion import: queued, running, done or failed, its counts and its last errors", READERS,
        {"200": ok("the import (never an ID)", VIEW_SCHEMA),
         "404": error("not_found: no such import")},
        path=IMPORT_ID_PATH)},
}
