"""The manage API: insert, upsert, update, delete and read rows, and list a table's snapshots.

    POST   /v1/tables/{table}/rows        {"rows": [{…}, …]}   insert a batch      201
    PUT    /v1/tables/{table}/rows        {"rows": [{…}, …]}   upsert by key       200
    PATCH  /v1/tables/{table}/rows/{id}   {"column": value, …}  change one row     200
    DELETE /v1/tables/{table}/rows/{id}                         delete one row      200
    GET    /v1/tables/{table}/rows/{id}                         read one row        200
    GET    /v1/tables/{table}/snapshots?limit=N                 the table's history 200

Every write goes through the same steps, and nothing is written until all pass: the caller's
policy must grant the operation on the table (403); the body must fit the data model, every
problem of every row listed at once (400); every row must fall inside the caller's scope
(403, see `ownership.py`); then, against the stored rows of the batch's keys, an insert's keys
must be new (409), an update's or delete's row must exist (404), and the stored rows must be
the caller's too (403). The writer then commits the change as one snapshot. POST and PUT take
an `Idempotency-Key` header (`idempotency.py`).

A write answers what it did and the table's snapshot before and after, which `as_of` on the
query API accepts. Snapshot ids are 64-bit, so they travel as strings (JSON numbers lose
precision past 2^53 in many clients). Failures are RFC 9457 problems (`problems.py`).
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from serving_layer import config, idempotency, model, ownership, rows
from serving_layer.audit import AuditRecord
from serving_layer.caller import Caller, caller_from_event
from serving_layer.errors import (
    BadRequestError,
    NotFoundError,
    NotGrantedError,
    RowsExistError,
)
from serving_layer.history import Snapshot, TableHistory
from serving_layer.model import Table
from serving_layer.ownership import Located
from serving_layer.policy import Operation
from serving_layer.problems import event_request_id, raw_problem, register_problem_handlers
from serving_layer.writers import Actor, Change, Row, Writer, WriteResult, get_writer, writer_name

DEFAULT_SNAPSHOTS = 100
MOST_SNAPSHOTS = 1000
REPLAYED_HEADER = "Idempotent-Replayed"

logger = Logger(service="serving-layer-manage", level=config.LOG_LEVEL.get())
app = APIGatewayHttpResolver()
register_problem_handlers(app, logger)


@dataclass
class RequestRecord:
    """What the request's one log line says; the route fills it in as it learns."""

    started: float = field(default_factory=time.perf_counter)
    values: dict[str, Any] = field(default_factory=dict)


_record: contextvars.ContextVar[RequestRecord] = contextvars.ContextVar("manage_record")
_context: contextvars.ContextVar[Any] = contextvars.ContextVar("manage_context", default=None)
_pinned_writer: Writer | None = None
_pinned_store: Any = None


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Answer one payload-2.0 event, then log one line about it (never the event itself)."""
    record = RequestRecord()
    token = _record.set(record)
    context_token = _context.set(context)
    try:
        response = app.resolve(event, context)
    except Exception:
        logger.exception("request could not be routed")
        response = raw_problem(event)
    finally:
        _record.reset(token)
        _context.reset(context_token)

    logger.info(
        "request",
        extra={
            "route": event.get("routeKey"),
            "request_id": event_request_id(event),
            "status": response.get("statusCode"),
            "total_ms": round((time.perf_counter() - record.started) * 1000, 3),
            **record.values,
        },
    )
    return response


def use_writer(writer: Writer | None, store: Any = None) -> None:
    """Write with `writer` (and keep idempotency records in `store`) instead of the configured
    ones (benchmarks, tests); None undoes it."""
    global _pinned_writer, _pinned_store
    _pinned_writer, _pinned_store = writer, store


def current_writer() -> Writer:
    # The writer (pyiceberg locally, the Athena client in the cloud) loads at the first write.
    return _pinned_writer if _pinned_writer is not None else get_writer()


_stores: dict[str, Any] = {}


def current_store() -> Any:
    if _pinned_store is not None:
        return _pinned_store
    name = writer_name()
    if name not in _stores:
        _stores[name] = idempotency.persistence_layer(name)
    return _stores[name]


# --- routes -----------------------------------------------------------------------------------


@app.post("/v1/tables/<table>/rows")
def insert_rows(table: str) -> Response[str]:
    return _batch(table, Operation.INSERT, 201)


@app.put("/v1/tables/<table>/rows")
def upsert_rows(table: str) -> Response[str]:
    return _batch(table, Operation.UPSERT, 200)


@app.patch("/v1/tables/<table>/rows/<key>")
def update_row(table: str, key: str) -> Response[str]:
    caller, tbl = _begin(table, Operation.UPDATE)
    value = rows.parse_key(tbl, key)
    patch = rows.validate_patch(tbl, value, _body())
    result = apply(caller, Change(tbl, Operation.UPDATE, key=value, patch=patch))
    return _json(200, write_answer(tbl, result, key=value))


@app.delete("/v1/tables/<table>/rows/<key>")
def delete_row(table: str, key: str) -> Response[str]:
    caller, tbl = _begin(table, Operation.DELETE)
    value = rows.parse_key(tbl, key)
    result = apply(caller, Change(tbl, Operation.DELETE, key=value))
    return _json(200, write_answer(tbl, result, key=value))


@app.get("/v1/tables/<table>/rows/<key>")
def read_row(table: str, key: str) -> Response[str]:
    caller, tbl = _begin(table, Operation.READ)
    value = rows.parse_key(tbl, key)
    found = current_writer().read(tbl, [value]).get(value)

    # A row outside the scope is answered as absent: its content and its existence are not
    # the caller's to know. Reference rows belong to no client: every reader may see them.
    if found is not None and not ownership.is_reference_table(tbl):
        outside = ownership.outside_scope(
            caller.policy.scope, tbl, [Located(found)], current_writer(), stored=True
        )
        found = None if outside else found
    if found is None:
        raise NotFoundError(f"no row of {tbl.name!r} with {tbl.primary_key} {value} in your scope")
    return _json(200, {"table": tbl.name, "key": value, "row": rows.to_json(tbl, found)})


@app.get("/v1/tables/<table>/snapshots")
def list_snapshots(table: str) -> Response[str]:
    caller, tbl = _begin(table, Operation.READ)
    limit = _limit(app.current_event.query_string_parameters or {})
    writer = current_writer()
    history = writer.history(tbl)
    records = writer.audit_records(tbl, history)
    return _json(200, snapshots_answer(caller, history, records, limit))


# --- the write path ---------------------------------------------------------------------------


def _batch(table: str, operation: Operation, status: int) -> Response[str]:
    caller, tbl = _begin(table, operation)
    body = _body()

    def run() -> dict[str, Any]:
        batch = rows.validate_rows(tbl, rows.batch_rows(body))
        result = apply(caller, Change(tbl, operation, rows=tuple(batch)))
        return {"status": status, "body": write_answer(tbl, result)}

    key = _header(idempotency.HEADER)
    if key is None:
        answer, replayed = run(), False
    else:
        answer, replayed = idempotency.run_once(
            current_store(),
            client=caller.client,
            key=idempotency.check_key(key),
            route=f"{app.current_event.http_method} {tbl.name}",
            body=body,
            operation=run,
            context=_context.get(),
        )
        _note(idempotency_replayed=replayed)
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return _json(answer["status"], answer["body"], headers)


def apply(caller: Caller, change: Change) -> WriteResult:
    """Check `change` against the caller's scope and the stored rows, then commit it."""
    writer = current_writer()
    scope, tbl = caller.policy.scope, change.table

    if change.rows:
        located = [Located(row, index) for index, row in enumerate(change.rows)]
        errors = ownership.outside_scope(scope, tbl, located, writer)
        ownership.raise_outside_scope(tbl, errors, scope)
    elif ownership.is_reference_table(tbl) and not scope.is_all:
        errors = ownership.outside_scope(
            scope, tbl, [Located({tbl.primary_key: change.key})], writer
        )
        ownership.raise_outside_scope(tbl, errors, scope)

    result = writer.write(change, _actor(caller), _check(caller, change, writer))
    _note(
        table=tbl.name,
        operation=change.operation.value,
        rows=result.rows,
        snapshot_after=result.snapshot_after,
        attempts=result.attempts,
    )
    return result


def _check(caller: Caller, change: Change, writer: Writer) -> Callable[[Mapping[Any, Row]], None]:
    """The check the writer runs on the stored rows of the change's keys before committing."""
    tbl, scope = change.table, caller.policy.scope
    index = {key: i for i, key in enumerate(change.keys)}

    def check(stored: Mapping[Any, Row]) -> None:
        if change.operation is Operation.INSERT:
            _refuse_existing(tbl, [k for k in change.keys if k in stored], index)
            return

        if change.operation in (Operation.UPDATE, Operation.DELETE) and change.key not in stored:
            raise NotFoundError(
                f"no row of {tbl.name!r} with {tbl.primary_key} {change.key}; nothing was changed"
            )
        mine = [Located(stored[k], index.get(k)) for k in change.keys if k in stored]
        errors = ownership.outside_scope(scope, tbl, mine, writer, stored=True)
        if change.operation is Operation.UPDATE and not errors:
            after = change.merged(stored[change.key])
            errors = ownership.outside_scope(scope, tbl, [Located(after)], writer)
        ownership.raise_outside_scope(tbl, errors, scope)

    return check


def _refuse_existing(tbl: Table, existing: list[Any], index: Mapping[Any, int]) -> None:
    if not existing:
        return
    errors = [
        rows.RowError(
            index[k],
            tbl.primary_key,
            f"{tbl.primary_key} {k} already exists; use PUT to replace it, or choose a new key",
            k,
        ).to_dict()
        for k in existing
    ]
    shown = ", ".join(str(k) for k in existing[:20]) + (" …" if len(existing) > 20 else "")
    raise RowsExistError(
        f"{len(existing)} row{'s' if len(existing) != 1 else ''} of {tbl.name!r} already "
        f"exist ({tbl.primary_key} {shown}); nothing was written: insert only new keys, or "
        "send the batch with PUT to replace them",
        errors=errors,
        table=tbl.name,
    )


# --- answers ----------------------------------------------------------------------------------


def write_answer(tbl: Table, result: WriteResult, key: Any = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"table": tbl.name, "operation": result.operation}
    if key is not None:
        answer["key"] = key
    answer.update(
        rows=result.rows,
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        deleted=result.deleted,
        snapshot_before=_snapshot_id(result.snapshot_before),
        snapshot_after=_snapshot_id(result.snapshot_after),
        committed_at=rows.json_value(result.committed_at),
    )
    if result.row is not None:
        answer["row"] = rows.to_json(tbl, result.row)
    if "query_id" in result.extra:
        answer["query_id"] = result.extra["query_id"]
    return answer


def snapshots_answer(
    caller: Caller, history: TableHistory, records: Mapping[int, AuditRecord], limit: int
) -> dict[str, Any]:
    """The newest `limit` snapshots, each with who changed what when this API wrote it.

    A caller whose scope is not "all" sees the client, key id and request id only of its own
    changes: other clients' identities and traffic are not its to know.
    """
    newest = list(reversed(history.snapshots))[:limit]
    return {
        "table": history.table,
        "current_snapshot": _snapshot_id(history.current_id),
        "snapshots": [_snapshot(caller, s, records.get(s.snapshot_id)) for s in newest],
        "more": len(history.snapshots) > limit,
    }


def _snapshot(caller: Caller, snapshot: Snapshot, record: AuditRecord | None) -> dict[str, Any]:
    change: dict[str, Any] | None = None
    if record is not None:
        yours = record.client == caller.client
        change = {
            "operation": record.operation,
            "rows": record.rows,
            "by_you": yours,
            "snapshot_before": _snapshot_id(record.snapshot_before),
            "snapshot_after": _snapshot_id(record.snapshot_after),
        }
        if yours or caller.policy.scope.is_all:
            change.update(client=record.client, key_id=record.key_id, request_id=record.request_id)
    return {
        "snapshot_id": _snapshot_id(snapshot.snapshot_id),
        "parent_id": _snapshot_id(snapshot.parent_id),
        "committed_at": rows.json_value(snapshot.committed_at),
        "operation": snapshot.operation,
        "change": change,
    }


# --- request reading --------------------------------------------------------------------------


def _begin(table: str, operation: Operation) -> tuple[Caller, Table]:
    """The caller, the table, and the check that the caller's policy grants `operation`."""
    caller = caller_from_event(app.current_event.raw_event)
    _note(client=caller.client, key_id=caller.key_id, table=table, operation=operation.value)
    tbl = model.table(table)
    if not caller.policy.may(tbl.name, operation):
        granted = sorted(op.value for op in caller.policy.tables.get(tbl.name, ()))
        raise NotGrantedError(
            f"this API key may not {operation.value} on table {tbl.name!r}; its operations "
            f"there are: {', '.join(granted) or 'none'}. Ask the operator for the grant",
            table=tbl.name,
            operation=operation.value,
        )
    return caller, tbl


def _body() -> Any:
    text = app.current_event.decoded_body
    if not text:
        raise BadRequestError("the request needs a JSON body")
    try:
        return json.loads(text)
    except ValueError:
        raise BadRequestError("the body is not valid JSON; send a JSON object") from None


def _limit(parameters: Mapping[str, str]) -> int:
    unknown = sorted(set(parameters) - {"limit"})
    if unknown:
        raise BadRequestError(f"unknown query parameters {unknown}; the only one is `limit`")
    text = parameters.get("limit")
    if text is None:
        return DEFAULT_SNAPSHOTS
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MOST_SNAPSHOTS:
        raise BadRequestError(
            f"`limit` must be a whole number from 1 to {MOST_SNAPSHOTS}; got {text[:40]!r}"
        )
    return int(text)


def _header(name: str) -> str | None:
    # HTTP API lower-cases header names in payload 2.0; a hand-made event may not.
    for header, value in (app.current_event.headers or {}).items():
        if header.lower() == name:
            return str(value)
    return None


def _actor(caller: Caller) -> Actor:
    return Actor(caller.client, caller.key_id, event_request_id(app.current_event.raw_event))


def _snapshot_id(value: int | None) -> str | None:
    return None if value is None else str(value)


def _note(**values: Any) -> None:
    record = _record.get(None)
    if record is not None:
        record.values.update(values)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    text = json.dumps(body, separators=(",", ":"), allow_nan=False)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=text,
        headers=headers or {},
    )
