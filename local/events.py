"""The events API Gateway's HTTP API sends to Lambda: payload format 2.0, request and authorizer.

Shapes follow https://docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-develop-integrations-lambda.html and http-api-lambda-authorizer.html (read 2026-12):

- header names are lower-cased and repeated headers joined with commas; the `cookie` header
  leaves `headers` and arrives split in `cookies`;
- repeated query parameters are joined with commas in `queryStringParameters`, while
  `rawQueryString` keeps the query exactly as sent;
- `queryStringParameters`, `pathParameters`, `cookies` and `body` are absent when empty;
- a body is text unless its content type is binary, then base64 with `isBase64Encoded`.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.template import ACCOUNT_ID, API_ID, STAGE

_TEXT_TYPES = (
    "application/json",
    "application/problem+json",
    "application/javascript",
    "application/xml",
    "application/yaml",
)


@dataclass(frozen=True)
class IncomingRequest:
    """An HTTP request as the gateway received it, before it becomes an event."""

    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0] or "/"

    @property
    def raw_query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        """A header's value as the event carries it: repeats joined with commas, or None."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


def new_request_id() -> str:
    """A request id of the shape API Gateway gives (`requestContext.requestId`)."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def request_event(
    request: IncomingRequest,
    route_key: str,
    path_parameters: dict[str, str],
    request_id: str,
    received: datetime | None = None,
) -> dict[str, Any]:
    """The payload-2.0 event a Lambda integration receives for `request` on `route_key`."""
    received = received or datetime.now(UTC)
    headers, cookies = _headers_and_cookies(request.headers)
    _forwarding_headers(headers, request.source_ip)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": _request_context(request, headers, route_key, request_id, received),
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    parameters = query_parameters(request.raw_query)
    if parameters:
        event["queryStringParameters"] = parameters
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        event["body"], event["isBase64Encoded"] = _body(request.body, headers.get("content-type"))
    return event


def authorizer_event(
    http_event: dict[str, Any], identity_source: list[str], route_arn: str
) -> dict[str, Any]:
    """The payload-2.0 REQUEST event a Lambda authorizer receives for `http_event`."""
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn,
        "identitySource": list(identity_source),
    }
    for name in (
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "pathParameters",
    ):
        if name in http_event:
            event[name] = http_event[name]
    return event


def query_parameters(raw_query: str) -> dict[str, str]:
    """`queryStringParameters`: decoded, with repeated names joined by commas."""
    joined: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def path_parameter(raw_segment: str) -> str:
    return unquote(raw_segment)


def _headers_and_cookies(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers, cookies


def _forwarding_headers(headers: dict[str, str], source_ip: str) -> None:
    """The `x-forwarded-*` headers the gateway adds for the function behind it."""
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    host = headers.get("host", "")
    headers.setdefault("x-forwarded-port", host.rsplit(":", 1)[1] if ":" in host else "80")
    headers.setdefault("x-forwarded-proto", "http")


def _request_context(
    request: IncomingRequest,
    headers: dict[str, str],
    route_key: str,
    request_id: str,
    received: datetime,
) -> dict[str, Any]:
    domain = headers.get("host", "127.0.0.1")
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": STAGE,
        "time": received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(received.timestamp() * 1000),
    }


def _body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """The body as the event carries it: text for textual media types, else base64."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    textual = (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or media_type.endswith(("+json", "+xml"))
    )
    if textual:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True
