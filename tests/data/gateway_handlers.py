"""Lambda handlers behind tests/data/template_min.yaml: they record what the gateway sends.

`authorize` answers by the bearer token, with IAM policies over the API's own route ARNs:

- `good`: allows GET /items/*, POST /items and any method on /files/*;
- `items-only`: allows GET /items/* only;
- `deny`: denies every route;
- `allow-all-but-post`: allows every route and denies POST on any;
- `boom`: raises; `garbage`: answers a string; `no-policy`: answers an object without a policy.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

EVENTS: list[dict[str, Any]] = []
AUTHORIZER_EVENTS: list[dict[str, Any]] = []


def _policy(effect: str, resources: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}],
    }


def authorize(event: dict[str, Any], context: Any) -> Any:
    AUTHORIZER_EVENTS.append(event)
    token = event["identitySource"][0].removeprefix("Bearer ")
    base = event["routeArn"].split("/", 2)
    api = f"{base[0]}/{base[1]}"  # arn:aws:execute-api:region:account:api/stage

    answer: dict[str, Any] = {"principalId": token, "context": {"key_id": f"id-{token}"}}
    if token == "good":
        answer["policyDocument"] = _policy(
            "Allow", [f"{api}/GET/items/*", f"{api}/POST/items", f"{api}/*/files/*"]
        )
    elif token == "items-only":
        answer["policyDocument"] = _policy("Allow", [f"{api}/GET/items/*"])
    elif token == "allow-all-but-post":
        answer["policyDocument"] = {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{api}/*"},
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{api}/POST/*"},
            ],
        }
    elif token == "boom":
        raise RuntimeError("the authorizer broke with internal text")
    elif token == "garbage":
        return "yes please"
    elif token == "no-policy":
        return {"principalId": token, "context": {}}
    else:
        answer["policyDocument"] = _policy("Deny", [f"{api}/*"])
        answer.pop("context")
    return answer


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    EVENTS.append(event)
    body = {
        "function": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "global": os.environ.get("GATEWAY_TEST_GLOBAL"),
    }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-echo": "yes"},
        "body": json.dumps(body),
    }


def odd(event: dict[str, Any], context: Any) -> Any:
    """Answers of every shape the payload-2.0 integration accepts, and some it refuses."""
    EVENTS.append(event)
    kind = event["pathParameters"]["kind"]
    if kind == "crash":
        raise ValueError("internal text that must not reach a client")
    if kind == "plain":
        return {"hello": "world"}
    if kind == "text":
        return "just text"
    if kind == "binary":
        return {
            "statusCode": 201,
            "isBase64Encoded": True,
            "headers": {"content-type": "application/octet-stream", "x-count": 2},
            "cookies": ["a=1", "b=2; Path=/"],
            "body": base64.b64encode(b"\x00\x01\xff").decode(),
        }
    if kind == "bad-status":
        return {"statusCode": "200", "body": "{}"}
    if kind == "huge":
        return {"statusCode": 200, "body": "x" * (6 * 1024 * 1024 + 1)}
    if kind == "slow":
        time.sleep(0.3)
        return {"statusCode": 200, "body": "late"}
    return {"statusCode": 404, "body": "{}"}
