"""The HTTP API emulator: route, authorize, invoke and answer as API Gateway does.

One request goes through the same steps as in the cloud:

1. match a route of the template (none: 404, as the gateway answers for an unknown route);
2. if the route has an authorizer, read its identity sources (one missing: 401 without calling
   the authorizer), take the cached answer for those values or call the authorizer function with
   a REQUEST event and cache its answer for the authorizer's TTL, then judge the answer's IAM
   policy against the request's route ARN (not allowed: 403);
3. call the route's function with the payload-2.0 event, the authorizer's `context` in
   `requestContext.authorizer.lambda`;
4. map the function's answer to HTTP (the structured form with `statusCode`, or any other JSON
   value as a 200 body).

Failures of the gateway's own are RFC 9457 problems, like every other failure of this API,
with API Gateway's own `message` kept as a member so a client written against the cloud
gateway's `{"message": "Unauthorized"}` still reads it. API Gateway answers a function that
crashes or answers garbage with 500 `Internal Server Error`; the emulator answers 502 instead, so
such a failure is never confused with the handler's own 500 problem.

NOTE: what the template's `HttpApi` declares beyond routes and the authorizer (CORS, throttling,
access log format) is not emulated: the local API is reached from the same origin (the docs page
included) by one developer, and the access log line here carries the same key fields.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import events, iam
from local.environment import import_environment
from local.events import IncomingRequest
from local.template import (
    ACCOUNT_ID,
    REGION,
    TEMPLATE_FILE,
    AuthorizerSpec,
    FunctionSpec,
    RouteSpec,
    Stack,
    load_stack,
)
from serving_layer.errors import ForbiddenError, NotFoundError, ServingError, UnauthorizedError

logger = logging.getLogger(__name__)
access_log = logging.getLogger("local.access")

PROBLEM_JSON = "application/problem+json"
# Lambda's limit on a synchronous invocation's answer, and API Gateway's on a request body.
MOST_RESPONSE_BYTES = 6 * 1024 * 1024
MOST_REQUEST_BYTES = 10 * 1024 * 1024

Handler = Callable[[dict[str, Any], Any], Any]


class IntegrationFailedError(ServingError):
    """The function behind a route (or the authorizer) failed or answered something invalid."""

    status = 502
    slug = "integration-failed"
    title = "Bad gateway"


class IntegrationTimeoutError(ServingError):
    """The function ran past its `Timeout`: Lambda would have stopped it."""

    status = 504
    slug = "integration-timeout"
    title = "Gateway timeout"


class RequestTooLargeError(ServingError):
    status = 413
    slug = "request-too-large"
    title = "Request too large"


# What API Gateway itself says in its `{"message": …}` body for each of its own failures.
_GATEWAY_MESSAGES: dict[int, str] = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    502: "Internal Server Error",
    504: "Gateway Timeout",
}


@dataclass
class GatewayResponse:
    """What goes back to the HTTP client, and what the access log says about it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    request_id: str
    key_id: str | None = None


@dataclass
class LambdaContext:
    """The context object Lambda passes beside the event (what the handlers may read)."""

    function_name: str
    memory_limit_in_mb: int
    aws_request_id: str
    timeout_seconds: float
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)
    identity: Any = None
    client_context: Any = None

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class RouteTable:
    """The template's routes, matched the way an HTTP API picks the most specific route.

    A `{name}` variable matches one path segment, a greedy `{name+}` the rest of the path; an
    exact path beats one with variables, fewer variables beat more, a greedy variable comes last,
    a route's own method beats `ANY`, and `$default` catches what nothing else does. See
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html.
    """

    def __init__(self, routes: tuple[RouteSpec, ...]) -> None:
        self.routes = routes
        self._compiled = [(route, _path_pattern(route.path)) for route in routes]

    def match(self, method: str, raw_path: str) -> tuple[RouteSpec, dict[str, str]] | None:
        candidates: list[tuple[tuple[int, int, int, bool], RouteSpec, dict[str, str]]] = []
        for route, pattern in self._compiled:
            if route.method not in (method, "ANY"):
                continue
            if route.path == "$default":
                candidates.append(((1, 0, 0, route.method == "ANY"), route, {}))
                continue
            found = pattern.fullmatch(raw_path)
            if found is None:
                continue
            greedy = int("+}" in route.path)
            rank = (0, greedy, route.path.count("{"), route.method == "ANY")
            parameters = {
                _group_name(name): events.path_parameter(value)
                for name, value in found.groupdict().items()
            }
            candidates.append((rank, route, parameters))
        if not candidates:
            return None
        _, route, parameters = min(candidates, key=lambda c: c[0])
        return route, parameters


def _path_pattern(path: str) -> re.Pattern[str]:
    pattern = ""
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("+}"):
            pattern += f"(?P<{_group_key(piece[1:-2])}>.+)"
        elif piece.startswith("{"):
            pattern += f"(?P<{_group_key(piece[1:-1])}>[^/]+)"
        else:
            pattern += re.escape(piece)
    return re.compile(pattern)


def _group_key(name: str) -> str:
    # Regular expression group names must be identifiers; keep the name recoverable.
    return "p_" + name.encode().hex()


def _group_name(key: str) -> str:
    return bytes.fromhex(key[2:]).decode()


@dataclass(frozen=True)
class AuthorizerAnswer:
    """What the gateway keeps of an authorizer's answer: the verdict per route and the context."""

    policy_document: Any
    is_authorized: bool | None
    context: dict[str, Any]

    def allows(self, arn: str) -> bool:
        if self.is_authorized is not None:
            return self.is_authorized
        return iam.is_allowed(self.policy_document, arn)


class AuthorizerCache:
    """The gateway's cache of authorizer answers, keyed by the identity source values.

    An entry serves every route until its TTL ends, which is why the authorizer must answer a
    policy that covers every route the key may call (and no other).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, AuthorizerAnswer]] = {}
        self._lock = threading.Lock()

    def get(self, authorizer: str, identity: tuple[str, ...]) -> AuthorizerAnswer | None:
        with self._lock:
            entry = self._entries.get((authorizer, identity))
            if entry is None:
                return None
            if self._clock() >= entry[0]:
                del self._entries[(authorizer, identity)]
                return None
            return entry[1]

    def put(
        self, authorizer: str, identity: tuple[str, ...], answer: AuthorizerAnswer, ttl: float
    ) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[(authorizer, identity)] = (self._clock() + ttl, answer)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Functions:
    """The stack's Lambda handlers, imported once from their `CodeUri` and `Handler`.

    A function that fails to import is remembered with its error: its routes answer 502 and the
    server log says why, while the other routes keep working.
    """

    def __init__(self, specs: Mapping[str, FunctionSpec]) -> None:
        self.specs = dict(specs)
        self._handlers: dict[str, Handler] = {}
        self._failures: dict[str, str] = {}

    def load_all(
        self, environments: Mapping[str, Mapping[str, str]] | None = None
    ) -> dict[str, str]:
        """Import every handler now, each with its own function's variables in the environment
        (what a module reads at import is then its own); answer the failures with the reason.

        Call it before serving: it changes `os.environ` for a moment, which threads must not see.
        """
        for logical_id in self.specs:
            with import_environment((environments or {}).get(logical_id, {})):
                self._load(logical_id)
        return dict(self._failures)

    def handler(self, logical_id: str) -> Handler:
        if logical_id not in self._handlers and logical_id not in self._failures:
            self._load(logical_id)
        if logical_id in self._failures:
            raise IntegrationFailedError(
                f"the function {logical_id} could not be loaded; the server log says why"
            )
        return self._handlers[logical_id]

    def _load(self, logical_id: str) -> None:
        spec = self.specs[logical_id]
        code_uri = str(spec.code_uri)
        if Path(code_uri).is_dir() and code_uri not in sys.path:
            sys.path.append(code_uri)
        try:
            module = importlib.import_module(spec.module)
            self._handlers[logical_id] = getattr(module, spec.attribute)
        except Exception as error:  # any import failure leaves only this function unusable
            self._failures[logical_id] = f"{type(error).__name__}: {error}"
            logger.error("function %s cannot load %s: %s", logical_id, spec.handler, error)

    def invoke(self, logical_id: str, event: dict[str, Any], request_id: str) -> Any:
        """Call the function as Lambda would; its crash or overrun is the gateway's 5xx."""
        spec = self.specs[logical_id]
        handler = self.handler(logical_id)
        context = LambdaContext(
            function_name=logical_id,
            memory_limit_in_mb=spec.memory_mb,
            aws_request_id=request_id,
            timeout_seconds=spec.timeout_seconds,
        )
        try:
            result = handler(event, context)
        except Exception:
            logger.exception("function %s failed (request %s)", logical_id, request_id)
            raise IntegrationFailedError(
                f"the function {logical_id} failed; the server log has its traceback"
            ) from None
        # NOTE: a thread cannot be stopped, so an overrun is detected when the function returns,
        # not cut off at its Timeout as Lambda would; the answer is the one Lambda's would be.
        if time.monotonic() - context.started > spec.timeout_seconds:
            raise IntegrationTimeoutError(
                f"the function {logical_id} ran longer than its {spec.timeout_seconds:g} s Timeout"
            )
        return result


class Gateway:
    """The HTTP API of `template.yaml`, answering `IncomingRequest`s."""

    def __init__(self, stack: Stack, clock: Callable[[], float] = time.monotonic) -> None:
        self.stack = stack
        self.routes = RouteTable(stack.routes)
        self.functions = Functions(stack.functions)
        self.cache = AuthorizerCache(clock)

    @classmethod
    def from_template(
        cls, path: str | Path = TEMPLATE_FILE, parameter_overrides: Mapping[str, str] | None = None
    ) -> Gateway:
        return cls(load_stack(path, parameter_overrides))

    def handle(self, request: IncomingRequest) -> GatewayResponse:
        """Answer one request, and write its access log line."""
        started = time.perf_counter()
        request_id = events.new_request_id()
        key_id: str | None = None
        try:
            response, key_id = self._route(request, request_id)
        except ServingError as error:
            response = problem(error, request.raw_path, request_id)
        response.key_id = key_id
        access_log.info(
            "%s %s %d %.1f ms key_id=%s request_id=%s",
            request.method,
            request.raw_path,
            response.status,
            (time.perf_counter() - started) * 1000,
            key_id or "-",
            request_id,
        )
        return response

    def _route(self, request: IncomingRequest, request_id: str) -> tuple[GatewayResponse, Any]:
        if len(request.body) > MOST_REQUEST_BYTES:
            raise RequestTooLargeError(
                f"the body is {len(request.body)} bytes; the gateway takes at most "
                f"{MOST_REQUEST_BYTES} bytes"
            )
        matched = self.routes.match(request.method, request.raw_path)
        if matched is None:
            raise NotFoundError(
                f"no route answers {request.method} {request.raw_path}; "
                "the API's routes are listed at /v1/openapi.json"
            )
        route, path_parameters = matched
        event = events.request_event(request, route.key, path_parameters, request_id)

        key_id = None
        if route.authorizer is not None:
            answer = self._authorize(self.stack.authorizers[route.authorizer], request, event)
            event["requestContext"]["authorizer"] = {"lambda": answer.context}
            key_id = answer.context.get("key_id")

        result = self.functions.invoke(route.function, event, request_id)
        return to_http(result, request_id), key_id

    def _authorize(
        self, authorizer: AuthorizerSpec, request: IncomingRequest, event: dict[str, Any]
    ) -> AuthorizerAnswer:
        sources = authorizer.identity_sources
        identity = [_identity_value(source, request, event) for source in sources]
        if not all(identity):
            names = ", ".join(authorizer.identity_sources)
            raise UnauthorizedError(
                f"this route needs {names}; send `Authorization: Bearer <api key>`"
            )
        values = tuple(v for v in identity if v)

        arn = iam.route_arn(request.method, request.raw_path)
        answer = self.cache.get(authorizer.name, values)
        if answer is None:
            answer = self._call_authorizer(authorizer, event, list(values), arn)
            self.cache.put(authorizer.name, values, answer, authorizer.ttl_seconds)

        try:
            allowed = answer.allows(arn)
        except iam.InvalidPolicyDocumentError as error:
            logger.error("authorizer %s answered an invalid policy: %s", authorizer.name, error)
            raise IntegrationFailedError(
                "the authorizer answered a policy the gateway cannot use; the server log says why"
            ) from None
        if not allowed:
            raise ForbiddenError(
                f"this API key may not call {request.method} {request.raw_path}; ask the "
                "operator to grant it, or see GET /v1/me for what the key may call"
            )
        return answer

    def _call_authorizer(
        self, authorizer: AuthorizerSpec, event: dict[str, Any], identity: list[str], arn: str
    ) -> AuthorizerAnswer:
        request_id = event["requestContext"]["requestId"]
        answer = self.functions.invoke(
            authorizer.function, events.authorizer_event(event, identity, arn), request_id
        )
        if not isinstance(answer, dict):
            raise _bad_authorizer_answer(authorizer, "an object")
        context = answer.get("context") or {}
        if not isinstance(context, dict):
            raise _bad_authorizer_answer(authorizer, "a `context` object")

        if authorizer.simple_responses:
            if not isinstance(answer.get("isAuthorized"), bool):
                raise _bad_authorizer_answer(authorizer, "a boolean `isAuthorized`")
            return AuthorizerAnswer(None, answer["isAuthorized"], context)
        if "policyDocument" not in answer:
            raise _bad_authorizer_answer(authorizer, "a `policyDocument`")
        return AuthorizerAnswer(answer["policyDocument"], None, context)


def _bad_authorizer_answer(authorizer: AuthorizerSpec, wanted: str) -> IntegrationFailedError:
    logger.error("authorizer %s did not answer %s", authorizer.name, wanted)
    return IntegrationFailedError(
        "the authorizer answered something the gateway cannot use; the server log says why"
    )


def _identity_value(source: str, request: IncomingRequest, event: dict[str, Any]) -> str | None:
    """The value of one identity source (`$request.header.Authorization`, …) for `request`."""
    kind, _, name = source.partition(".")
    if kind == "$request":
        where, _, name = name.partition(".")
        if where == "header":
            return request.header(name)
        if where == "querystring":
            return events.query_parameters(request.raw_query).get(name)
    if kind == "$context":
        value: Any = event["requestContext"]
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return None if value is None else str(value)
    # NOTE: stage variables do not exist locally (the emulator serves one `$default` stage).
    return None


def to_http(result: Any, request_id: str) -> GatewayResponse:
    """Map a function's answer to HTTP as the payload-2.0 integration does.

    A dict with `statusCode` is the structured form; any other JSON value becomes a 200 whose
    body is that value as JSON (a string is sent as it is).
    """
    if isinstance(result, dict) and "statusCode" in result:
        return _structured(result, request_id)
    if isinstance(result, str):
        body = result.encode()
    else:
        try:
            body = json.dumps(result).encode()
        except (TypeError, ValueError):
            raise IntegrationFailedError("the function answered a value that is not JSON") from None
    _check_size(body)
    headers = [("Content-Type", "application/json"), ("apigw-requestid", request_id)]
    return GatewayResponse(200, headers, body, request_id)


def _structured(result: dict[str, Any], request_id: str) -> GatewayResponse:
    status = result.get("statusCode")
    raw_headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    raw_body = result.get("body")
    shapes_ok = (
        isinstance(status, int)
        and not isinstance(status, bool)
        and 100 <= status <= 599
        and isinstance(raw_headers, dict)
        and isinstance(cookies, list)
        and (raw_body is None or isinstance(raw_body, str))
    )
    if not shapes_ok:
        raise IntegrationFailedError(
            "the function's answer is not a valid payload-2.0 response; the server log says why"
        )

    body = (raw_body or "").encode()
    if result.get("isBase64Encoded") and raw_body:
        try:
            body = base64.b64decode(raw_body, validate=True)
        except ValueError:
            raise IntegrationFailedError("the function's base64 body does not decode") from None
    _check_size(body)

    headers = [(str(k), _header_value(v)) for k, v in raw_headers.items()]
    headers += [("Set-Cookie", str(cookie)) for cookie in cookies]
    headers.append(("apigw-requestid", request_id))
    assert isinstance(status, int)
    return GatewayResponse(status, headers, body, request_id)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_size(body: bytes) -> None:
    if len(body) > MOST_RESPONSE_BYTES:
        raise IntegrationFailedError(
            f"the function answered {len(body)} bytes; Lambda returns at most "
            f"{MOST_RESPONSE_BYTES} bytes from a synchronous call"
        )


def problem(error: ServingError, path: str, request_id: str) -> GatewayResponse:
    """The gateway's own failure as an RFC 9457 problem, API Gateway's `message` kept."""
    body: dict[str, Any] = error.problem(instance=path, request_id=request_id)
    body.setdefault("message", _GATEWAY_MESSAGES.get(error.status, error.title))
    headers = [("Content-Type", PROBLEM_JSON), ("apigw-requestid", request_id)]
    if error.status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="serving-layer"'))
    return GatewayResponse(
        error.status, headers, json.dumps(body, separators=(",", ":")).encode(), request_id
    )
