"""The OpenAPI document is the app: every route documented, nothing else."""
from __future__ import annotations

from typing import Any

from chalicelib.openapi import operations_of_document


def test_document_matches_the_routes_of_the_app(call: Any) -> None:
    import app as app_module

    status, doc, _ = call("GET", "/v1/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    routes = {(path, method) for path, methods in app_module.app.routes.items() for method in methods}
    assert operations_of_document(doc) == routes
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), (path, method)
            assert operation.get("responses"), (path, method)


def test_phase_conflict_codes_are_documented(call: Any) -> None:
    _, doc, _ = call("GET", "/v1/openapi.json")
    conflict = doc["paths"]["/v1/admin/phases/{phase_id}"]["put"]["responses"]["409"]["description"]
    assert "phase_frozen" in conflict and "budget_below_issued" in conflict
