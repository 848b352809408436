"""The query API: `GET /v1/queries/{endpoint}`, `GET /v1/me` and `GET /v1/openapi.json`.

Every query request goes through the same steps: read the caller from the authorizer's context,
check the request against the caller's policy (endpoint, fields, range, limit, cursor), compile
the permission-filtered SQL, run it on the configured engine, then shape the answer: JSON values,
masks, the next cursor and the stats. The policy is checked here again even though the
authorizer already chose the routes, because locally the handler may run without the gateway.

A success answers

    {"endpoint": …, "columns": [{"name", "type"}, …], "rows": [[…], …],
     "next_cursor": str | null, "stats": {engine, rows, scanned_bytes, engine_ms, total_ms,
     query_id}}

with each row an array in the order of `columns` (compact, and the column types travel once).
Every failure is an RFC 9457 problem (`problems.py`).
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from serving_layer import config, cursors, engines, masks, timetravel
from serving_layer.answers import json_rows
from serving_layer.caller import Caller, caller_from_event
from serving_layer.compiler import CompiledQuery, DateRange, compile_query
from serving_layer.endpoints import EndpointSpec, endpoint
from serving_layer.errors import (
    BadRequestError,
    ForbiddenError,
    InvalidRangeError,
    UnknownFieldError,
)
from serving_layer.policy import EndpointGrant
from serving_layer.problems import event_request_id, raw_problem, register_problem_handlers
from serving_layer.signing_keys import secret

QUERY_PARAMETERS = ("start", "end", "fields", "limit", "cursor", "as_of")

logger = Logger(service="serving-layer-query", level=config.LOG_LEVEL.get())
app = APIGatewayHttpResolver()
register_problem_handlers(app, logger)


class UnknownParameterError(BadRequestError):
    slug = "unknown-parameter"
    title = "Unknown query parameter"


class InvalidLimitError(BadRequestError):
    slug = "invalid-limit"
    title = "Invalid limit"


class RangeTooLongError(InvalidRangeError):
    slug = "range-too-long"
    title = "Date range too long"


class EndpointNotGrantedError(ForbiddenError):
    slug = "endpoint-not-granted"
    title = "Endpoint not granted"


class FieldNotGrantedError(ForbiddenError):
    slug = "field-not-granted"
    title = "Field not granted"


@dataclass
class RequestRecord:
    """What the request's one log line says; the route fills it in as it learns."""

    started: float = field(default_factory=time.perf_counter)
    values: dict[str, Any] = field(default_factory=dict)


_record: contextvars.ContextVar[RequestRecord] = contextvars.ContextVar("request_record")
_pinned_engine: engines.Engine | None = None


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Answer one payload-2.0 event, then log one line about it (never the event itself)."""
    record = RequestRecord()
    token = _record.set(record)
    try:
        response = app.resolve(event, context)
    except Exception:
        # The router itself failed (an event it cannot read): still answer a problem.
        logger.exception("request could not be routed")
        response = raw_problem(event)
    finally:
        _record.reset(token)

    total_ms = (time.perf_counter() - record.started) * 1000
    logger.info(
        "request",
        extra={
            "route": _route_key(event),
            "request_id": event_request_id(event),
            "status": response.get("statusCode"),
            "total_ms": round(total_ms, 3),
            **record.values,
        },
    )
    return response


def use_engine(engine: engines.Engine | None) -> None:
    """Answer with `engine` instead of the configured one (benchmarks, tests); None undoes it."""
    global _pinned_engine
    _pinned_engine = engine


def current_engine() -> engines.Engine:
    # The engine module (and DuckDB, locally) loads here, at the first query, not at import.
    return _pinned_engine if _pinned_engine is not None else engines.get_engine()


@app.get("/v1/queries/<name>")
def query_endpoint(name: str) -> Response[str]:
    """Run one endpoint for the caller, within its policy."""
    caller = _caller()
    parameters = _parameters()
    spec = endpoint(name)
    grant = _grant(caller, spec)
    _note(endpoint=spec.name)

    request = QueryRequest.parse(spec, grant, parameters)
    as_of = _as_of(spec, parameters.get("as_of"))
    query = compile_query(
        spec, request.date_range, caller.policy.scope, request.fields, as_of=as_of
    )
    binding = cursors.CursorBinding(
        holder=_holder(caller), endpoint=spec.name, query=cursors.query_digest(query, request.limit)
    )
    page = None
    if request.cursor is not None:
        page = cursors.page_token(request.cursor, binding, secret(config.CURSOR_KEY))

    body = answer(query, grant, caller, request.limit, page, binding)
    if as_of is not None:
        body["as_of"] = as_of.describe()
    return _json(200, body)


@app.get("/v1/me")
def me() -> Response[str]:
    """The caller's own policy, with every endpoint's fields spelled out."""
    caller = _caller()
    policy = caller.policy
    body = policy.to_dict()
    for name, grant in policy.endpoints.items():
        body["endpoints"][name]["fields"] = list(grant.granted_fields)
    body["key_id"] = caller.key_id
    body["routes"] = [f"{method} {path}" for method, path in policy.routes()]
    return _json(200, body)


@app.get("/v1/openapi.json")
def openapi_document() -> Response[str]:
    """The API's OpenAPI document; it describes the API and holds no data, so needs no key."""
    from serving_layer import openapi

    return _json(200, openapi.document())


@dataclass(frozen=True)
class QueryRequest:
    """A query request's parameters, checked against the endpoint and the caller's grant."""

    date_range: DateRange
    fields: tuple[str, ...]
    limit: int
    cursor: str | None

    @classmethod
    def parse(
        cls, spec: EndpointSpec, grant: EndpointGrant, parameters: Mapping[str, str]
    ) -> QueryRequest:
        return cls(
            date_range=_date_range(grant, parameters),
            fields=_fields(spec, grant, parameters.get("fields")),
            limit=_limit(grant, parameters.get("limit")),
            cursor=parameters.get("cursor"),
        )


def answer(
    query: CompiledQuery,
    grant: EndpointGrant,
    caller: Caller,
    limit: int,
    page: str | None,
    binding: cursors.CursorBinding,
) -> dict[str, Any]:
    """Run `query` for one page and shape the answer: JSON values, masks, cursor, stats."""
    engine = current_engine()
    result = engine.execute(query, page_size=limit, page=page)
    _note(engine=result.stats.engine)

    # The spec names and types the columns, whichever engine answered.
    columns = [(f.name, f.type) for f in query.columns]
    names = [name for name, _ in columns]
    masker = masks.Masker(grant.masks, caller.client)
    rows = masker.rows(names, json_rows(result.rows[:limit]))

    next_cursor = None
    if result.next_page is not None and rows:
        next_cursor = cursors.issue(binding, result.next_page, secret(config.CURSOR_KEY))

    stats = result.stats.as_dict()
    stats["rows"] = len(rows)
    stats["total_ms"] = round(
        (time.perf_counter() - _record.get(RequestRecord()).started) * 1000, 3
    )
    _note(
        rows=len(rows),
        scanned_bytes=stats["scanned_bytes"],
        engine_ms=stats["engine_ms"],
        query_id=stats["query_id"],
    )
    return {
        "endpoint": query.endpoint,
        "columns": [{"name": n, "type": t} for n, t in masker.columns(columns)],
        "rows": rows,
        "next_cursor": next_cursor,
        "stats": stats,
    }


def _caller() -> Caller:
    caller = caller_from_event(app.current_event.raw_event)
    _note(client=caller.client, key_id=caller.key_id)
    return caller


def _grant(caller: Caller, spec: EndpointSpec) -> EndpointGrant:
    grant = caller.policy.grant(spec.name)
    if grant is None:
        granted = ", ".join(sorted(caller.policy.endpoints)) or "none"
        raise EndpointNotGrantedError(
            f"this API key is not granted endpoint {spec.name!r}; its endpoints are: {granted}",
            endpoint=spec.name,
        )
    return grant


def _parameters() -> dict[str, str]:
    parameters = dict(app.current_event.query_string_parameters or {})
    unknown = sorted(set(parameters) - set(QUERY_PARAMETERS))
    if unknown:
        raise UnknownParameterError(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; "
            f"the parameters are: {', '.join(QUERY_PARAMETERS)}",
            parameters=unknown,
            allowed=list(QUERY_PARAMETERS),
        )
    return parameters


def _date_range(grant: EndpointGrant, parameters: Mapping[str, str]) -> DateRange:
    missing = [name for name in ("start", "end") if not parameters.get(name)]
    if missing:
        raise InvalidRangeError(
            f"{' and '.join(f'`{m}`' for m in missing)} required: give `start` and `end` as "
            "ISO 8601 dates or UTC date-times, such as start=2025-03-01&end=2025-03-08"
        )

    date_range = DateRange.parse(parameters["start"], parameters["end"])
    if date_range.days > grant.max_range_days:
        raise RangeTooLongError(
            f"the range spans {date_range.days:g} days; the longest allowed for "
            f"{grant.endpoint!r} is {grant.max_range_days} days: narrow `start` and `end`",
            max_range_days=grant.max_range_days,
        )
    return date_range


def _fields(spec: EndpointSpec, grant: EndpointGrant, text: str | None) -> tuple[str, ...]:
    granted = grant.granted_fields
    if text is None:
        return granted

    names = [name.strip() for name in text.split(",")]
    if not any(names) or not all(names):
        raise UnknownFieldError(
            f"`fields` is a comma-separated list of field names without blanks; the fields "
            f"granted for {spec.name!r} are: {', '.join(granted)}"
        )
    for name in names:
        spec.field(name)  # an unknown name is a 400 naming it
    for name in names:
        if name not in granted:
            raise FieldNotGrantedError(
                f"field {name!r} of {spec.name!r} is not granted to this API key; the granted "
                f"fields are: {', '.join(granted)}",
                field=name,
            )
    return tuple(n for n in granted if n in names)


def _limit(grant: EndpointGrant, text: str | None) -> int:
    if text is None:
        return grant.max_rows
    value = text.strip()
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= grant.max_rows:
        raise InvalidLimitError(
            f"`limit` must be a whole number from 1 to {grant.max_rows} for {grant.endpoint!r}; "
            f"got {text[:40]!r}",
            maximum=grant.max_rows,
        )
    return int(value)


def _as_of(spec: EndpointSpec, text: str | None) -> timetravel.AsOf | None:
    """The lake version `as_of` names (a snapshot id or an instant), or None for the current."""
    if text is None:
        return None
    history = timetravel.history_for(current_engine())
    as_of = timetravel.resolve(text, history, timetravel.tables_in(spec.source))
    _note(as_of=text[:40])
    return as_of


def _holder(caller: Caller) -> str:
    return caller.key_id if caller.key_id else f"client:{caller.client}"


def _note(**values: Any) -> None:
    record = _record.get(None)
    if record is not None:
        record.values.update(values)


def _json(status: int, body: Any) -> Response[str]:
    text = json.dumps(body, separators=(",", ":"), allow_nan=False)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=text)


def _route_key(event: Mapping[str, Any]) -> str | None:
    value = event.get("routeKey")
    return value if isinstance(value, str) else None
