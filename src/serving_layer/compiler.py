"""Compile an endpoint, a date range, a scope and a field list into one parameterized query.

The compiler is where "no SQL text from user input" is enforced: identifiers and expressions come
only from the endpoint specs, and every request value (range bounds, client ids, paging) is a
`?` placeholder with its value in `params`. The text is the same for DuckDB and Athena (Trino);
each engine only binds the parameters its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from serving_layer.endpoints import EndpointSpec, Field, Shape, endpoint
from serving_layer.errors import InvalidRangeError, InvalidScopeError, UnknownFieldError

if TYPE_CHECKING:
    from serving_layer.timetravel import AsOf


@dataclass(frozen=True)
class DateRange:
    """A half-open UTC range: a trackcode is in it when `start <= creation < end`."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidRangeError(
                f"`end` must be after `start`; got start={self.start.isoformat()}, "
                f"end={self.end.isoformat()}",
                start=self.start.isoformat(),
                end=self.end.isoformat(),
            )

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @classmethod
    def parse(cls, start: str, end: str) -> DateRange:
        return cls(parse_instant("start", start), parse_instant("end", end))


def parse_instant(name: str, text: str) -> datetime:
    """An ISO 8601 date or date-time as a naive UTC datetime (the lake's timestamps are UTC).

    A date means its midnight; a date-time without offset is UTC; one with an offset is converted.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time())
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRangeError(
            f"`{name}` must be an ISO 8601 date or date-time in UTC, such as 2025-03-01 or "
            f"2025-03-01T08:30:00Z; got {text!r}",
            parameter=name,
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@dataclass(frozen=True)
class Scope:
    """The client ids whose trackcodes a caller may see, or all of them (`client_ids is None`)."""

    client_ids: frozenset[int] | None

    @classmethod
    def all(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, client_ids: Iterable[int]) -> Scope:
        ids = frozenset(client_ids)
        if not ids:
            raise InvalidScopeError(
                "the scope names no client id; give at least one client id, or 'all'"
            )
        for client_id in ids:
            if isinstance(client_id, bool) or not isinstance(client_id, int):
                raise InvalidScopeError(f"client ids are integers; got {client_id!r}")
        return cls(ids)

    @property
    def is_all(self) -> bool:
        return self.client_ids is None

    def allows(self, client_id: int | None) -> bool:
        return self.client_ids is None or client_id in self.client_ids


@dataclass(frozen=True)
class CompiledQuery:
    """One query ready for an engine: SQL with `?` placeholders, their values, its columns."""

    endpoint: str
    sql: str
    params: tuple[Any, ...]
    columns: tuple[Field, ...]
    # Set when the query reads an earlier version of the lake (`timetravel.py`): its table
    # references then carry Trino's FOR VERSION/TIMESTAMP AS OF, which DuckDB rewrites.
    as_of: AsOf | None = None

    def page(self, offset: int, limit: int) -> CompiledQuery:
        """The same query cut to `limit` rows after the first `offset` (Trino's clause order)."""
        sql, params = self.sql, list(self.params)
        if offset:
            sql += " OFFSET ?"
            params.append(_count("offset", offset))
        sql += " LIMIT ?"
        params.append(_count("limit", limit))
        return CompiledQuery(self.endpoint, sql, tuple(params), self.columns, self.as_of)


def compile_query(
    spec: EndpointSpec | str,
    date_range: DateRange,
    scope: Scope,
    fields: Sequence[str] | None = None,
    *,
    limit: int | None = None,
    offset: int | None = None,
    as_of: AsOf | None = None,
) -> CompiledQuery:
    """The query of `spec` for the range, scope and fields (all fields when `fields` is None).

    `limit` and `offset` page the rows; they apply to every shape but only matter for many rows.
    `as_of` reads the tables as they were at that point of their history.
    """
    if isinstance(spec, str):
        spec = endpoint(spec)
    columns = _select_fields(spec, fields)

    source: str = spec.source
    params: list[Any] = []
    if as_of is not None:
        from serving_layer.timetravel import pin_source

        # The clauses sit in FROM, before every other placeholder: their values come first.
        source, params = pin_source(spec.source, as_of)

    select = ", ".join(f'{f.sql} AS "{f.name}"' for f in columns)
    conditions = ["t.creation >= ?", "t.creation < ?"]
    params += [date_range.start, date_range.end]
    if scope.client_ids is not None:
        ids = sorted(scope.client_ids)
        conditions.append(f"t.client_id IN ({', '.join('?' for _ in ids)})")
        params.extend(ids)
    conditions.extend(spec.where)

    # Every piece of this text comes from the endpoint spec; values are placeholders.
    sql = f"SELECT {select} FROM {source} WHERE {' AND '.join(conditions)}"  # noqa: S608
    if spec.group_by:
        sql += f" GROUP BY {', '.join(spec.group_by)}"
    if spec.order_by:
        sql += f" ORDER BY {', '.join(_nulls_last(term) for term in spec.order_by)}"

    query = CompiledQuery(spec.name, sql, tuple(params), columns, as_of)
    if limit is None:
        return query
    return query.page(offset or 0, limit)


def _select_fields(spec: EndpointSpec, fields: Sequence[str] | None) -> tuple[Field, ...]:
    if fields is None:
        return spec.fields
    if not fields:
        raise UnknownFieldError(
            f"no field requested; ask for one or more of: {', '.join(spec.field_names)}"
        )
    chosen = {spec.field(name).name for name in fields}
    # Answer in the spec's column order, whatever order they were asked in.
    return tuple(f for f in spec.fields if f.name in chosen)


def _nulls_last(term: str) -> str:
    # DuckDB and Trino both default to NULLS LAST, but saying it keeps the engines equal by text.
    return f"{term} NULLS LAST"


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRangeError(f"`{name}` must be a whole number of 0 or more; got {value!r}")
    return value


__all__ = ["CompiledQuery", "DateRange", "Scope", "Shape", "compile_query", "parse_instant"]
