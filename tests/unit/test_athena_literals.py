"""Values bound to Athena queries as Trino literals: exact forms, Trino's grammar, no injection.

Each rendered literal is parsed as `SELECT <literal>` by Trino's own grammar (the
`trino-query-parser` package, generated from Trino's `SqlBase.g4`), then decoded back by a small
decoder written here from the grammar, independent of the code under test.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import trino_query_parser
from antlr4 import CommonTokenStream, InputStream
from antlr4.tree.Tree import TerminalNode
from hypothesis import example, given, settings
from hypothesis import strategies as st
from trino_query_parser.error import TrinoErrorListener
from trino_query_parser.SqlBaseLexer import SqlBaseLexer
from trino_query_parser.SqlBaseParser import SqlBaseParser

from serving_layer.engines.literals import MAX_PARAMETER_CHARS, sql_literal
from serving_layer.errors import ValidationFailedError

# Characters that matter to a literal: quotes, escapes, comment and statement marks, line
# breaks, controls, bidirectional overrides, characters outside the BMP.
_TRICKY = "'\"\\;-/*?\n\r\t\x0b\x1b\x7f\x85\u00ad\u2028\u2029\u202e\ufeff😀\U000e0001"
# The parser builds its tables on first use and the machine is shared: time is no property here.
no_deadline = settings(deadline=None)
texts = st.text(
    alphabet=st.sampled_from(_TRICKY)
    | st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
    max_size=100,
)


class _CaseInsensitiveStream(InputStream):
    """Trino reads keywords in any case but keeps a literal's text as written.

    `trino_query_parser.parse_statement` upper-cases the whole statement to the same end, which
    would change a string literal's contents; this stream upper-cases only what the lexer
    looks at, as Trino's own `CaseInsensitiveStream` does.
    """

    def LA(self, offset: int) -> int:
        char = super().LA(offset)
        return char - 32 if ord("a") <= char <= ord("z") else char


def select_item(sql: str) -> SqlBaseParser.PrimaryExpressionContext:
    """The one item of `SELECT <item>`, parsed by Trino's grammar; fails on any other shape."""
    lexer = SqlBaseLexer(_CaseInsensitiveStream(sql))
    lexer.removeErrorListeners()
    lexer.addErrorListener(TrinoErrorListener())
    parser = SqlBaseParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(TrinoErrorListener())
    tree = parser.singleStatement()

    specification = tree
    while not isinstance(specification, SqlBaseParser.QuerySpecificationContext):
        assert specification.getChildCount() in (1, 2), "not a lone query"
        specification = specification.getChild(0)
    # SELECT and exactly one select item: no second item, FROM, WHERE or alias.
    assert specification.getChildCount() == 2
    item = specification.getChild(1)
    assert isinstance(item, SqlBaseParser.SelectSingleContext)
    assert item.getChildCount() == 1

    node = item.getChild(0)
    while not isinstance(node, SqlBaseParser.PrimaryExpressionContext):
        assert node.getChildCount() == 1, "not a lone primary expression"
        node = node.getChild(0)
    return node


def string_token(node: SqlBaseParser.PrimaryExpressionContext) -> str:
    """The text of the one string token under a string literal (or a typed literal's string)."""
    string = node.string() if not isinstance(node, SqlBaseParser.StringLiteralContext) else node
    if isinstance(string, SqlBaseParser.StringLiteralContext):
        string = string.getChild(0)
    assert isinstance(
        string, SqlBaseParser.BasicStringLiteralContext | SqlBaseParser.UnicodeStringLiteralContext
    )
    assert string.getChildCount() == 1  # no UESCAPE clause
    token = string.getChild(0)
    assert isinstance(token, TerminalNode)
    return str(token.getText())


def decode_string(token: str) -> str:
    """A Trino string literal's value: quotes undoubled, then `U&` escapes decoded."""
    if token.startswith("U&'"):
        body = token[3:-1].replace("''", "'")
        chars, index = [], 0
        while index < len(body):
            if body[index] != "\\":
                chars.append(body[index])
                index += 1
            elif body[index + 1] == "\\":
                chars.append("\\")
                index += 2
            elif body[index + 1] == "+":
                chars.append(chr(int(body[index + 2 : index + 8], 16)))
                index += 8
            else:
                chars.append(chr(int(body[index + 1 : index + 5], 16)))
                index += 5
        return "".join(chars)
    assert token.startswith("'") and token.endswith("'")
    return token[1:-1].replace("''", "'")


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("it's", "'it''s'"),
        ("a\\b", "'a\\b'"),
        ("", "''"),
        ("Bogotá 😀", "'Bogotá 😀'"),
        ("line\nbreak", "U&'line\\000Abreak'"),
        ("tab\t\\'", "U&'tab\\0009\\\\'''"),
        ("\u202eevil", "U&'\\202Eevil'"),
        ("\U000e0001", "U&'\\+0E0001'"),
        (None, "NULL"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-17, "-17"),
        (2**63 - 1, "9223372036854775807"),
        (-(2**63), "-9223372036854775808"),
        (1.5, "1.5E0"),
        (-0.25, "-0.25E0"),
        (1e16, "1E16"),
        (5e-324, "5E-324"),
        (Decimal("12.30"), "DECIMAL '12.30'"),
        (Decimal("1E+3"), "DECIMAL '1000'"),
        (date(2025, 3, 1), "DATE '2025-03-01'"),
        (datetime(2025, 3, 1, 8, 30), "TIMESTAMP '2025-03-01 08:30:00.000000'"),
        (datetime(2025, 3, 1, 8, 30, 0, 123), "TIMESTAMP '2025-03-01 08:30:00.000123'"),
        (
            datetime(2025, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=2))),
            "TIMESTAMP '2025-03-01 08:30:00.000000'",
        ),
        (datetime(2025, 3, 1, 8, 30, tzinfo=UTC), "TIMESTAMP '2025-03-01 08:30:00.000000'"),
    ],
)
def test_each_value_renders_as_its_hand_written_literal(value: object, literal: str) -> None:
    # GIVEN a value  WHEN it is rendered  THEN it is the literal written by hand
    assert sql_literal(value) == literal


@no_deadline
@given(texts)
@example("'; DROP TABLE trackcode; --")
@example("' OR '1'='1")
@example("\\'; SELECT 1; --")
@example("x' UNION SELECT enterprise_key FROM client --")
@example("*/ SELECT 1 /*")
@example("U&'\\0027")
def test_any_text_is_one_string_literal_that_decodes_back(text: str) -> None:
    # GIVEN any text without NUL  WHEN rendered and parsed as `SELECT <literal>`
    literal = sql_literal(text)
    item = select_item(f"SELECT {literal}")

    # THEN the only select item is one string token, the whole literal, holding the text
    assert isinstance(item, SqlBaseParser.StringLiteralContext)
    token = string_token(item)
    assert token == literal
    assert decode_string(token) == text

    # AND the package's own entry point reads the same single token
    assert trino_query_parser.parse_statement(f"SELECT {literal}") == [
        ["SELECT", literal.upper()],
        "<EOF>",
    ]


@no_deadline
@given(texts)
def test_a_rendered_text_holds_no_raw_control_or_line_break(text: str) -> None:
    # GIVEN any text  WHEN rendered  THEN controls, format marks and line breaks are escaped
    literal = sql_literal(text)
    raw = [char for char in literal if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")]
    assert raw == []


@no_deadline
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_bigint_is_one_integer_literal(value: int) -> None:
    item = select_item(f"SELECT {sql_literal(value)}")
    assert isinstance(item, SqlBaseParser.NumericLiteralContext)
    assert isinstance(item.number(), SqlBaseParser.IntegerLiteralContext)
    assert int(item.getText()) == value


@no_deadline
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_is_one_double_literal_that_reads_back(value: float) -> None:
    item = select_item(f"SELECT {sql_literal(value)}")
    assert isinstance(item, SqlBaseParser.NumericLiteralContext)
    assert isinstance(item.number(), SqlBaseParser.DoubleLiteralContext)
    read = float(item.getText())
    assert read == value
    assert math.copysign(1, read) == math.copysign(1, value)


@no_deadline
@given(
    st.integers(0, 12).flatmap(
        lambda places: st.decimals(min_value=-(10**20), max_value=10**20, places=places)
    )
)
def test_any_decimal_is_one_typed_decimal_literal(value: Decimal) -> None:
    item = select_item(f"SELECT {sql_literal(value)}")
    assert isinstance(item, SqlBaseParser.TypeConstructorContext)
    assert item.identifier().getText().upper() == "DECIMAL"
    assert Decimal(decode_string(string_token(item))) == value


@no_deadline
@given(st.datetimes())
def test_any_datetime_is_one_timestamp_literal_that_reads_back(value: datetime) -> None:
    item = select_item(f"SELECT {sql_literal(value)}")
    assert isinstance(item, SqlBaseParser.TypeConstructorContext)
    assert item.identifier().getText().upper() == "TIMESTAMP"
    assert datetime.fromisoformat(decode_string(string_token(item))) == value


@no_deadline
@given(st.dates())
def test_any_date_is_one_date_literal_that_reads_back(value: date) -> None:
    item = select_item(f"SELECT {sql_literal(value)}")
    assert isinstance(item, SqlBaseParser.TypeConstructorContext)
    assert item.identifier().getText().upper() == "DATE"
    assert date.fromisoformat(decode_string(string_token(item))) == value


@pytest.mark.parametrize(
    ("value", "literal_class"),
    [
        (None, SqlBaseParser.NullLiteralContext),
        (True, SqlBaseParser.BooleanLiteralContext),
        (False, SqlBaseParser.BooleanLiteralContext),
    ],
)
def test_null_and_booleans_are_keyword_literals(value: object, literal_class: type) -> None:
    assert isinstance(select_item(f"SELECT {sql_literal(value)}"), literal_class)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("a\x00b", "NUL"),
        ("a\ud800b", "surrogate"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (float("-inf"), "finite"),
        (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"),
        (Decimal("1" * 39), "38 digits"),
        (Decimal("1E+38"), "38 digits"),
        (2**63, "64 bits"),
        (-(2**63) - 1, "64 bits"),
        ("x" * (MAX_PARAMETER_CHARS - 1), "at most 1024"),
        ("\n" * 250, "at most 1024"),
    ],
)
def test_values_no_literal_can_carry_are_client_errors(value: object, says: str) -> None:
    # GIVEN a value Trino or Athena cannot take  WHEN rendered  THEN a 400 says what is wrong
    with pytest.raises(ValidationFailedError) as raised:
        sql_literal(value)
    assert raised.value.status == 400
    assert says in raised.value.detail


def test_the_longest_text_that_fits_is_accepted() -> None:
    # GIVEN text whose literal is exactly 1024 characters (1022 plus two quotes)
    assert len(sql_literal("x" * (MAX_PARAMETER_CHARS - 2))) == MAX_PARAMETER_CHARS


def test_a_value_of_no_sql_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="bytes"):
        sql_literal(b"raw")
