"""Athena's text values typed by column type: hand-written texts and the values they mean."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from serving_layer.engines.athena_values import base_type, value_reader


@pytest.mark.parametrize(
    ("athena_type", "declared", "text", "value"),
    [
        ("varchar", "varchar", "Calle 8 # 12-3, Bogotá", "Calle 8 # 12-3, Bogotá"),
        ("char", "char(3)", "COP", "COP"),
        ("tinyint", "tinyint", "-7", -7),
        ("smallint", "smallint", "300", 300),
        ("integer", "integer", "42", 42),
        ("bigint", "bigint", "9223372036854775807", 2**63 - 1),
        ("double", "double", "12.5", 12.5),
        ("double", "double", "1.0E10", 1e10),
        ("double", "double", "NaN", "nan"),
        ("double", "double", "-Infinity", float("-inf")),
        ("real", "real", "0.25", 0.25),
        ("float", "float", "3.0", 3.0),
        ("decimal", "decimal(10,2)", "12.30", Decimal("12.30")),
        ("boolean", "boolean", "true", True),
        ("boolean", "boolean", "false", False),
        ("date", "date", "2025-01-02", date(2025, 1, 2)),
        (
            "timestamp",
            "timestamp",
            "2025-01-02 03:04:05.123000",
            datetime(2025, 1, 2, 3, 4, 5, 123000),
        ),
        (
            "timestamp",
            "timestamp",
            "2025-01-02 03:04:05.123",
            datetime(2025, 1, 2, 3, 4, 5, 123000),
        ),
        ("timestamp", "timestamp", "2025-01-02 03:04:05", datetime(2025, 1, 2, 3, 4, 5)),
        (
            "timestamp",
            "timestamp(9)",
            "2025-01-02 03:04:05.123456789",
            datetime(2025, 1, 2, 3, 4, 5, 123456),
        ),
        (
            "timestamp with time zone",
            "timestamp with time zone",
            "2025-01-02 03:04:05.000 UTC",
            datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
        (
            "timestamp(3) with time zone",
            "",
            "2025-01-02 03:04:05.000 -05:00",
            datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
        ),
        (
            "timestamp with time zone",
            "",
            "2025-07-02 03:04:05.000 America/Bogota",
            datetime(2025, 7, 2, 3, 4, 5, tzinfo=ZoneInfo("America/Bogota")),
        ),
        ("array", "array(integer)", "[1, 2, 3]", [1, 2, 3]),
        ("array", "array(integer)", "[]", []),
        ("array", "array(integer)", "[4, null]", [4, None]),
        ("array", "array(bigint)", "[-1]", [-1]),
        ("array", "array(array(integer))", "[[1, 2], [], [3]]", [[1, 2], [], [3]]),
        ("array", "array(date)", "[2025-01-02]", [date(2025, 1, 2)]),
        ("array", "", "[a, b]", ["a", "b"]),
        ("row", "row(a integer)", "{a=1}", "{a=1}"),
        ("json", "json", '{"a": 1}', '{"a": 1}'),
    ],
)
def test_each_type_reads_its_text(
    athena_type: str, declared: str, text: str, value: object
) -> None:
    # GIVEN a column type and Athena's text of a value  WHEN read  THEN it is the Python value
    read = value_reader(athena_type, declared)(text)
    if value == "nan":
        assert read != read
        return
    assert read == value
    assert type(read) is type(value)


@pytest.mark.parametrize(
    ("athena_type", "text"),
    [
        ("integer", "4.5"),
        ("boolean", "yes"),
        ("date", "02/01/2025"),
        ("timestamp", "2025-01-02T03"),
        ("timestamp with time zone", "2025-01-02 03:04:05 Mars/Olympus"),
        ("decimal", "twelve"),
        ("array", "1, 2"),
    ],
)
def test_text_of_another_form_is_refused(athena_type: str, text: str) -> None:
    # GIVEN text that is not of the column's type  WHEN read  THEN ValueError (the engine's 502)
    with pytest.raises(ValueError):
        value_reader(athena_type, "array(integer)" if athena_type == "array" else "")(text)


@pytest.mark.parametrize(
    ("type_name", "base"),
    [
        ("decimal(10,2)", "decimal"),
        ("VARCHAR(20)", "varchar"),
        ("timestamp(3) with time zone", "timestamp with time zone"),
        ("array(array(integer))", "array"),
    ],
)
def test_type_parameters_do_not_change_the_base_type(type_name: str, base: str) -> None:
    assert base_type(type_name) == base
