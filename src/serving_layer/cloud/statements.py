"""Runs the operator's SQL statements (DDL, seed DML) in the stack's Athena workgroup, one by one.

This is not the query engine: the API's queries go through `serving_layer.engines`, with bound
parameters. These statements are fixed text built from the data model and the stack's outputs,
run with the operator's credentials; each waits for the previous one to finish, since later
statements depend on what earlier ones created.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")


class StatementFailedError(RuntimeError):
    """Athena refused or failed a statement; the message carries Athena's reason."""


@dataclass
class StatementRunner:
    """Runs statements in `workgroup` with `database` as the default schema."""

    athena: Any
    workgroup: str
    database: str
    catalog: str = "AwsDataCatalog"
    timeout_seconds: float = 900.0
    first_poll_seconds: float = 0.5
    longest_poll_seconds: float = 5.0

    def run(self, sql: str) -> str:
        """Run `sql` to its end and answer its query execution id; raise if it did not succeed."""
        started = self.athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Catalog": self.catalog, "Database": self.database},
            WorkGroup=self.workgroup,
        )
        query_id: str = started["QueryExecutionId"]
        status = self._wait(query_id)

        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason", "no reason given")
            raise StatementFailedError(
                f"{_summary(sql)} {status['State'].lower()} (query {query_id}): {reason}"
            )
        logger.info("statement done: %s (query %s)", _summary(sql), query_id)
        return query_id

    def scalar(self, sql: str) -> str | None:
        """Run a query that answers one value (a count) and return it as text."""
        query_id = self.run(sql)
        rows = self.athena.get_query_results(QueryExecutionId=query_id, MaxResults=2)
        data = rows["ResultSet"]["Rows"]
        # The first row of a SELECT's results holds the column names.
        if len(data) < 2 or not data[1]["Data"]:
            return None
        value: str | None = data[1]["Data"][0].get("VarCharValue")
        return value

    def _wait(self, query_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_seconds
        pause = self.first_poll_seconds
        while True:
            execution = self.athena.get_query_execution(QueryExecutionId=query_id)
            status: dict[str, Any] = execution["QueryExecution"]["Status"]
            if status["State"] in FINISHED:
                return status

            if time.monotonic() > deadline:
                self.athena.stop_query_execution(QueryExecutionId=query_id)
                raise StatementFailedError(
                    f"query {query_id} ran longer than {self.timeout_seconds:.0f} s; stopped it"
                )
            time.sleep(pause)
            pause = min(pause * 2, self.longest_poll_seconds)


def _summary(sql: str) -> str:
    """The statement's first line, short enough for a log line."""
    first = sql.strip().splitlines()[0] if sql.strip() else ""
    return first if len(first) <= 100 else first[:97] + "..."
