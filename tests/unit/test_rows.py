"""Rows checked against the data model: every problem of every row, named by row and column."""

from __future__ import annotations

from datetime import datetime

import pytest

from serving_layer import model, rows
from serving_layer.errors import BadRequestError, PayloadTooLargeError, ValidationFailedError

TRACKCODE = model.TABLES["trackcode"]
CLIENT = model.TABLES["client"]
SERVICE = model.TABLES["service"]


def _trackcode(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {"id": 1, "creation": "2025-03-01T08:30:00Z", "client_id": 101}
    row.update(changes)
    return row


def _problems(error: pytest.ExceptionInfo[ValidationFailedError]) -> set[tuple[int, str]]:
    return {(e["row"], e["column"]) for e in error.value.extensions["errors"]}


def test_a_minimal_row_is_completed_with_nulls_and_typed() -> None:
    # GIVEN a trackcode with only its required columns
    # WHEN it is validated
    [row] = rows.validate_rows(TRACKCODE, [_trackcode()])

    # THEN the timestamp is a naive UTC datetime and every other column is null
    assert row["creation"] == datetime(2025, 3, 1, 8, 30)
    assert row["client_id"] == 101
    assert row["drop_address"] is None and row["product_price"] is None
    assert list(row) == list(TRACKCODE.column_names)


def test_every_offending_row_and_column_is_named_at_once() -> None:
    # GIVEN a batch of 10 where rows 3 and 7 are wrong in several ways and row 9 repeats a key
    batch = [_trackcode(id=i) for i in range(10)]
    batch[3] = _trackcode(id=3, creation="yesterday", client_id="101")
    batch[7] = {"id": 7, "colour": "red", "product_price": True}  # creation, client_id missing
    batch[9] = _trackcode(id=2)

    # WHEN it is validated
    with pytest.raises(ValidationFailedError) as error:
        rows.validate_rows(TRACKCODE, batch)

    # THEN one 400 lists each problem by row index and column, hand-listed here
    assert error.value.status == 400
    assert _problems(error) == {
        (3, "creation"),
        (3, "client_id"),
        (7, "colour"),
        (7, "product_price"),
        (7, "creation"),
        (7, "client_id"),
        (9, "id"),
    }
    assert "rows 3, 7, 9" in error.value.detail
    assert "nothing was written" in error.value.detail


@pytest.mark.parametrize(
    ("column", "value", "fits"),
    [
        ("client_id", 2**31 - 1, True),
        ("client_id", 2**31, False),  # int is 32-bit
        ("client_id", -(2**31), True),
        ("id", 2**63 - 1, True),
        ("id", 2**63, False),  # bigint is 64-bit
        ("client_id", 5.0, False),  # a whole number must be written as one
        ("client_id", True, False),  # true is not a number
        ("product_price", 3, True),  # a double takes whole numbers
        ("product_price", float("inf"), False),
        ("crossdocking", 1, False),
        ("crossdocking", False, True),
        ("drop_address", 12, False),
        ("drop_address", "a\x00b", False),
        ("creation", "2025-03-01", False),  # a date alone has no time
        ("creation", "2025-03-01T10:00:00-05:00", True),
        ("creation", 1740000000, False),
    ],
)
def test_values_must_fit_their_column_type(column: str, value: object, fits: bool) -> None:
    # GIVEN a trackcode whose `column` holds `value`
    batch = [_trackcode(**{column: value})]

    # WHEN validated, THEN it passes exactly when the value fits the type
    if fits:
        rows.validate_rows(TRACKCODE, batch)
    else:
        with pytest.raises(ValidationFailedError) as error:
            rows.validate_rows(TRACKCODE, batch)
        assert _problems(error) == {(0, column)}


def test_an_offset_is_converted_to_utc() -> None:
    # GIVEN 10:00 at UTC-5, which is 15:00 UTC
    [row] = rows.validate_rows(TRACKCODE, [_trackcode(creation="2025-03-01T10:00:00-05:00")])

    # THEN the stored instant is 15:00 UTC
    assert row["creation"] == datetime(2025, 3, 1, 15, 0)


def test_int_arrays_take_whole_numbers_and_nulls() -> None:
    [ok] = rows.validate_rows(CLIENT, [{"id": 1, "service_ids": [1, None, 3]}])
    assert ok["service_ids"] == [1, None, 3]

    with pytest.raises(ValidationFailedError) as error:
        rows.validate_rows(CLIENT, [{"id": 1, "service_ids": [1, "2"]}])
    assert _problems(error) == {(0, "service_ids")}
    assert "element 1" in error.value.extensions["errors"][0]["detail"]


def test_a_row_that_is_not_an_object_is_named() -> None:
    with pytest.raises(ValidationFailedError) as error:
        rows.validate_rows(SERVICE, [{"id": 1, "name": "a"}, ["id", 2]])
    assert error.value.extensions["errors"] == [
        {"row": 1, "column": None, "detail": "a row must be a JSON object of column values"}
    ]


def test_batch_shape_and_size() -> None:
    # GIVEN bodies of the wrong shape, THEN each is a 400 that says what to send
    for body in ([], {"rows": []}, {"rows": {}}, {"rows": [{}], "extra": 1}, "rows"):
        with pytest.raises(BadRequestError):
            rows.batch_rows(body)

    # GIVEN a batch one row over the limit, THEN it is a 413 naming the limit
    with pytest.raises(PayloadTooLargeError) as error:
        rows.batch_rows({"rows": [{}] * 4}, limit=3)
    assert error.value.status == 413
    assert error.value.extensions == {"rows": 4, "max_rows": 3}
    assert rows.batch_rows({"rows": [{}] * 3}, limit=3) == [{}] * 3


def test_a_patch_is_typed_and_cannot_change_the_key() -> None:
    assert rows.validate_patch(TRACKCODE, 5, {"product_weight": 2}) == {"product_weight": 2.0}
    assert rows.validate_patch(TRACKCODE, 5, {"id": 5, "drop_address": None}) == {
        "id": 5,
        "drop_address": None,
    }

    with pytest.raises(ValidationFailedError) as error:
        rows.validate_patch(TRACKCODE, 5, {"id": 6, "client_id": None, "nope": 1})
    assert _problems(error) == {(0, "id"), (0, "client_id"), (0, "nope")}

    with pytest.raises(BadRequestError):
        rows.validate_patch(TRACKCODE, 5, {})


@pytest.mark.parametrize("text", ["12a", "", " 1", "+1", "1.0", "٣", "9" * 25])
def test_a_path_key_must_be_a_whole_number(text: str) -> None:
    with pytest.raises(BadRequestError):
        rows.parse_key(TRACKCODE, text)


def test_path_keys_are_checked_against_the_key_type() -> None:
    assert rows.parse_key(TRACKCODE, "9007199254740993") == 9007199254740993
    assert rows.parse_key(SERVICE, "-4") == -4
    with pytest.raises(BadRequestError):
        rows.parse_key(SERVICE, str(2**31))  # service ids are int


def test_the_secret_column_is_never_served() -> None:
    stored = {"id": 1, "commercial_name": "A", "enterprise_key": "ek-secret"}
    served = rows.to_json(CLIENT, stored)
    assert "enterprise_key" not in served
    assert served["commercial_name"] == "A"


def test_problems_past_the_listing_limit_are_counted() -> None:
    # GIVEN more problems than one answer lists
    batch = [{"id": "x", "name": 1}] * 600  # 2 problems per row, 1,200 in all

    with pytest.raises(ValidationFailedError) as error:
        rows.validate_rows(SERVICE, batch)

    # THEN the first 1,000 are listed and the detail counts the rest
    assert len(error.value.extensions["errors"]) == 1000
    assert "200 more are not" in error.value.detail
