"""The cloud engine: Amazon Athena (engine v3, Trino) over the lake's Iceberg tables in S3.

A first page is one `StartQueryExecution`: the compiled SQL text unchanged, each value bound as
an execution parameter written as a Trino literal (`literals.py`), in the configured workgroup,
Glue database and catalog, with result reuse when a reuse age is configured. The engine then
polls `GetQueryExecution` with a growing delay, first after 50 ms because small queries finish
in well under a second, until the query ends or the deadline passes: the deadline sits under
API Gateway's 30 s so the client gets a 504 problem with the query id rather than a bare
gateway timeout. A query that runs out of time is stopped, so it costs nothing more.

Rows come from `GetQueryResults`. On the first page Athena answers the column names as the
first row, which is checked and dropped. A later page continues the same execution through
Athena's `NextToken`, carried in the opaque page token: nothing runs twice.

Throttling and transient server errors of any call are retried with full jitter ("Exponential
Backoff And Jitter", AWS Architecture Blog, 2015), a bounded number of times and never past the
deadline; botocore's own retries are turned off so the two do not multiply.

References: Athena API Reference (StartQueryExecution, GetQueryExecution, GetQueryResults,
StopQueryExecution), Athena User Guide "Use parameterized queries" and "Reuse query results"
(2025). Only boto3 and botocore are imported: this module runs in the cloud Lambda.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from serving_layer import config
from serving_layer.compiler import CompiledQuery
from serving_layer.engines import Engine, QueryResult, QueryStats
from serving_layer.engines.athena_values import value_reader
from serving_layer.engines.literals import sql_literal
from serving_layer.errors import (
    EngineFailedError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRangeError,
)

logger = logging.getLogger(__name__)

FIRST_POLL_SECONDS = 0.05
POLL_GROWTH = 1.5
LONGEST_POLL_SECONDS = 1.0

RETRY_ATTEMPTS = 5
RETRY_BASE_SECONDS = 0.1
RETRY_CAP_SECONDS = 2.0
STOP_GRACE_SECONDS = 2.0

# GetQueryResults answers at most 1,000 rows per call (API Reference, `MaxResults`).
MAX_ROWS_PER_CALL = 1000

_THROTTLING_CODES = frozenset(
    {
        # The codes botocore's standard retry mode treats as throttling, Athena's among them.
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_TRANSIENT_CODES = frozenset({"InternalServerException", "InternalFailure", "ServiceUnavailable"})
_TRANSIENT_NETWORK_ERRORS = (BotoConnectionError, HTTPClientError)

_client: Any = None
_client_lock = threading.Lock()


def new_client(**kwargs: Any) -> Any:
    """An Athena client set up for this engine: no botocore retries, timeouts under deadline.

    The region (and, for tests, `AWS_ENDPOINT_URL_ATHENA`) come from the environment as boto3
    reads them, unless given in `kwargs`.
    """
    client_config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=3,
        read_timeout=10,
        user_agent_extra="serving-layer",
    )
    return boto3.client("athena", config=client_config, **kwargs)


def shared_client() -> Any:
    """The process-wide Athena client, created on first use (clients are thread-safe)."""
    global _client
    with _client_lock:
        if _client is None:
            try:
                _client = new_client()
            except BotoCoreError as error:
                raise EngineUnavailableError(
                    f"the Athena client cannot be created ({type(error).__name__}); "
                    "set AWS_REGION and credentials"
                ) from None
        return _client


def encode_page(query_id: str, next_token: str) -> str:
    """The opaque page token: the execution and Athena's `NextToken` within its results."""
    raw = json.dumps([query_id, next_token], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page(page: str) -> tuple[str, str]:
    """The execution id and `NextToken` of a page token `encode_page` made.

    NOTE: a token lives as long as the execution's results do (the workgroup's S3 result
    location and its lifecycle); reading on after they are gone is answered as a 502.
    """
    try:
        raw = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4))
        query_id, next_token = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        query_id = next_token = None
    if not (isinstance(query_id, str) and isinstance(next_token, str) and query_id and next_token):
        raise EngineFailedError("the page token is not one this engine issued")
    return query_id, next_token


def values_digest(literals: tuple[str, ...] | list[str]) -> str:
    """A hex digest of the bound literals: only [0-9a-f], so it cannot change the statement."""
    return hashlib.sha256("\x1f".join(literals).encode()).hexdigest()


def poll_delays() -> Iterator[float]:
    """The waits before each status check: 50 ms, then 1.5 times longer, at most 1 s."""
    delay = FIRST_POLL_SECONDS
    while True:
        yield delay
        delay = min(delay * POLL_GROWTH, LONGEST_POLL_SECONDS)


class _DeadlineReached(Exception):
    """The query's deadline passed; `execute` turns this into a 504 problem."""


@dataclass
class _Run:
    """One `execute` call: what its steps share, and what its logs must never show."""

    endpoint: str
    deadline: float
    literals: tuple[str, ...]
    query_id: str | None = None

    def redact(self, text: str) -> str:
        """`text` with every bound value (and the quoted part of each literal) blanked out.

        NOTE: numbers are left as they are (they would blank out line and column numbers too);
        the values bound today are dates and client ids, which are not secret.
        """
        for literal in sorted(self.literals, key=len, reverse=True):
            if literal in ("NULL", "true", "false") or "'" not in literal:
                continue  # keywords and numbers carry nothing worth hiding
            text = text.replace(literal, "<value>")
            text = text.replace(literal[literal.index("'") :], "<value>")
        return text

    def ids(self) -> dict[str, str]:
        return {"query_id": self.query_id} if self.query_id else {}


class AthenaEngine(Engine):
    """Runs compiled queries on Athena; safe to share between threads."""

    name = "athena"

    def __init__(
        self,
        client: Any = None,
        *,
        workgroup: str | None = None,
        catalog: str | None = None,
        database: str | None = None,
        reuse_minutes: int | None = None,
        deadline_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """Settings: an explicit argument, else the environment, else `config`'s default.

        `client` replaces the shared boto3 client; `clock`, `sleep` and `jitter` (a number in
        [0, 1)) replace time and chance, so tests can check the schedule without waiting.
        """
        self._client = client
        self.workgroup = config.ATHENA_WORKGROUP.get(workgroup)
        self.catalog = config.ATHENA_CATALOG.get(catalog)
        self.database = config.NAMESPACE.get(database)
        self.reuse_minutes = setting_number(config.RESULT_REUSE_MINUTES, reuse_minutes, int)
        self.deadline_seconds = setting_number(
            config.QUERY_DEADLINE_SECONDS, deadline_seconds, float
        )
        if self.reuse_minutes < 0 or self.deadline_seconds <= 0:
            raise EngineUnavailableError(
                "the result reuse age must be 0 or more minutes and the query deadline more "
                f"than 0 seconds; got {self.reuse_minutes} and {self.deadline_seconds}"
            )
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = shared_client()
        return self._client

    def execute(
        self, query: CompiledQuery, *, page_size: int, page: str | None = None
    ) -> QueryResult:
        """One page of `query`: a first page runs it, a later page reads on from `page`.

        Stats: the first page reports Athena's scanned bytes and engine time; a later page
        scans nothing, and its time is the time spent reading the page.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidRangeError(f"the page size must be 1 or more rows; got {page_size!r}")
        started = self._clock()
        literals = tuple(sql_literal(value) for value in query.params)
        run = _Run(query.endpoint, started + self.deadline_seconds, literals)

        execution: dict[str, Any] | None = None
        try:
            if page is None:
                run.query_id = self._start(query, run)
                execution = self._wait(run)
                next_token = None
            else:
                run.query_id, next_token = decode_page(page)
            rows, columns, next_token = self._read(run, next_token, page_size)
        except _DeadlineReached:
            if page is None and execution is None and run.query_id:
                self._stop(run)
            raise EngineTimeoutError(
                f"the query did not finish within {self.deadline_seconds:g} seconds; ask for a "
                "shorter date range or fewer fields",
                **run.ids(),
            ) from None

        values = self._typed(run, query, columns, rows)
        elapsed_ms = (self._clock() - started) * 1000
        stats, reused = _stats(run, execution, len(values), elapsed_ms)
        _log_query(stats, query.endpoint, elapsed_ms, reused, first_page=page is None)
        return QueryResult(
            columns=[(field.name, field.type) for field in query.columns],
            rows=values,
            stats=stats,
            next_page=encode_page(run.query_id or "", next_token) if next_token else None,
            extra={"reused": reused},
        )

    def _start(self, query: CompiledQuery, run: _Run) -> str:
        request: dict[str, Any] = {
            "QueryString": query.sql,
            # The same token on a retried call makes Athena start the query only once.
            "ClientRequestToken": str(uuid.uuid4()),
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
        }
        if run.literals:
            request["ExecutionParameters"] = list(run.literals)
        if self.reuse_minutes > 0:
            # Athena reuses a result when the "query strings match" ("Reuse query results",
            # 2025) and does not say whether execution parameters take part. Range and scope are
            # parameters, so the text carries a digest of them: a stored result is then only
            # ever reused for the very same values, whatever Athena compares.
            request["QueryString"] = f"-- values {values_digest(run.literals)}\n{query.sql}"
            request["ResultReuseConfiguration"] = {
                "ResultReuseByAgeConfiguration": {
                    "Enabled": True,
                    "MaxAgeInMinutes": self.reuse_minutes,
                }
            }
        response = self._call("start_query_execution", request, run)
        query_id: str = response["QueryExecutionId"]
        return query_id

    def _wait(self, run: _Run) -> dict[str, Any]:
        """Poll until the query succeeds; raise when it fails, is cancelled or runs out of time."""
        for delay in poll_delays():
            remaining = run.deadline - self._clock()
            if remaining <= 0:
                raise _DeadlineReached
            self._sleep(min(delay, remaining))

            response = self._call("get_query_execution", {"QueryExecutionId": run.query_id}, run)
            execution: dict[str, Any] = response["QueryExecution"]
            state = execution.get("Status", {}).get("State")
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                raise self._ended_without_result(run, execution, state)
        raise AssertionError("unreachable: the poll schedule never ends")

    def _ended_without_result(
        self, run: _Run, execution: dict[str, Any], state: str
    ) -> EngineFailedError:
        status = execution.get("Status", {})
        athena_error = status.get("AthenaError", {})
        logger.warning(
            "athena query %s: endpoint=%s query_id=%s category=%s type=%s reason=%s",
            state.lower(),
            run.endpoint,
            run.query_id,
            athena_error.get("ErrorCategory"),
            athena_error.get("ErrorType"),
            run.redact(status.get("StateChangeReason", "")),
        )
        # NOTE: a failure Athena marks `Retryable` is not run again: the client is told to try
        # again. Re-running inside the deadline would need a second start and its own budget.
        if state == "CANCELLED":
            detail = "the query was cancelled before it finished; ask again"
        else:
            detail = (
                "the query engine could not complete the query; try again, and report the "
                "query id if it keeps failing"
            )
        return EngineFailedError(detail, **run.ids())

    def _stop(self, run: _Run) -> None:
        """Stop a query that ran out of time; a failure here is logged, never raised."""
        grace = _Run(run.endpoint, self._clock() + STOP_GRACE_SECONDS, run.literals, run.query_id)
        try:
            self._call("stop_query_execution", {"QueryExecutionId": run.query_id}, grace)
        except (EngineFailedError, EngineUnavailableError, _DeadlineReached):
            logger.warning("athena query could not be stopped: query_id=%s", run.query_id)

    def _read(
        self, run: _Run, next_token: str | None, page_size: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
        """Up to `page_size` rows from `next_token` on (the start when None), header dropped.

        A page larger than one call allows is read in several calls, each asking only for the
        rows still missing, so the `NextToken` left over points exactly at the next page.
        """
        rows: list[dict[str, Any]] = []
        columns: list[dict[str, Any]] = []
        header_pending = next_token is None
        while True:
            if self._clock() >= run.deadline:
                raise _DeadlineReached
            wanted = page_size - len(rows) + (1 if header_pending else 0)
            request: dict[str, Any] = {
                "QueryExecutionId": run.query_id,
                "MaxResults": min(wanted, MAX_ROWS_PER_CALL),
            }
            if next_token:
                request["NextToken"] = next_token

            response = self._call("get_query_results", request, run)
            result_set = response.get("ResultSet", {})
            columns = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            batch = result_set.get("Rows", [])
            if header_pending:
                batch = _without_header(run, columns, batch)
                header_pending = False
            rows.extend(batch)
            next_token = response.get("NextToken")

            if not next_token or len(rows) >= page_size:
                break

        if len(rows) > page_size:
            logger.warning("athena answered more rows than asked: query_id=%s", run.query_id)
            raise EngineFailedError("the query engine answered an unexpected page", **run.ids())
        return rows, columns, next_token

    def _typed(
        self,
        run: _Run,
        query: CompiledQuery,
        columns: list[dict[str, Any]],
        rows: list[dict[str, Any]],
    ) -> list[list[Any]]:
        """The rows as Python values, typed by the result's column types."""
        answered = [str(info.get("Name", "")).lower() for info in columns]
        expected = [field.name.lower() for field in query.columns]
        if answered != expected:
            logger.warning(
                "athena answered other columns: query_id=%s expected=%s answered=%s",
                run.query_id,
                expected,
                answered,
            )
            raise EngineFailedError("the query engine answered unexpected columns", **run.ids())

        readers = [
            value_reader(str(info.get("Type", "varchar")), field.type)
            for info, field in zip(columns, query.columns, strict=True)
        ]
        typed: list[list[Any]] = []
        for number, row in enumerate(rows):
            data = row.get("Data", [])
            try:
                typed.append(
                    [
                        read(datum["VarCharValue"]) if "VarCharValue" in datum else None
                        for read, datum in zip(readers, data, strict=True)
                    ]
                )
            except ValueError as error:
                logger.warning(
                    "athena value unreadable: query_id=%s row=%d error=%s",
                    run.query_id,
                    number,
                    run.redact(str(error)),
                )
                raise EngineFailedError(
                    "the query engine answered a value of an unexpected form", **run.ids()
                ) from None
        return typed

    def _call(self, operation: str, request: dict[str, Any], run: _Run) -> dict[str, Any]:
        """One API call; throttling and transient errors retried with full jitter, bounded."""
        for attempt in range(RETRY_ATTEMPTS):
            try:
                response: dict[str, Any] = getattr(self.client, operation)(**request)
                return response
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                if not _is_transient(error):
                    raise _refused(run, operation, code, error) from None
                cause = code
            except _TRANSIENT_NETWORK_ERRORS as error:
                cause = type(error).__name__
            except BotoCoreError as error:
                logger.warning("athena unreachable: %s %s", operation, type(error).__name__)
                raise EngineUnavailableError(
                    "the query engine cannot be reached; try again later", **run.ids()
                ) from None

            if attempt + 1 == RETRY_ATTEMPTS:
                break
            delay = self._jitter() * min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**attempt)
            if self._clock() + delay >= run.deadline:
                raise _DeadlineReached
            logger.debug("athena %s retried after %s in %.3f s", operation, cause, delay)
            self._sleep(delay)

        logger.warning("athena busy: %s gave up after %d attempts", operation, RETRY_ATTEMPTS)
        raise EngineUnavailableError(
            "the query engine is busy; try again in a few seconds", **run.ids()
        )


def setting_number(setting: config.Setting, explicit: float | None, kind: type) -> Any:
    """A numeric setting (argument > environment > default), or a 503 naming the variable."""
    text = setting.get(None if explicit is None else str(explicit))
    try:
        return kind(text)
    except ValueError:
        raise EngineUnavailableError(
            f"{setting.name} must be a number ({setting.doc}); got {text!r}"
        ) from None


def _is_transient(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in _THROTTLING_CODES or code in _TRANSIENT_CODES or status == 429 or status >= 500


def _refused(run: _Run, operation: str, code: str, error: ClientError) -> EngineFailedError:
    message = str(error.response.get("Error", {}).get("Message", ""))
    logger.warning(
        "athena refused %s: endpoint=%s query_id=%s code=%s message=%s",
        operation,
        run.endpoint,
        run.query_id,
        code,
        run.redact(message),
    )
    return EngineFailedError(
        "the query engine refused the query; report the request id if it keeps happening",
        **run.ids(),
    )


def _without_header(
    run: _Run, columns: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The first page's rows without the column-name row Athena puts first for a SELECT."""
    if not rows:
        return rows
    header = [datum.get("VarCharValue") for datum in rows[0].get("Data", [])]
    names = [info.get("Name") for info in columns]
    if header != names:
        # Dropping a data row silently would lose it; a different protocol must be looked at.
        logger.warning("athena first row is not the header: query_id=%s", run.query_id)
        raise EngineFailedError("the query engine answered an unexpected page", **run.ids())
    return rows[1:]


def _stats(
    run: _Run, execution: dict[str, Any] | None, rows: int, elapsed_ms: float
) -> tuple[QueryStats, bool | None]:
    """The query's stats, and whether Athena reused an earlier result (None on later pages)."""
    if execution is None:
        return QueryStats("athena", rows, 0, elapsed_ms, run.query_id), None
    statistics = execution.get("Statistics", {})
    reused = bool(statistics.get("ResultReuseInformation", {}).get("ReusedPreviousResult"))
    return (
        QueryStats(
            engine="athena",
            rows=rows,
            scanned_bytes=int(statistics.get("DataScannedInBytes", 0)),
            engine_ms=float(statistics.get("EngineExecutionTimeInMillis", 0)),
            query_id=run.query_id,
        ),
        reused,
    )


def _log_query(
    stats: QueryStats, endpoint: str, elapsed_ms: float, reused: bool | None, *, first_page: bool
) -> None:
    fields = {
        "endpoint": endpoint,
        "engine": stats.engine,
        "page": "first" if first_page else "next",
        "rows": stats.rows,
        "scanned_bytes": stats.scanned_bytes,
        "engine_ms": round(stats.engine_ms, 1),
        "ms": round(elapsed_ms, 1),
        "query_id": stats.query_id,
        "reused": reused,
    }
    logger.info("query %s", " ".join(f"{k}={v}" for k, v in fields.items()), extra=fields)
