"""The operator's statement runner: waits for each statement and reports Athena's reason.

Athena is moto's, over real HTTP (tests/athena_emulator.py): it records each statement and
moves it through QUEUED → RUNNING → SUCCEEDED, but executes no SQL and never fails one, so the
failure test stands in a two-method client that answers FAILED, as Athena does for bad SQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from athena_emulator import AthenaEmulator
from serving_layer.cloud.statements import StatementFailedError, StatementRunner


def runner_on(emulator: AthenaEmulator, **settings: Any) -> StatementRunner:
    settings.setdefault("first_poll_seconds", 0.01)
    return StatementRunner(emulator.client, emulator.workgroup, "serving_lake_dev", **settings)


def test_a_statement_runs_in_the_workgroup_and_database_after_polling(moto_server: str) -> None:
    # GIVEN Athena that takes three status checks per state change
    emulator = AthenaEmulator(moto_server)
    runner = runner_on(emulator)

    # WHEN a statement runs
    with emulator.executions_take_polls(3):
        query_id = runner.run('DELETE FROM "serving_lake_dev"."service"')

    # THEN it was started in the stack's workgroup with the lake as its database, and the
    # runner returned only once it had succeeded
    (execution,) = emulator.executions()
    assert execution["QueryExecutionId"] == query_id
    assert execution["Query"] == 'DELETE FROM "serving_lake_dev"."service"'
    assert execution["WorkGroup"] == emulator.workgroup
    assert execution["QueryExecutionContext"] == {
        "Catalog": "AwsDataCatalog",
        "Database": "serving_lake_dev",
    }
    assert execution["Status"]["State"] == "SUCCEEDED"


def test_a_scalar_query_answers_the_first_value_after_the_header(moto_server: str) -> None:
    emulator = AthenaEmulator(moto_server)
    emulator.queue([("_col0", "bigint")], [[11]])

    assert runner_on(emulator).scalar("SELECT count(*) FROM trackcode") == "11"


def test_a_statement_past_its_deadline_is_stopped(moto_server: str) -> None:
    # GIVEN a statement that stays queued far longer than the runner waits
    emulator = AthenaEmulator(moto_server)
    runner = runner_on(emulator, timeout_seconds=0.05)

    # WHEN it runs, THEN the runner gives up, says so, and stops the query in Athena
    with emulator.executions_take_polls(10_000), pytest.raises(StatementFailedError) as failed:
        runner.run("SELECT 1")

    assert "ran longer than 0 s; stopped it" in str(failed.value)
    (execution,) = emulator.executions()
    assert execution["Status"]["State"] == "CANCELLED"


class FailingAthena:
    """Answers every statement as Athena answers a statement it rejects."""

    def start_query_execution(self, **_: Any) -> dict[str, str]:
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        reason = "line 1:8: mismatched input 'TABEL'"
        return {"QueryExecution": {"Status": {"State": "FAILED", "StateChangeReason": reason}}}


def test_a_failed_statement_raises_with_athenas_reason() -> None:
    runner = StatementRunner(FailingAthena(), "wg", "serving_lake_dev")

    with pytest.raises(StatementFailedError) as failed:
        runner.run("CREATE TABEL x (id int)\nLOCATION 's3://b/x/'")

    assert str(failed.value) == (
        "CREATE TABEL x (id int) failed (query q-1): line 1:8: mismatched input 'TABEL'"
    )
