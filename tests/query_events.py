"""Real payload-2.0 events from `events/query/`, adjusted for one test's request.

The files are whole HTTP API events as API Gateway sends them after the Lambda authorizer; a test
only changes what it is about: the endpoint in the path, the query string, the policy in the
authorizer's context.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from serving_layer.policy import Policy

EVENTS = Path(__file__).resolve().parents[1] / "events" / "query"


@functools.cache
def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return document


def event(name: str) -> dict[str, Any]:
    """A fresh copy of `events/query/<name>`."""
    return copy.deepcopy(_load(name))


def query_event(
    endpoint: str,
    parameters: dict[str, str] | None = None,
    policy: Policy | dict[str, Any] | None = None,
    *,
    key_id: str | None = None,
) -> dict[str, Any]:
    """`GET /v1/queries/{endpoint}` with `parameters`, for the caller `policy` if given."""
    document = event("get_query.json")
    path = f"/v1/queries/{endpoint}"
    document["rawPath"] = path
    document["requestContext"]["http"]["path"] = path
    document["pathParameters"] = {"endpoint": endpoint}
    document["rawQueryString"] = urlencode(parameters or {})
    if parameters:
        document["queryStringParameters"] = dict(parameters)
    else:
        document.pop("queryStringParameters", None)
    if policy is not None:
        set_policy(document, policy, key_id=key_id)
    return document


def set_policy(
    document: dict[str, Any], policy: Policy | dict[str, Any], *, key_id: str | None = None
) -> dict[str, Any]:
    """Put `policy` in the event's authorizer context, as the authorizer would."""
    if isinstance(policy, dict):
        policy = Policy.from_dict(policy)
    context = document["requestContext"].setdefault("authorizer", {}).setdefault("lambda", {})
    context["client"] = policy.client
    context["key_id"] = key_id or policy.key_id or "sk_test0001"
    context["policy"] = policy.to_json()
    return document


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def policy_document(
    scope: list[int] | str = "all",
    endpoints: dict[str, dict[str, Any]] | None = None,
    *,
    client: str = "test-client",
    key_id: str = "sk_test0001",
    **extra: Any,
) -> dict[str, Any]:
    """A policy granting `endpoints` (default: every endpoint, every field) over `scope`."""
    from serving_layer.endpoints import ENDPOINTS

    return {
        "client": client,
        "key_id": key_id,
        "scope": scope,
        "endpoints": {name: {} for name in ENDPOINTS} if endpoints is None else endpoints,
        **extra,
    }
