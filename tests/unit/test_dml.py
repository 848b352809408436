"""Athena DML for the manage API: exact text, parameters in order, Trino's grammar."""

from __future__ import annotations

from datetime import datetime

import pytest
import trino_query_parser

from serving_layer import dml, model
from serving_layer.compiler import DateRange, Scope, compile_query
from serving_layer.endpoints import ENDPOINTS
from serving_layer.engines.literals import sql_literal
from serving_layer.rows import validate_rows
from serving_layer.timetravel import AsOf

SERVICE = model.TABLES["service"]
CLIENT = model.TABLES["client"]
TRACKCODE = model.TABLES["trackcode"]


def _parses(sql: str) -> None:
    trino_query_parser.parse_statement(sql)


def test_the_grammar_check_can_fail() -> None:
    # GIVEN statements Trino does not accept, THEN the parser raises: the checks below can fail
    for sql in ("MERGE t USING s ON 1", "UPDATE t SET WHERE id = ?", "DELETE t WHERE id = ?"):
        with pytest.raises(trino_query_parser.TrinoSyntaxError):
            _parses(sql)


def test_insert_names_every_column_and_binds_every_value() -> None:
    rows = [{"id": 1, "name": "standard"}, {"id": 2, "name": "it's"}]
    statement = dml.insert(SERVICE, rows)

    assert statement.sql == 'INSERT INTO "service" ("id", "name") VALUES (?, ?), (?, ?)'
    assert statement.params == (1, "standard", 2, "it's")
    _parses(statement.sql)


def test_merge_matches_on_the_key_and_types_the_first_source_row() -> None:
    rows = [{"id": 1, "name": "standard"}, {"id": 2, "name": None}]
    statement = dml.merge(SERVICE, rows)

    assert statement.sql == (
        'MERGE INTO "service" AS t '
        'USING (VALUES (CAST(? AS integer), CAST(? AS varchar)), (?, ?)) AS s ("id", "name") '
        'ON t."id" = s."id" '
        'WHEN MATCHED THEN UPDATE SET "name" = s."name" '
        'WHEN NOT MATCHED THEN INSERT ("id", "name") VALUES (s."id", s."name")'
    )
    assert statement.params == (1, "standard", 2, None)
    _parses(statement.sql)


def test_update_sets_only_the_given_columns() -> None:
    statement = dml.update(TRACKCODE, 1001, {"drop_address": "Calle 1", "product_weight": 2.5})

    assert statement.sql == (
        'UPDATE "trackcode" SET "drop_address" = ?, "product_weight" = ? WHERE "id" = ?'
    )
    assert statement.params == ("Calle 1", 2.5, 1001)
    _parses(statement.sql)


def test_delete_and_select_by_key() -> None:
    delete = dml.delete(TRACKCODE, 7)
    assert delete.sql == 'DELETE FROM "trackcode" WHERE "id" = ?'
    assert delete.params == (7,)

    select = dml.select_by_keys(SERVICE, [3, 4])
    assert select.sql == 'SELECT "id", "name" FROM "service" WHERE "id" IN (?, ?)'
    assert select.params == (3, 4)
    for statement in (delete, select):
        _parses(statement.sql)


def test_arrays_become_array_constructors_of_parameters() -> None:
    rows = validate_rows(CLIENT, [{"id": 1, "service_ids": []}, {"id": 2, "service_ids": [4, 5]}])
    statement = dml.merge(CLIENT, rows)

    # The empty array is cast (it has no element type); the second row's has two elements.
    assert "CAST(ARRAY[] AS array(integer))" in statement.sql
    assert "ARRAY[?, ?]" in statement.sql
    # Row 1: 6 scalars and no element; row 2: 6 scalars and 2 elements.
    assert statement.sql.count("?") == len(statement.params) == 6 + 8
    _parses(statement.sql)

    update = dml.update(CLIENT, 1, {"service_ids": [9]})
    assert update.sql == 'UPDATE "client" SET "service_ids" = ARRAY[?] WHERE "id" = ?'
    assert update.params == (9, 1)


def test_long_text_is_split_so_each_parameter_fits_athena() -> None:
    # GIVEN a description of 1,000 characters, longer than one 1,024-character parameter once
    # quotes are doubled (a quote every other character makes its literal 1,502 long)
    text = "a'" * 500
    statement = dml.update(TRACKCODE, 1, {"product_description": text})

    # THEN it is bound as three pieces joined in SQL, each piece's literal within the limit
    assert statement.sql == (
        'UPDATE "trackcode" SET "product_description" = (? || ? || ?) WHERE "id" = ?'
    )
    pieces = statement.params[:-1]
    assert "".join(pieces) == text
    assert all(len(sql_literal(p)) <= 1024 for p in pieces)
    _parses(statement.sql)


def test_every_batch_statement_of_every_table_parses() -> None:
    # GIVEN one complete row of each table (every column set), THEN each statement parses
    values = {
        model.ColumnType.INT: 1,
        model.ColumnType.BIGINT: 2,
        model.ColumnType.DOUBLE: 1.5,
        model.ColumnType.STRING: "x",
        model.ColumnType.BOOLEAN: True,
        model.ColumnType.TIMESTAMP: datetime(2025, 3, 1),
        model.ColumnType.INT_ARRAY: [1],
    }
    for table in model.TABLES.values():
        row = {c.name: values[c.type] for c in table.columns}
        patch = {c.name: values[c.type] for c in table.columns if c.name != table.primary_key}
        for statement in (
            dml.insert(table, [row, row]),
            dml.merge(table, [row, row]),
            dml.update(table, 1, patch),
            dml.delete(table, 1),
            dml.select_by_keys(table, [1, 2]),
        ):
            _parses(statement.sql)
            assert statement.sql.count("?") == len(statement.params), statement.sql


def test_identifiers_must_come_from_the_data_model() -> None:
    for name in ('id"; DROP TABLE x; --', "a b", "naïve"):
        with pytest.raises(ValueError):
            dml.quoted(name)


def test_time_travel_queries_of_every_endpoint_parse() -> None:
    # GIVEN each endpoint read at a pinned trackcode snapshot (the others at its instant)
    as_of = AsOf(datetime(2025, 3, 1, 12), (("trackcode", 5_000_000_000),))
    for name in ENDPOINTS:
        query = compile_query(
            name, DateRange.parse("2025-03-01", "2025-03-02"), Scope.of([101]), as_of=as_of
        )

        # THEN the text parses as Trino and binds one value per placeholder
        _parses(query.sql)
        assert query.sql.count("?") == len(query.params)
        assert "trackcode FOR VERSION AS OF ? t" in query.sql
        assert query.params[0] == 5_000_000_000
