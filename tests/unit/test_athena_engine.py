"""The Athena engine's calls, schedule and failures, against botocore's Stubber.

Emulated: the whole Athena service. The Stubber answers each call with a response written here
(shapes checked against botocore's Athena model) and checks the request the engine sends; the
clock, the sleeps and the jitter are fakes, so schedules are checked exactly and nothing waits.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from trino_query_parser import parse_statement

from serving_layer.compiler import CompiledQuery, DateRange, Scope, compile_query
from serving_layer.endpoints import Field
from serving_layer.engines import athena
from serving_layer.engines.athena import (
    AthenaEngine,
    decode_page,
    encode_page,
    new_client,
    values_digest,
)
from serving_layer.errors import (
    EngineFailedError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRangeError,
)

QUERY_ID = "5d3f3c3a-0000-4000-8000-00000000cafe"
WORKGROUP = "serving-layer-test"
COUNT_QUERY = compile_query(
    "count_trackcode_by_range", DateRange.parse("2025-03-01", "2025-03-03"), Scope.of([7])
)
COUNT_LITERALS = [
    "TIMESTAMP '2025-03-01 00:00:00.000000'",
    "TIMESTAMP '2025-03-03 00:00:00.000000'",
    "7",
]
NAME_QUERY = CompiledQuery(
    "all_orders_by_range",
    "SELECT c.business_name AS business_name FROM client c WHERE c.business_name = ?",
    ("ACME Ltda",),
    (Field("business_name", "c.business_name", "varchar"),),
)


class FakeTime:
    """A clock that moves only when the engine sleeps, and the record of those sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client() -> Any:
    return new_client(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def engine(client: Any, time_: FakeTime, **settings: Any) -> AthenaEngine:
    settings = {
        "workgroup": WORKGROUP,
        "catalog": "AwsDataCatalog",
        "database": "lake",
        "reuse_minutes": 15,
        "deadline_seconds": 25,
        **settings,
    }
    return AthenaEngine(
        client, clock=time_.clock, sleep=time_.sleep, jitter=lambda: 0.5, **settings
    )


def start_params(literals: list[str], reuse_minutes: int | None = 15) -> dict[str, Any]:
    text = COUNT_QUERY.sql
    if reuse_minutes:
        # With reuse on, the text leads with a digest of the values (computed here by hand).
        digest = hashlib.sha256("\x1f".join(literals).encode()).hexdigest()
        text = f"-- values {digest}\n{text}"
    params: dict[str, Any] = {
        "QueryString": text,
        "ClientRequestToken": ANY,
        "WorkGroup": WORKGROUP,
        "QueryExecutionContext": {"Database": "lake", "Catalog": "AwsDataCatalog"},
        "ExecutionParameters": literals,
    }
    if reuse_minutes:
        params["ResultReuseConfiguration"] = {
            "ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": reuse_minutes}
        }
    return params


def execution(state: str, *, reason: str = "", **statistics: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
        status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False}
    body: dict[str, Any] = {"QueryExecutionId": QUERY_ID, "Status": status}
    if statistics:
        body["Statistics"] = statistics
    return {"QueryExecution": body}


def stats(scanned: int, engine_ms: int, reused: bool) -> dict[str, Any]:
    return {
        "DataScannedInBytes": scanned,
        "EngineExecutionTimeInMillis": engine_ms,
        "ResultReuseInformation": {"ReusedPreviousResult": reused},
    }


def results(
    rows: list[list[str | None]], names: list[str], types: list[str], next_token: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ResultSet": {
            "Rows": [
                {"Data": [{} if text is None else {"VarCharValue": text} for text in row]}
                for row in rows
            ],
            "ResultSetMetadata": {
                "ColumnInfo": [
                    {"Name": name, "Label": name, "Type": type_}
                    for name, type_ in zip(names, types, strict=True)
                ]
            },
        }
    }
    if next_token:
        body["NextToken"] = next_token
    return body


COUNT_NAMES, COUNT_TYPES = ["date", "trackcodes"], ["date", "bigint"]
EXECUTION_ID = {"QueryExecutionId": QUERY_ID}


def expect_start(stub: Stubber, literals: list[str] = COUNT_LITERALS, **kwargs: Any) -> None:
    stub.add_response(
        "start_query_execution", {"QueryExecutionId": QUERY_ID}, start_params(literals, **kwargs)
    )


def test_a_first_page_runs_the_query_and_reads_typed_rows_after_the_header(
    client: Any, stub: Stubber, time_: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN Athena that starts the query, runs it for two checks, then answers three rows
    polled_at: list[float] = []
    client.meta.events.register(
        "before-parameter-build.athena.GetQueryExecution",
        lambda **_: polled_at.append(time_.now),
    )
    expect_start(stub)
    stub.add_response("get_query_execution", execution("QUEUED"), EXECUTION_ID)
    stub.add_response("get_query_execution", execution("RUNNING"), EXECUTION_ID)
    stub.add_response(
        "get_query_execution",
        execution("SUCCEEDED", **stats(123_456_789, 2345, True)),
        EXECUTION_ID,
    )
    stub.add_response(
        "get_query_results",
        results(
            [["date", "trackcodes"], ["2025-03-01", "40"], ["2025-03-02", "2"]],
            COUNT_NAMES,
            COUNT_TYPES,
            next_token="athena-token-2",
        ),
        {"QueryExecutionId": QUERY_ID, "MaxResults": 3},
    )

    # WHEN the first page of two rows is asked for
    with caplog.at_level(logging.INFO, logger="serving_layer.engines.athena"):
        result = engine(client, time_).execute(COUNT_QUERY, page_size=2)

    # THEN the first status check comes 50 ms after the start, then 1.5 times later each
    assert polled_at == pytest.approx([0.05, 0.125, 0.2375])
    assert polled_at[0] <= 0.1
    assert time_.sleeps == pytest.approx([0.05, 0.075, 0.1125])

    # AND the rows are typed, without the header, with the query's own column types
    assert result.columns == [("date", "date"), ("trackcodes", "bigint")]
    assert result.rows == [[date(2025, 3, 1), 40], [date(2025, 3, 2), 2]]
    assert decode_page(result.next_page or "") == (QUERY_ID, "athena-token-2")

    # AND the stats are Athena's, and one INFO line tells the query's cost
    assert result.stats.as_dict() == {
        "engine": "athena",
        "rows": 2,
        "scanned_bytes": 123_456_789,
        "engine_ms": 2345.0,
        "query_id": QUERY_ID,
    }
    assert result.extra == {"reused": True}
    [line] = [r for r in caplog.records if r.name == "serving_layer.engines.athena"]
    assert line.__dict__["endpoint"] == "count_trackcode_by_range"
    assert line.__dict__["scanned_bytes"] == 123_456_789
    assert line.__dict__["query_id"] == QUERY_ID
    assert line.__dict__["reused"] is True
    assert line.__dict__["rows"] == 2
    assert "TIMESTAMP" not in line.getMessage()


def test_no_reuse_age_sends_no_reuse_configuration(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    # GIVEN result reuse switched off (age 0) and a query that answers no rows (header only)
    expect_start(stub, reuse_minutes=None)
    stub.add_response("get_query_execution", execution("SUCCEEDED", **stats(0, 5, False)))
    stub.add_response("get_query_results", results([COUNT_NAMES], COUNT_NAMES, COUNT_TYPES))

    # WHEN it runs  THEN the start carries no ResultReuseConfiguration and the answer is empty
    result = engine(client, time_, reuse_minutes=0).execute(COUNT_QUERY, page_size=10)
    assert result.rows == []
    assert result.next_page is None
    assert result.extra == {"reused": False}


def test_a_later_page_reads_on_from_the_token_without_running_again(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    # GIVEN the token of a first page; Athena answers the next rows (no header) and no token
    stub.add_response(
        "get_query_results",
        results([["2025-03-03", "7"], ["2025-03-04", None]], COUNT_NAMES, COUNT_TYPES),
        {"QueryExecutionId": QUERY_ID, "MaxResults": 2, "NextToken": "athena-token-2"},
    )

    # WHEN the page is read
    page = encode_page(QUERY_ID, "athena-token-2")
    result = engine(client, time_).execute(COUNT_QUERY, page_size=2, page=page)

    # THEN nothing starts or polls, the rows keep their NULL, and no page follows
    assert result.rows == [[date(2025, 3, 3), 7], [date(2025, 3, 4), None]]
    assert result.next_page is None
    assert result.stats.scanned_bytes == 0
    assert result.stats.query_id == QUERY_ID
    assert result.extra == {"reused": None}
    assert time_.sleeps == []


def test_a_page_larger_than_one_call_is_read_in_calls_that_ask_only_for_the_rest(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    # GIVEN a page of 1,500 rows: Athena answers at most 1,000 rows a call, header included
    expect_start(stub)
    stub.add_response("get_query_execution", execution("SUCCEEDED", **stats(10, 5, False)))
    first = [COUNT_NAMES] + [["2025-03-01", str(n)] for n in range(999)]
    stub.add_response(
        "get_query_results",
        results(first, COUNT_NAMES, COUNT_TYPES, next_token="t-1000"),
        {"QueryExecutionId": QUERY_ID, "MaxResults": 1000},
    )
    rest = [["2025-03-02", str(n)] for n in range(999, 1500)]
    stub.add_response(
        "get_query_results",
        results(rest, COUNT_NAMES, COUNT_TYPES, next_token="t-1501"),
        {"QueryExecutionId": QUERY_ID, "MaxResults": 501, "NextToken": "t-1000"},
    )

    # WHEN the page is read  THEN it holds 1,500 rows in order and points at row 1,501
    result = engine(client, time_).execute(COUNT_QUERY, page_size=1500)
    assert [row[1] for row in result.rows] == list(range(1500))
    assert decode_page(result.next_page or "") == (QUERY_ID, "t-1501")


def test_a_failed_query_is_a_502_with_its_id_and_no_engine_text(
    client: Any, stub: Stubber, time_: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a query with a text value that Athena fails, quoting the value in its reason
    reason = "INVALID_FUNCTION_ARGUMENT: line 1:80: bad value 'ACME Ltda' for business_name"
    stub.add_response("start_query_execution", {"QueryExecutionId": QUERY_ID})
    stub.add_response("get_query_execution", execution("FAILED", reason=reason))

    # WHEN it runs
    with caplog.at_level(logging.WARNING), pytest.raises(EngineFailedError) as raised:
        engine(client, time_).execute(NAME_QUERY, page_size=10)

    # THEN the client sees a 502 with the query id and none of Athena's text
    problem = raised.value.problem()
    assert problem["status"] == 502
    assert problem["query_id"] == QUERY_ID
    assert "INVALID" not in raised.value.detail and "ACME" not in raised.value.detail

    # AND the log has Athena's reason with the value blanked out
    [warning] = [r.getMessage() for r in caplog.records if r.name == athena.__name__]
    assert "INVALID_FUNCTION_ARGUMENT: line 1:80: bad value <value> for business_name" in warning
    assert QUERY_ID in warning
    assert "ACME" not in warning


def test_a_cancelled_query_is_a_502_that_says_so(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    expect_start(stub)
    stub.add_response("get_query_execution", execution("CANCELLED"))

    with pytest.raises(EngineFailedError) as raised:
        engine(client, time_).execute(COUNT_QUERY, page_size=10)

    assert raised.value.status == 502
    assert raised.value.extensions == {"query_id": QUERY_ID}
    assert "cancelled" in raised.value.detail


def test_throttling_on_every_call_is_retried_with_growing_full_jitter(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    # GIVEN Athena that throttles the start once, the status check twice, the read once
    stub.add_client_error("start_query_execution", "TooManyRequestsException", http_status_code=400)
    expect_start(stub)
    stub.add_client_error("get_query_execution", "ThrottlingException", http_status_code=400)
    stub.add_client_error("get_query_execution", "Throttling", http_status_code=400)
    stub.add_response("get_query_execution", execution("SUCCEEDED", **stats(1, 1, False)))
    stub.add_client_error("get_query_results", "SlowDown", http_status_code=503)
    stub.add_response(
        "get_query_results", results([COUNT_NAMES, ["2025-03-01", "3"]], COUNT_NAMES, COUNT_TYPES)
    )

    # WHEN the query runs (jitter draws 0.5 of each bound: 100 ms, then 200 ms, ...)
    result = engine(client, time_).execute(COUNT_QUERY, page_size=10)

    # THEN every call succeeds in the end, after waits of half the doubling bound
    assert result.rows == [[date(2025, 3, 1), 3]]
    assert time_.sleeps == pytest.approx([0.05, 0.05, 0.05, 0.1, 0.05])


def test_throttling_that_does_not_end_is_a_503_after_five_attempts(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    for _ in range(5):
        stub.add_client_error("start_query_execution", "TooManyRequestsException")

    with pytest.raises(EngineUnavailableError) as raised:
        engine(client, time_).execute(COUNT_QUERY, page_size=10)

    assert raised.value.status == 503
    assert time_.sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4])


def test_a_transient_server_error_is_retried(client: Any, stub: Stubber, time_: FakeTime) -> None:
    expect_start(stub)
    stub.add_client_error("get_query_execution", "InternalServerException", http_status_code=500)
    stub.add_response("get_query_execution", execution("SUCCEEDED", **stats(1, 1, False)))
    stub.add_response("get_query_results", results([COUNT_NAMES], COUNT_NAMES, COUNT_TYPES))

    assert engine(client, time_).execute(COUNT_QUERY, page_size=10).rows == []


def test_a_query_past_its_deadline_is_stopped_and_is_a_504_with_its_id(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    # GIVEN a 2-second deadline and a query that never leaves RUNNING
    expect_start(stub)
    for _ in range(8):
        stub.add_response("get_query_execution", execution("RUNNING"))
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": QUERY_ID})

    # WHEN it runs
    with pytest.raises(EngineTimeoutError) as raised:
        engine(client, time_, deadline_seconds=2).execute(COUNT_QUERY, page_size=10)

    # THEN the checks follow the schedule, the last wait is cut to the deadline, the query is
    # stopped (the Stubber checks StopQueryExecution was called) and the 504 names it
    assert time_.sleeps == pytest.approx(
        [0.05, 0.075, 0.1125, 0.16875, 0.253125, 0.3796875, 0.56953125, 0.39140625]
    )
    assert time_.now == pytest.approx(2.0)
    assert raised.value.status == 504
    assert raised.value.extensions == {"query_id": QUERY_ID}


def test_a_stop_that_fails_still_answers_the_504(
    client: Any, stub: Stubber, time_: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    expect_start(stub)
    stub.add_response("get_query_execution", execution("RUNNING"))
    stub.add_client_error("stop_query_execution", "InvalidRequestException")

    with caplog.at_level(logging.WARNING), pytest.raises(EngineTimeoutError):
        engine(client, time_, deadline_seconds=0.05).execute(COUNT_QUERY, page_size=10)

    assert any("could not be stopped" in r.getMessage() for r in caplog.records)


def test_a_deadline_reached_while_throttled_at_the_start_is_a_504_without_a_query(
    client: Any, stub: Stubber, time_: FakeTime
) -> None:
    # GIVEN a 120 ms deadline: the second retry (100 ms after 50 ms) would pass it
    stub.add_client_error("start_query_execution", "TooManyRequestsException")
    stub.add_client_error("start_query_execution", "TooManyRequestsException")

    # WHEN it runs  THEN the 504 names no query, and nothing is stopped
    with pytest.raises(EngineTimeoutError) as raised:
        engine(client, time_, deadline_seconds=0.12).execute(COUNT_QUERY, page_size=10)
    assert raised.value.extensions == {}
    assert time_.sleeps == pytest.approx([0.05])


def test_a_refused_start_is_a_502_and_its_message_is_logged_without_values(
    client: Any, stub: Stubber, time_: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    stub.add_client_error(
        "start_query_execution",
        "InvalidRequestException",
        service_message="line 1:70: mismatched input 'ACME Ltda'",
    )

    with caplog.at_level(logging.WARNING), pytest.raises(EngineFailedError) as raised:
        engine(client, time_).execute(NAME_QUERY, page_size=10)

    assert raised.value.status == 502
    assert "mismatched" not in raised.value.detail
    [warning] = [r.getMessage() for r in caplog.records if r.name == athena.__name__]
    assert "InvalidRequestException" in warning and "mismatched input <value>" in warning
    assert "ACME" not in warning


@pytest.mark.parametrize(
    ("header", "names"),
    [
        (["day", "trackcodes"], ["date", "trackcodes"]),  # first row is data, not the header
        (["date", "visits"], ["date", "visits"]),  # columns other than the query's
    ],
)
def test_an_answer_of_another_shape_is_a_502(
    client: Any, stub: Stubber, time_: FakeTime, header: list[str], names: list[str]
) -> None:
    expect_start(stub)
    stub.add_response("get_query_execution", execution("SUCCEEDED", **stats(1, 1, False)))
    stub.add_response("get_query_results", results([header], names, COUNT_TYPES))

    with pytest.raises(EngineFailedError) as raised:
        engine(client, time_).execute(COUNT_QUERY, page_size=10)
    assert raised.value.extensions == {"query_id": QUERY_ID}


def test_a_value_of_the_wrong_form_is_a_502(client: Any, stub: Stubber, time_: FakeTime) -> None:
    expect_start(stub)
    stub.add_response("get_query_execution", execution("SUCCEEDED", **stats(1, 1, False)))
    stub.add_response(
        "get_query_results",
        results([COUNT_NAMES, ["2025-03-01", "many"]], COUNT_NAMES, COUNT_TYPES),
    )

    with pytest.raises(EngineFailedError, match="unexpected form"):
        engine(client, time_).execute(COUNT_QUERY, page_size=10)


@pytest.mark.parametrize("page", ["", "not-a-token", "W10", encode_page("", "x")])
def test_a_page_token_this_engine_did_not_issue_is_refused(
    client: Any, stub: Stubber, time_: FakeTime, page: str
) -> None:
    with pytest.raises(EngineFailedError, match="page token"):
        engine(client, time_).execute(COUNT_QUERY, page_size=10, page=page)


@pytest.mark.parametrize("page_size", [0, -1, True])
def test_a_page_size_below_one_is_a_400(
    client: Any, stub: Stubber, time_: FakeTime, page_size: int
) -> None:
    with pytest.raises(InvalidRangeError):
        engine(client, time_).execute(COUNT_QUERY, page_size=page_size)


def test_settings_come_from_the_environment_when_not_given(
    monkeypatch: pytest.MonkeyPatch, client: Any
) -> None:
    # GIVEN settings in the environment
    monkeypatch.setenv("SERVING_ATHENA_WORKGROUP", "wg-env")
    monkeypatch.setenv("SERVING_ATHENA_CATALOG", "cat-env")
    monkeypatch.setenv("SERVING_NAMESPACE", "db-env")
    monkeypatch.setenv("SERVING_RESULT_REUSE_MINUTES", "0")
    monkeypatch.setenv("SERVING_QUERY_DEADLINE_SECONDS", "12.5")

    # WHEN an engine is built with one explicit argument  THEN it wins over the environment
    built = AthenaEngine(client, workgroup="wg-arg")
    assert (built.workgroup, built.catalog, built.database) == ("wg-arg", "cat-env", "db-env")
    assert (built.reuse_minutes, built.deadline_seconds) == (0, 12.5)


def test_a_malformed_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVING_QUERY_DEADLINE_SECONDS", "soon")
    with pytest.raises(EngineUnavailableError, match="SERVING_QUERY_DEADLINE_SECONDS"):
        AthenaEngine(object())


def test_the_process_shares_one_client_created_on_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no client yet, and a region in the environment
    monkeypatch.setattr(athena, "_client", None)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    created: list[Any] = []
    monkeypatch.setattr(athena, "new_client", lambda: created.append(object()) or created[-1])

    # WHEN two engines are built and both reach for their client
    first, second = AthenaEngine(), AthenaEngine()
    assert created == []

    # THEN one client was created, and both use it
    assert first.client is second.client is created[0]
    assert len(created) == 1


def test_reused_results_are_only_those_of_the_same_values() -> None:
    # GIVEN the literals of two scopes of the same query
    one = values_digest(["TIMESTAMP '2025-01-01 00:00:00.000000'", "1"])
    other = values_digest(["TIMESTAMP '2025-01-01 00:00:00.000000'", "2"])

    # THEN their query texts differ, so Athena cannot hand one scope's result to the other,
    # and the digest is plain hex that leaves the statement a single valid query
    assert one != other
    assert set(one) <= set("0123456789abcdef")
    parse_statement(f"-- values {one}\n{COUNT_QUERY.sql}")
