"""The OpenAPI document is the app: every route documented, nothing else."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.limits import REQUEST_AMOUNT_SATANG_MAX
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


def test_the_served_document_is_valid_openapi_3_0_3(call: Any) -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator

    _, doc, _ = call("GET", "/v1/openapi.json")
    assert doc["openapi"] == "3.0.3"
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in OpenAPIV30SpecValidator(doc).iter_errors()]
    assert errors == []
    # 3.1 keywords that a 3.0 validator lets pass inside schemas.
    assert '"const"' not in json.dumps(doc)


def test_every_path_parameter_is_declared(call: Any) -> None:
    _, doc, _ = call("GET", "/v1/openapi.json")
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, (path, method)


def _route_specs() -> dict[tuple[str, str], Any]:
    import app as app_module

    return {(path, method): entry.view_function.request_spec
            for path, methods in app_module.app.routes.items() for method, entry in methods.items()}


def test_every_request_is_documented_by_the_spec_that_parses_it(call: Any) -> None:
    """The body, query and path parameters and the Idempotency-Key of each
    operation in the document are the ones its route parses with."""
    _, doc, _ = call("GET", "/v1/openapi.json")
    specs = _route_specs()
    for (path, method), spec in specs.items():
        operation = doc["paths"][path][method.lower()]
        assert operation.get("requestBody") == spec.request_body(), (path, method)
        # Path parameters the route does not check are plain strings; the rest are its specs'.
        documented = [p for p in operation.get("parameters", []) if p["in"] != "path" or spec.path is not None]
        assert documented == spec.parameters(), (path, method)
    with_body = {(p, m.upper()) for p, item in doc["paths"].items() for m, op in item.items() if "requestBody" in op}
    assert with_body == {route for route, spec in specs.items() if spec.body is not None}
    assert {route for route, spec in specs.items() if spec.idempotency_key} == {
        ("/v1/payments", "POST"), ("/v1/merchant-payments", "POST"), ("/v1/card-payments", "POST"),
        ("/v1/withdrawals", "POST")}


def _request_schemas(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, schema) of every property and parameter of every request."""
    def walk(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, sub in schema.get("properties", {}).items():
            yield name, sub
            yield from walk(sub)
        if "items" in schema:
            yield from walk(schema["items"])

    for item in doc["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                yield parameter["name"], parameter["schema"]
            body = operation.get("requestBody")
            if body:
                yield from walk(body["content"]["application/json"]["schema"])


@pytest.mark.parametrize("names", [
    {"phase_id"}, {"district"}, {"cid"}, {"tax_id"}, {"category"}, {"bank_code", "payout_bank_code"},
])
def test_one_schema_for_each_kind_of_value_across_the_api(call: Any, names: set[str]) -> None:
    """A phase id, a district, a bank code...: one pattern wherever a request takes one."""
    _, doc, _ = call("GET", "/v1/openapi.json")
    found = [s for name, s in _request_schemas(doc) if name in names]
    assert len(found) >= 2
    plain = [{k: v for k, v in s.items() if k not in ("nullable", "description")} for s in found]
    assert all(s == plain[0] for s in plain), plain


def test_every_amount_a_request_names_is_bounded_as_api_md_says(call: Any) -> None:
    _, doc, _ = call("GET", "/v1/openapi.json")
    amounts = [s for name, s in _request_schemas(doc) if name == "amount_satang"]
    assert len(amounts) >= 5
    assert {(s["type"], s["minimum"], s["maximum"]) for s in amounts} == {("integer", 1, REQUEST_AMOUNT_SATANG_MAX)}
    assert REQUEST_AMOUNT_SATANG_MAX == 1_000_000_000  # 10 million baht


def test_a_list_name_is_the_same_for_a_phase_and_an_import(call: Any) -> None:
    _, doc, _ = call("GET", "/v1/openapi.json")
    phase = doc["paths"]["/v1/admin/phases/{phase_id}"]["put"]["requestBody"]["content"]["application/json"]
    exclusions = doc["paths"]["/v1/admin/exclusions"]["post"]["requestBody"]["content"]["application/json"]
    assert phase["schema"]["properties"]["exclusion_lists"]["items"] == exclusions["schema"]["properties"]["list"]


def test_the_phase_read_documents_its_progress_and_wave_fields(call: Any) -> None:
    """Review finding 6: the phase GET's wave fields were missing from the document."""
    _, doc, _ = call("GET", "/v1/openapi.json")
    schema = doc["paths"]["/v1/admin/phases/{phase_id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert {"phase_id", "registered", "credited_count", "spent_satang"} <= set(schema["properties"])
    wave = schema["properties"]["waves"]["items"]
    assert {"wave", "status", "credited_count", "activate_at"} <= set(wave["required"])
    assert wave["properties"]["status"]["enum"] == ["scheduled", "running", "done", "stopped"]


def test_every_authenticated_operation_documents_the_contracts_errors(call: Any) -> None:
    _, doc, _ = call("GET", "/v1/openapi.json")
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op.get("security") == []:
                continue
            for status in ("400", "401", "403", "429", "500"):
                assert op["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, (method, path, status)
