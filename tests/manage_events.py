"""Real payload-2.0 events from `events/manage/`, adjusted for one test's request.

Each file is a whole HTTP API event as API Gateway sends it after the Lambda authorizer; a test
changes only what it is about: the table and key in the path, the body, the headers, the policy
in the authorizer's context.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from serving_layer.policy import Policy

EVENTS = Path(__file__).resolve().parents[1] / "events" / "manage"

ALL_OPERATIONS = ["read", "insert", "upsert", "update", "delete"]


@functools.cache
def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return document


def event(name: str) -> dict[str, Any]:
    """A fresh copy of `events/manage/<name>`."""
    return copy.deepcopy(_load(name))


def policy(
    scope: list[int] | str = "all",
    tables: dict[str, list[str]] | None = None,
    *,
    client: str = "test-client",
    key_id: str = "sk_test0001",
) -> Policy:
    """A policy over `scope` granting `tables` (default: every operation on every table)."""
    from serving_layer import model

    grants = {name: ALL_OPERATIONS for name in model.TABLES} if tables is None else tables
    return Policy.from_dict(
        {"client": client, "key_id": key_id, "scope": scope, "endpoints": {}, "tables": grants}
    )


def request(
    name: str,
    *,
    table: str | None = None,
    key: int | str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    caller: Policy | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event `name` for another table, key, body, caller, headers or query string."""
    document = event(name)
    table = table or document["pathParameters"]["table"]
    key = key if key is not None else document["pathParameters"].get("id")

    path = f"/v1/tables/{table}/rows" if "rows" in document["rawPath"] else ""
    if path and key is not None and document["routeKey"].endswith("{id}"):
        path += f"/{key}"
    if not path:
        path = f"/v1/tables/{table}/snapshots"
    document["rawPath"] = document["requestContext"]["http"]["path"] = path
    document["pathParameters"] = {"table": table}
    if key is not None and document["routeKey"].endswith("{id}"):
        document["pathParameters"]["id"] = str(key)

    if raw_body is not None or body is not None:
        document["body"] = raw_body if raw_body is not None else json.dumps(body)
    for header, value in (headers or {}).items():
        if value is None:
            document["headers"].pop(header, None)
        else:
            document["headers"][header] = value
    if query is not None:
        document["queryStringParameters"] = query
        document["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    if caller is not None:
        context = document["requestContext"]["authorizer"]["lambda"]
        context.update(client=caller.client, key_id=caller.key_id, policy=caller.to_json())
    if request_id is not None:
        document["requestContext"]["requestId"] = request_id
    return document


def answer(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def trackcode(id_: int, client_id: int, creation: str = "2025-03-02T10:00:00Z") -> dict[str, Any]:
    """A complete trackcode row as a client sends it."""
    return {
        "id": id_,
        "creation": creation,
        "crossdocking": False,
        "pickup_address": f"Calle {id_} #1-2",
        "drop_address": f"Carrera {id_} #3-4",
        "service_id": 1,
        "product_description": "books",
        "product_price": 10.5,
        "product_size_id": 1,
        "product_weight": 1.0,
        "pickup_point": None,
        "drop_point": None,
        "client_id": client_id,
    }
