"""The OpenAPI document: valid OpenAPI 3.1, and complete against the specs and the route list."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from serving_layer.endpoints import ENDPOINTS
from serving_layer.openapi import document
from serving_layer.routes import ROUTES


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document()


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises on any schema violation


def test_the_validator_can_fail() -> None:
    with pytest.raises(Exception, match="required"):
        validate({"openapi": "3.1.0", "paths": {}})  # no `info`


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_has_its_path_parameters_and_typed_columns(
    spec: dict[str, Any], name: str
) -> None:
    # GIVEN the endpoint's spec
    endpoint = ENDPOINTS[name]

    # WHEN its operation is read
    operation = spec["paths"][f"/v1/queries/{name}"]["get"]

    # THEN it takes the six parameters, `fields` enumerates the spec's fields,
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert list(parameters) == ["start", "end", "fields", "limit", "cursor", "as_of"]
    assert parameters["start"]["required"] and parameters["end"]["required"]
    assert parameters["fields"]["schema"]["items"]["enum"] == list(endpoint.field_names)

    # AND the answer and every problem status are described, with each field typed
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["endpoint"] == {"const": name}
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "404", "500"}
    fields = spec["components"]["schemas"][f"{name}.fields"]["properties"]
    assert list(fields) == list(endpoint.field_names)
    for f in endpoint.fields:
        expected = {
            "bigint": "integer",
            "integer": "integer",
            "double": "number",
            "boolean": "boolean",
            "varchar": "string",
            "timestamp": "string",
            "date": "string",
        }[f.type]
        assert fields[f.name]["type"] == [expected, "null"]


def test_every_route_is_listed(spec: dict[str, Any]) -> None:
    # GIVEN the API's route list
    # THEN every route's path and method appear (the query route once per endpoint)
    for route in ROUTES:
        if route.path == "/v1/queries/{endpoint}":
            continue
        assert route.method.lower() in spec["paths"][route.path], route.key


def test_the_key_is_a_bearer_token_except_for_the_document_itself(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The API key: `Authorization: Bearer <key>`.",
    }
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/v1/openapi.json"]["get"]["security"] == []


def test_problems_are_problem_json(spec: dict[str, Any]) -> None:
    forbidden = spec["components"]["responses"]["Forbidden"]
    assert "application/problem+json" in forbidden["content"]
    assert set(spec["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
    }
