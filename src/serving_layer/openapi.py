"""The API's OpenAPI 3.1 document, generated from the endpoint specs and the route list.

Nothing here is written twice: each query endpoint's path, summary, fields (as an enum), limits
and column types come from `endpoints.py`; the manage routes come from `routes.py` and the table
names from `model.py`. The document is built once per process and served at
`GET /v1/openapi.json` without a key.

See https://spec.openapis.org/oas/v3.1.0 (JSON Schema 2020-12 inside).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from serving_layer import __version__, model
from serving_layer.endpoints import ENDPOINTS, EndpointSpec, Shape
from serving_layer.policy import MOST_ROWS
from serving_layer.problems import PROBLEM_JSON
from serving_layer.routes import ROUTES

# Trino's type names, as the specs spell them, to JSON Schema.
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "bigint": {"type": ["integer", "null"], "format": "int64"},
    "integer": {"type": ["integer", "null"], "format": "int32"},
    "double": {"type": ["number", "null"], "format": "double"},
    "boolean": {"type": ["boolean", "null"]},
    "varchar": {"type": ["string", "null"]},
    "timestamp": {"type": ["string", "null"], "format": "date-time"},
    "date": {"type": ["string", "null"], "format": "date"},
}
_PROBLEMS = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "500": "InternalError",
    "502": "EngineFailed",
    "503": "Unavailable",
    "504": "EngineTimeout",
}
_SHAPES = {
    Shape.ROWS: "One row per fact, paged with `limit` and `cursor`.",
    Shape.GROUPED: "One row per group; no rows when nothing is in the range.",
    Shape.SINGLE: "Exactly one row, of zeros when nothing is in the range.",
}


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    paths: dict[str, Any] = {}
    for spec in ENDPOINTS.values():
        paths[f"/v1/queries/{spec.name}"] = {"get": _query_operation(spec)}
    paths["/v1/me"] = {"get": _me_operation()}
    paths["/v1/openapi.json"] = {"get": _openapi_operation()}
    for route in ROUTES:
        if route.function == "ManageFunction":
            paths.setdefault(route.path, {})[route.method.lower()] = _manage_operation(route.path)

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Serving Layer",
            "version": __version__,
            "description": (
                "Analytical queries over a logistics data lake. Each API key's policy decides "
                "the endpoints, fields, rows and masks it gets. Ranges are half-open: a "
                "trackcode is in range when start <= creation < end (UTC). Failures are "
                "RFC 9457 problem documents."
            ),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The API key: `Authorization: Bearer <key>`.",
                }
            },
            "schemas": {"Problem": _problem_schema(), **_row_schemas()},
            "responses": {name: _problem_response(name) for name in _PROBLEMS.values()},
        },
    }


def json_type(type_: str) -> dict[str, Any]:
    """The JSON Schema of a value of Trino type `type_` as the API answers it."""
    return dict(_JSON_TYPES[type_])


def _query_operation(spec: EndpointSpec) -> dict[str, Any]:
    names = list(spec.field_names)
    return {
        "operationId": spec.name,
        "summary": spec.summary,
        "description": (
            f"{_SHAPES[spec.shape]} Each row is an array in the order of `columns`; a field "
            "masked by the policy answers as text (`partial`, `hash`) or null (`redact`). "
            f"The fields, typed: see the schema `{spec.name}.fields`."
        ),
        "tags": ["queries"],
        "parameters": [
            _instant_parameter("start", "Start of the range, included."),
            _instant_parameter("end", "End of the range, excluded; after `start`."),
            {
                "name": "fields",
                "in": "query",
                "required": False,
                "description": "Comma-separated fields to answer; all granted fields if omitted.",
                "style": "form",
                "explode": False,
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": names},
                    "uniqueItems": True,
                    "minItems": 1,
                },
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "Most rows in this answer; default and maximum: the grant's.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MOST_ROWS},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": (
                    "`next_cursor` of the previous page, sent with the same other parameters."
                ),
                "schema": {"type": "string"},
            },
            {
                "name": "as_of",
                "in": "query",
                "required": False,
                "description": (
                    "Read the lake as it was: a snapshot id (as a write answers, or as "
                    "`/v1/tables/{table}/snapshots` lists) or an ISO 8601 instant in UTC."
                ),
                "schema": {"type": "string", "examples": ["5113224419127042937"]},
            },
        ],
        "responses": {
            "200": {
                "description": "One page of the answer.",
                "content": {"application/json": {"schema": _answer_schema(spec)}},
            },
            **_problem_refs("400", "401", "403", "404", "500", "502", "503", "504"),
        },
    }


def _answer_schema(spec: EndpointSpec) -> dict[str, Any]:
    value_types = sorted({t for f in spec.fields for t in _JSON_TYPES[f.type]["type"]})
    if "string" not in value_types:
        value_types.append("string")  # a masked value is text
    return {
        "type": "object",
        "required": ["endpoint", "columns", "rows", "next_cursor", "stats"],
        "properties": {
            "endpoint": {"const": spec.name},
            "columns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {
                        "name": {"type": "string", "enum": list(spec.field_names)},
                        "type": {"type": "string", "enum": sorted(_JSON_TYPES)},
                    },
                },
            },
            "rows": {
                "type": "array",
                "items": {"type": "array", "items": {"type": value_types}},
            },
            "next_cursor": {"type": ["string", "null"]},
            "stats": {
                "type": "object",
                "properties": {
                    "engine": {"type": "string"},
                    "rows": {"type": "integer"},
                    "scanned_bytes": {"type": ["integer", "null"]},
                    "engine_ms": {"type": "number"},
                    "total_ms": {"type": "number"},
                    "query_id": {"type": ["string", "null"]},
                },
            },
        },
    }


def _row_schemas() -> dict[str, Any]:
    """Per endpoint, each field's JSON type: what the positions of a row hold, unmasked."""
    schemas = {}
    for spec in ENDPOINTS.values():
        properties = {}
        for f in spec.fields:
            schema = json_type(f.type)
            schema["description"] = f"{f.type}{'; ' + f.doc if f.doc else ''}"
            properties[f.name] = schema
        schemas[f"{spec.name}.fields"] = {"type": "object", "properties": properties}
    return schemas


def _me_operation() -> dict[str, Any]:
    grant = {
        "type": "object",
        "properties": {
            "fields": {"type": "array", "items": {"type": "string"}},
            "masks": {
                "type": "object",
                "additionalProperties": {"enum": ["redact", "partial", "hash"]},
            },
            "max_range_days": {"type": "integer"},
            "max_rows": {"type": "integer"},
        },
    }
    return {
        "operationId": "me",
        "summary": "The caller's client, key id, scope and grants.",
        "tags": ["account"],
        "responses": {
            "200": {
                "description": "The caller's policy.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "client": {"type": "string"},
                                "key_id": {"type": ["string", "null"]},
                                "status": {"type": "string"},
                                "expires_at": {"type": ["string", "null"], "format": "date-time"},
                                "scope": {
                                    "oneOf": [
                                        {"const": "all"},
                                        {"type": "array", "items": {"type": "integer"}},
                                    ]
                                },
                                "endpoints": {"type": "object", "additionalProperties": grant},
                                "tables": {
                                    "type": "object",
                                    "additionalProperties": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                    },
                                },
                                "routes": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    }
                },
            },
            **_problem_refs("401", "403", "500"),
        },
    }


def _openapi_operation() -> dict[str, Any]:
    return {
        "operationId": "openapi",
        "summary": "This document.",
        "tags": ["account"],
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }


def _manage_operation(path: str) -> dict[str, Any]:
    parameters = []
    for name in re.findall(r"{(\w+)}", path):
        schema: dict[str, Any] = {"type": "string"}
        if name == "table":
            schema["enum"] = sorted(model.TABLES)
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return {
        "summary": "Change or read a table's rows, as the policy's table grants allow.",
        "tags": ["manage"],
        "parameters": parameters,
        "responses": {
            "200": {"description": "Success.", "content": {"application/json": {}}},
            **_problem_refs("400", "401", "403", "404", "500"),
        },
    }


def _instant_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "description": f"{description} ISO 8601 date or date-time, UTC unless an offset is given.",
        "schema": {"type": "string", "examples": ["2025-03-01", "2025-03-01T08:30:00Z"]},
    }


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": "string"},
        },
    }


def _problem_response(name: str) -> dict[str, Any]:
    return {
        "description": name,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _problem_refs(*statuses: str) -> dict[str, Any]:
    return {s: {"$ref": f"#/components/responses/{_PROBLEMS[s]}"} for s in statuses}
