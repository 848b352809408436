"""The SQL the API sends: Trino's grammar accepts all of it, and no request text ever enters it.

Athena engine v3 is Trino, so every compiled query (every endpoint, field subset, scope and page)
must parse under Trino's grammar, checked offline with `trino-query-parser`. Then a property
test throws arbitrary request values at the handler, with an engine that only records the SQL
it is given, and checks that none of them reaches the SQL text unless it is one of the names
the specs already put there.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from trino_query_parser import parse_statement
from trino_query_parser.error import TrinoSyntaxError

from query_events import policy_document, query_event
from serving_layer import query_api
from serving_layer.compiler import CompiledQuery, DateRange, Scope, compile_query
from serving_layer.endpoints import ENDPOINTS, EndpointSpec
from serving_layer.engines import QueryResult, QueryStats
from serving_layer.handlers.query import handler

RANGE = DateRange.parse("2025-03-01", "2025-03-04")
RANDOM_SUBSETS = 50


def field_subsets(spec: EndpointSpec) -> list[tuple[str, ...]]:
    """Every non-empty subset for small endpoints; singletons, all and 50 random ones for big."""
    names = spec.field_names
    if len(names) <= 6:
        return [
            combo
            for size in range(1, len(names) + 1)
            for combo in itertools.combinations(names, size)
        ]
    chooser = random.Random(f"subsets-{spec.name}")
    subsets = {(name,) for name in names} | {names}
    while len(subsets) < len(names) + 1 + RANDOM_SUBSETS:
        size = chooser.randint(2, len(names) - 1)
        subsets.add(tuple(sorted(chooser.sample(names, size), key=names.index)))
    return sorted(subsets)


def parses(sql: str) -> bool:
    parse_statement(sql)  # raises TrinoSyntaxError on any mistake
    return True


def test_the_parser_rejects_broken_sql() -> None:
    # GIVEN SQL that is not valid Trino
    # WHEN it is parsed
    # THEN the parser raises, so the checks below can fail
    with pytest.raises(TrinoSyntaxError, match="mismatched input 'FROM'"):
        parse_statement("SELECT FROM WHERE")
    with pytest.raises(TrinoSyntaxError):
        parse_statement("SELECT a FROM t LIMIT ? OFFSET ?")  # Trino wants OFFSET first


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_field_subset_compiles_to_trino_sql(name: str) -> None:
    # GIVEN every (or a fixed sample of) field subset of the endpoint
    spec = ENDPOINTS[name]
    subsets = field_subsets(spec)
    assert len(subsets) == min(2 ** len(spec.field_names) - 1, len(spec.field_names) + 51)

    # WHEN each compiles for a scope of two clients
    # THEN Trino's grammar accepts it
    for fields in subsets:
        query = compile_query(spec, RANGE, Scope.of([101, 102]), fields)
        assert parses(query.sql), fields


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_scope_and_page_compiles_to_trino_sql(name: str) -> None:
    # GIVEN the endpoint with all fields, for every kind of scope and page
    for scope in (Scope.all(), Scope.of([7]), Scope.of(range(1, 40))):
        for offset, limit in ((0, 1), (20, 10)):
            # WHEN it compiles and is paged as an engine pages it
            query = compile_query(name, RANGE, scope).page(offset, limit)

            # THEN Trino's grammar accepts it, with one value per placeholder
            assert parses(query.sql)
            assert query.sql.count("?") == len(query.params)


# --- no request text in SQL ------------------------------------------------------------------


class RecordingEngine:
    """Answers no rows and keeps the SQL it was given: only the SQL is under test here."""

    name = "recording"

    def __init__(self) -> None:
        self.queries: list[CompiledQuery] = []

    def execute(self, query: CompiledQuery, *, page_size: int, page: str | None = None) -> Any:
        self.queries.append(query)
        stats = QueryStats(engine=self.name)
        return QueryResult(columns=[(f.name, f.type) for f in query.columns], rows=[], stats=stats)


@pytest.fixture(scope="module")
def recording() -> Iterator[RecordingEngine]:
    engine = RecordingEngine()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SERVING_MASK_KEY", "test-mask-key-0123456789abcdef")
        patch.setenv("SERVING_CURSOR_KEY", "test-cursor-key-0123456789abcdef")
        query_api.use_engine(engine)  # type: ignore[arg-type]
        try:
            yield engine
        finally:
            query_api.use_engine(None)


# Everything the specs can put in SQL: any substring of it is "known vocabulary".
VOCABULARY = " ".join(
    compile_query(spec, RANGE, Scope.of([1, 2])).page(1, 1).sql for spec in ENDPOINTS.values()
)
FIELD_NAMES = sorted({f for spec in ENDPOINTS.values() for f in spec.field_names})

novel_text = st.text(min_size=3, max_size=40).filter(lambda s: s not in VOCABULARY)
injections = st.sampled_from(
    [
        "' OR '1'='1",
        "1; DROP TABLE trackcode; --",
        "2025-03-01' UNION SELECT enterprise_key FROM client --",
        'x" FROM client --',
        "/* comment */",
        "enterprise_key",
        "2025-03-01T00:00:00Z'",
    ]
)
untrusted = st.one_of(novel_text, injections)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` four times in five, else `bad` (`one_of` would merge repeated branches)."""
    return st.integers(0, 4).flatmap(lambda n: bad if n == 0 else good)


# Mostly values the API accepts (in forms it normalizes: offsets, spaces, repeats), so that many
# requests reach the engine; the rest are arbitrary or hostile text.
good_dates = st.sampled_from(
    ["2025-03-01", " 2025-03-02 ", "2025-03-02T10:00:00Z", "2025-03-01T00:00:00+05:00"]
)
dates = mostly(
    good_dates,
    st.one_of(
        untrusted,
        st.builds(lambda d, s: d + s, st.sampled_from(["2025-03-01", "2025-03-02"]), untrusted),
    ),
)
ends = mostly(st.sampled_from(["2025-03-04", "2025-03-04T12:00:00-03:00"]), dates)
endpoints = mostly(st.sampled_from(sorted(ENDPOINTS)), untrusted)
limits = st.one_of(st.none(), mostly(st.integers(1, 1000).map(lambda n: f" {n}"), untrusted))
cursors = mostly(st.none(), untrusted)


Request = tuple[str, str, str, list[str] | None, str | None, str | None]


def field_lists(endpoint: str) -> st.SearchStrategy[list[str] | None]:
    """Mostly the endpoint's own field names (spaced), sometimes any other text."""
    names = list(ENDPOINTS[endpoint].field_names) if endpoint in ENDPOINTS else FIELD_NAMES
    name = mostly(st.sampled_from(names).map(lambda n: f" {n}"), untrusted)
    return st.one_of(st.none(), st.lists(name, min_size=1, max_size=3))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    request=endpoints.flatmap(
        lambda e: st.tuples(st.just(e), dates, ends, field_lists(e), limits, cursors)
    ),
)
def test_no_request_value_reaches_the_sql(
    recording: RecordingEngine,
    request: tuple[str, str, str, list[str] | None, str | None, str | None],
) -> None:
    # GIVEN a request of arbitrary values from a caller granted everything
    endpoint, start, end, fields, limit, cursor = request
    parameters = {"start": start, "end": end}
    if fields is not None:
        parameters["fields"] = ",".join(fields)
    if limit is not None:
        parameters["limit"] = limit
    if cursor is not None:
        parameters["cursor"] = cursor
    if "/" in endpoint or "?" in endpoint or "#" in endpoint:
        endpoint = endpoint.replace("/", "_").replace("?", "_").replace("#", "_")
    recording.queries.clear()

    # WHEN the handler answers it
    response = handler(query_event(endpoint, parameters, policy_document()), None)

    # THEN it is a typed client error before any SQL, or SQL holding none of the new text
    assert response["statusCode"] in (200, 400, 403, 404), response["body"]
    event(f"status {response['statusCode']}")
    if response["statusCode"] != 200:
        assert recording.queries == []
        return
    assert len(recording.queries) == 1
    sql = recording.queries[0].sql
    for value in (endpoint, start, end, limit, cursor, *(fields or [])):
        if value and value not in VOCABULARY:
            assert value not in sql
