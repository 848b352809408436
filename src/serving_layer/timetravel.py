"""Reading the lake as it was: the query API's `as_of`, on Athena and on DuckDB.

`as_of` is either an ISO 8601 instant (UTC) or a snapshot id, as the manage API answers after
a write and lists at `GET /v1/tables/{table}/snapshots`:

- an instant reads every table of the query as it was then: the snapshot current at that time;
- a snapshot id belongs to one table (Iceberg snapshot ids are per table): that table is read
  at exactly that snapshot, and every other table as it was when the snapshot was committed.

Trino (Athena engine v3) names the version after each table reference of the FROM clause
(Trino "Time travel queries" in the Iceberg connector documentation):

    trackcode FOR VERSION AS OF ? t
    service FOR TIMESTAMP AS OF CAST(? AS timestamp(6) with time zone) s

The endpoint specs' `source` text is fixed, so the clause goes in by a controlled rewrite:
every table reference in a source is `<table> <alias>` at the start or right after `JOIN `,
with `<table>` a table of the data model; `pin_source` inserts the clause there and refuses a
source of any other shape (a test runs it over every endpoint). The values stay parameters.
Athena sessions run in UTC, so the cast reads the naive UTC instant as UTC.

DuckDB has no such clause; its engine replaces each pinned reference with `iceberg_scan` of
the table's current metadata file at `snapshot_from_id` or `snapshot_from_timestamp`
(`duckdb_sources`), keeping every parameter in its place.

NOTE: three edges are not smoothed over. An instant before a table's first snapshot reads that
table as empty on DuckDB, while Trino refuses the query (a 502). A commit that adds several
snapshots (an upsert's overwrite, then its append) has intermediate snapshots an instant can
fall between, showing half of that commit; the snapshots route marks each with the commit's
last snapshot, which is the one to use. And the timestamp cast is checked against Trino's
grammar only, not against a live Athena (no AWS account here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serving_layer import model
from serving_layer.errors import BadRequestError
from serving_layer.history import GlueHistory, HistorySource, LocalHistory

VERSION_CLAUSE = "FOR VERSION AS OF ?"
TIMESTAMP_CLAUSE = "FOR TIMESTAMP AS OF CAST(? AS timestamp(6) with time zone)"

_TABLES = "|".join(sorted(model.TABLES, key=len, reverse=True))
# A table reference of an endpoint source: at the start, or after `JOIN `.
_REFERENCE = re.compile(rf"(?:^|(?<=JOIN ))(?P<table>{_TABLES}) (?P<alias>[a-z]+)\b")
# Any `<table> <alias>` at all: a source where this finds more than `_REFERENCE` has a table
# reference of another shape (a comma join, a subquery), which the rewrite would miss.
_ANY_REFERENCE = re.compile(rf"\b(?:{_TABLES}) [a-z]+\b")
_PINNED = re.compile(
    rf"\b(?P<table>{_TABLES}) (?P<clause>{re.escape(VERSION_CLAUSE)}|{re.escape(TIMESTAMP_CLAUSE)})"
)
_SNAPSHOT_ID = re.compile(r"-?[0-9]{1,20}")


class InvalidAsOfError(BadRequestError):
    slug = "invalid-as-of"
    title = "Invalid as_of"


@dataclass(frozen=True)
class AsOf:
    """A point in the lake's history: an instant, and tables pinned to an exact snapshot."""

    instant: datetime  # naive UTC
    pinned: tuple[tuple[str, int], ...] = ()

    def clause(self, table: str) -> tuple[str, Any]:
        """The time-travel clause for a reference to `table`, and its parameter."""
        for name, snapshot_id in self.pinned:
            if name == table:
                return VERSION_CLAUSE, snapshot_id
        return TIMESTAMP_CLAUSE, self.instant

    def describe(self) -> dict[str, Any]:
        """What the answer says about the version it read."""
        return {
            "instant": self.instant.isoformat() + "Z",
            "snapshots": {name: str(snapshot_id) for name, snapshot_id in self.pinned},
        }


def parse(text: str) -> int | datetime:
    """A snapshot id (digits) or an instant (ISO 8601; no offset means UTC)."""
    value = text.strip()
    if _SNAPSHOT_ID.fullmatch(value):
        return int(value)
    from serving_layer.compiler import parse_instant

    try:
        return parse_instant("as_of", value)
    except BadRequestError:
        raise InvalidAsOfError(
            "`as_of` must be a snapshot id (digits, as a write answers) or an ISO 8601 instant "
            f"in UTC such as 2025-03-01T08:30:00Z; got {text[:60]!r}"
        ) from None


def resolve(text: str, history: HistorySource, tables: Iterable[str]) -> AsOf:
    """The `AsOf` that `text` names, looking a snapshot id up among `tables`."""
    value = parse(text)
    if isinstance(value, datetime):
        return AsOf(value)

    names = list(tables)
    snapshot = history.find_snapshot(value, names)
    if snapshot is None:
        raise InvalidAsOfError(
            f"no table of this query ({', '.join(names)}) has a snapshot {value}; list a "
            "table's snapshots at GET /v1/tables/{table}/snapshots, or give an instant",
            as_of=str(value),
        )
    return AsOf(snapshot.committed_at, ((snapshot.table, snapshot.snapshot_id),))


def tables_in(source: str) -> list[str]:
    """The tables an endpoint source reads, in order."""
    return [match["table"] for match in _REFERENCE.finditer(source)]


def pin_source(source: str, as_of: AsOf) -> tuple[str, list[Any]]:
    """`source` with a time-travel clause after each table, and the clauses' parameters."""
    expected = source.count(" JOIN ") + 1
    anchored = len(_REFERENCE.findall(source))
    anywhere = len(_ANY_REFERENCE.findall(source))
    if not anchored == anywhere == expected:
        raise ValueError(f"an endpoint source of an unexpected shape: {source!r}")

    params: list[Any] = []

    def pinned(match: re.Match[str]) -> str:
        clause, param = as_of.clause(match["table"])
        params.append(param)
        return f"{match['table']} {clause} {match['alias']}"

    return _REFERENCE.sub(pinned, source), params


def duckdb_sources(sql: str, locations: Mapping[str, str]) -> str:
    """`sql` with each pinned table reference read by DuckDB's `iceberg_scan` at that version."""

    def scan(match: re.Match[str]) -> str:
        # The location comes from our own catalog, never from a request.
        location = locations[match["table"]].replace("'", "''")
        if match["clause"] == VERSION_CLAUSE:
            return f"iceberg_scan('{location}', snapshot_from_id => ?)"
        return f"iceberg_scan('{location}', snapshot_from_timestamp => CAST(? AS TIMESTAMP))"

    return _PINNED.sub(scan, sql)


def history_for(engine: Any) -> HistorySource:
    """Where the snapshots of the tables an engine reads are listed."""
    if getattr(engine, "name", None) == "duckdb":
        return LocalHistory(engine.warehouse, engine.namespace)
    return GlueHistory()
