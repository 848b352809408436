"""RFC 9457 problem documents for every API answer that is not a success.

Both HTTP APIs (queries and manage) render their failures here so a client sees one shape:
`application/problem+json` with `type`, `title`, `status`, `detail`, `instance` (the request
path) and `request_id` (API Gateway's `requestContext.requestId`, which also names the request in
the logs). A `ServingError` answers with its own status and detail; anything else answers a
generic 500 whose detail only names the request id, while the traceback goes to the log.

See https://www.rfc-editor.org/rfc/rfc9457 for the format.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.exceptions import ServiceError

from serving_layer.errors import NotFoundError, ServingError

PROBLEM_JSON = "application/problem+json"

_STATUS_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Request too large",
    429: "Too many requests",
    503: "Service unavailable",
}


class ExceptionLogger(Protocol):
    """What the handlers need of a logger: `logging.Logger` and Powertools' `Logger` both fit."""

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None: ...


def problem_response(
    error: ServingError,
    request_id: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """The problem answer for `error`, with the request path and the request id."""
    body = error.problem(instance=instance, request_id=request_id)
    answer_headers = dict(headers or {})
    if error.status == 401:
        # RFC 9110 §11.6.1: a 401 names the scheme the client should use.
        answer_headers.setdefault("WWW-Authenticate", 'Bearer realm="serving-layer"')
    return Response(
        status_code=error.status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body, separators=(",", ":"), default=str),
        headers=answer_headers,
    )


def internal_problem(request_id: str | None = None, instance: str | None = None) -> Response[str]:
    """The generic 500: nothing of the failure's own text, only how to refer to it."""
    reference = f" (request id {request_id})" if request_id else ""
    error = ServingError(
        f"the server failed to answer this request{reference}; retry later, and quote the "
        "request id when reporting it"
    )
    return problem_response(error, request_id, instance)


def server_error(error: ServingError, request_id: str | None = None) -> ServingError:
    """`error` with its status, type and title kept and its detail replaced by a generic one."""
    reference = f" (request id {request_id})" if request_id else ""
    kind = type(
        f"Public{type(error).__name__}",
        (ServingError,),
        {"status": error.status, "slug": error.slug, "title": error.title},
    )
    public: ServingError = kind(
        f"{error.title.lower()}{reference}; retry later, and quote the request id when reporting it"
    )
    return public


def status_error(status: int, detail: str) -> ServingError:
    """A `ServingError` of a bare HTTP status, for failures the router raises on its own."""
    kind = type(
        f"Http{status}Error",
        (ServingError,),
        {"status": status, "slug": f"http-{status}", "title": _STATUS_TITLES.get(status, "Error")},
    )
    error: ServingError = kind(detail)
    return error


def request_identity(app: ApiGatewayResolver) -> tuple[str | None, str | None]:
    """The request id and path of the request `app` is answering, if it has one."""
    event = getattr(app, "current_event", None)
    if event is None:
        return None, None
    raw = event.raw_event if hasattr(event, "raw_event") else {}
    context = raw.get("requestContext") or {}
    request_id = context.get("requestId") if isinstance(context, dict) else None
    path = raw.get("rawPath") or raw.get("path")
    return (
        request_id if isinstance(request_id, str) else None,
        path if isinstance(path, str) else None,
    )


def register_problem_handlers(
    app: ApiGatewayResolver, logger: ExceptionLogger | None = None
) -> None:
    """Make every failure of `app` answer a problem document, and log unexpected ones.

    Registers handlers for `ServingError` (its own status; a 5xx answers with a generic detail),
    the router's unmatched routes (404), Powertools' `ServiceError`s (their status, generic text)
    and any other exception (500).
    """
    log: ExceptionLogger = logger or logging.getLogger(__name__)

    @app.exception_handler(ServingError)
    def _serving_error(error: ServingError) -> Response[str]:
        request_id, path = request_identity(app)
        if error.status >= 500:
            # A server-side failure's text may name internals (paths, engines): log it only.
            log.exception("request failed: %s", error.detail, extra={"request_id": request_id})
            return problem_response(server_error(error, request_id), request_id, path)
        return problem_response(error, request_id, path)

    @app.exception_handler(RouteNotFoundError)
    def _no_route(_: RouteNotFoundError) -> Response[str]:
        request_id, path = request_identity(app)
        error = NotFoundError(
            f"no route answers {path!r}; the API's routes are listed at /v1/openapi.json"
        )
        return problem_response(error, request_id, path)

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response[str]:
        request_id, path = request_identity(app)
        if error.status_code >= 500:
            log.exception("request failed", extra={"request_id": request_id})
            return internal_problem(request_id, path)
        title = _STATUS_TITLES.get(error.status_code, "Error").lower()
        return problem_response(status_error(error.status_code, title), request_id, path)

    @app.exception_handler(Exception)
    def _unexpected(_: Exception) -> Response[str]:
        request_id, path = request_identity(app)
        log.exception("request failed", extra={"request_id": request_id})
        return internal_problem(request_id, path)


__all__ = [
    "PROBLEM_JSON",
    "internal_problem",
    "problem_response",
    "register_problem_handlers",
    "request_identity",
    "server_error",
    "status_error",
]


def event_request_id(event: Mapping[str, Any]) -> str | None:
    """The gateway's request id of a payload-2.0 event, if it has one."""
    context = event.get("requestContext")
    value = context.get("requestId") if isinstance(context, Mapping) else None
    return value if isinstance(value, str) else None


def raw_problem(event: Mapping[str, Any]) -> dict[str, Any]:
    """A generic 500 problem as a Lambda answer, for when the router itself failed."""
    path = event.get("rawPath")
    problem = internal_problem(event_request_id(event), path if isinstance(path, str) else None)
    return {
        "statusCode": problem.status_code,
        "headers": {"Content-Type": PROBLEM_JSON},
        "body": problem.body,
        "isBase64Encoded": False,
    }
