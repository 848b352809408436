"""Athena emulated by moto over real HTTP, for the engine's tests and the engine contract suite.

Real here: boto3 and botocore, the HTTP exchange with moto's server on 127.0.0.1 (the
`moto_server` fixture), moto's Athena API (StartQueryExecution, GetQueryExecution,
GetQueryResults, StopQueryExecution) and its record of each execution: SQL text, execution
parameters, workgroup and context.

Emulated, because moto executes no SQL:
- rows: each query answers the result queued beforehand through moto's results endpoint
  (`POST /moto-api/static/athena/query-results`), written in Athena's text form with the header
  row first, as Athena answers a SELECT;
- paging: moto answers every row in one call, so `GetQueryResults` is paged on the client side,
  cut to `MaxResults` rows with an offset as `NextToken`, the way Athena pages;
- statistics: moto reports zero bytes scanned and zero engine time.

Each emulator uses an AWS account of its own (moto's `x-moto-account-id` header), so results
queued by one test never reach another test's query.

Use from a test (the contract suite does the same for each query it runs):

    emulator = AthenaEmulator(moto_server)
    emulator.queue([("trackcode_id", "bigint"), ("creation", "timestamp")], rows)
    result = emulator.engine().execute(query, page_size=100)
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from serving_layer.engines.athena import AthenaEngine, new_client
from serving_layer.engines.athena_values import base_type

REGION = "us-east-1"
WORKGROUP = "serving-layer-emulated"
_PAGE_TOKEN_PREFIX = "emulated-offset-"


def athena_text(value: Any) -> str | None:
    """`value` written as Athena writes it in `VarCharValue` (None for NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, list):
        return "[" + ", ".join(athena_text(item) or "null" for item in value) + "]"
    return str(value)


def column_info(name: str, declared_type: str) -> dict[str, Any]:
    """Athena's metadata for a column the query declares as `declared_type`.

    Athena names an array only `array`, and a decimal `decimal` with its precision and scale.
    """
    athena_type = base_type(declared_type)
    info: dict[str, Any] = {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        "Type": athena_type,
        "Precision": 0,
        "Scale": 0,
        "Nullable": "UNKNOWN",
        "CaseSensitive": athena_type in ("varchar", "char"),
    }
    if athena_type == "decimal" and "(" in declared_type:
        precision, _, scale = declared_type[declared_type.index("(") + 1 : -1].partition(",")
        info["Precision"], info["Scale"] = int(precision), int(scale or 0)
    return info


def header_row(names: Sequence[str]) -> dict[str, Any]:
    return {"Data": [{"VarCharValue": name} for name in names]}


def text_row(texts: Sequence[str | None]) -> dict[str, Any]:
    """A result row from Athena's texts: None is a NULL (a datum without `VarCharValue`)."""
    return {"Data": [{} if text is None else {"VarCharValue": text} for text in texts]}


class AthenaEmulator:
    """A moto-backed Athena account with a workgroup, results queued per query."""

    def __init__(self, endpoint_url: str, *, workgroup: str = WORKGROUP) -> None:
        self.endpoint_url = endpoint_url
        self.account_id = str(secrets.randbelow(9 * 10**11) + 10**11)
        self.workgroup = workgroup
        self.client = new_client(region_name=REGION, endpoint_url=endpoint_url)
        self.client.meta.events.register("before-sign.athena", self._to_own_account)
        self.client.meta.events.register(
            "before-parameter-build.athena.GetQueryResults", _remember_paging
        )
        self.client.meta.events.register("after-call.athena.GetQueryResults", _page_rows)
        self.client.create_work_group(Name=workgroup, Configuration={})

    def engine(self, **settings: Any) -> AthenaEngine:
        """An engine on this emulator; `settings` as `AthenaEngine` takes them."""
        settings.setdefault("workgroup", self.workgroup)
        return AthenaEngine(self.client, **settings)

    def queue(self, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        """Queue the answer of the next query started: `(name, type)` columns, Python rows."""
        self.queue_raw(
            [column_info(name, type_) for name, type_ in columns],
            [header_row([name for name, _ in columns])]
            + [text_row([athena_text(value) for value in row]) for row in rows],
        )

    def queue_raw(self, column_infos: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        """Queue an answer exactly as given: metadata and rows, header row included or not."""
        body = {
            "account_id": self.account_id,
            "region": REGION,
            "results": [{"rows": rows, "column_info": column_infos}],
        }
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/static/athena/query-results",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # 127.0.0.1 only
            assert response.status == 201, response.status

    def executions(self) -> list[dict[str, Any]]:
        """What moto recorded of every query started in this account."""
        ids = self.client.list_query_executions(WorkGroup=self.workgroup)["QueryExecutionIds"]
        return [
            self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            for query_id in ids
        ]

    @contextmanager
    def executions_take_polls(self, polls: int) -> Iterator[None]:
        """Make each state change (QUEUED → RUNNING → SUCCEEDED) take `polls` status checks.

        Moto's state manager is server-wide: the default (immediate success) is restored after.
        """
        self._moto_api(
            "state-manager/set-transition",
            {
                "model_name": "athena::execution",
                "transition": {"progression": "manual", "times": polls},
            },
        )
        try:
            yield
        finally:
            self._moto_api("state-manager/unset-transition", {"model_name": "athena::execution"})

    def _moto_api(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # 127.0.0.1 only
            pass

    def _to_own_account(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.account_id


def emulated_engine(
    endpoint_url: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    **settings: Any,
) -> AthenaEngine:
    """An Athena engine whose next query answers `rows` under `columns` (see the module doc)."""
    emulator = AthenaEmulator(endpoint_url)
    emulator.queue(columns, rows)
    return emulator.engine(**settings)


def _remember_paging(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["emulated_paging"] = (params.get("MaxResults", 1000), params.get("NextToken"))


def _page_rows(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any):
    """Cut moto's whole answer to the page asked for, as Athena would answer it."""
    if http_response.status_code >= 300 or "emulated_paging" not in context:
        return
    max_results, token = context["emulated_paging"]
    start = int(token.removeprefix(_PAGE_TOKEN_PREFIX)) if token else 0
    rows = parsed["ResultSet"].get("Rows", [])
    end = start + max_results
    parsed["ResultSet"]["Rows"] = rows[start:end]
    if end < len(rows):
        parsed["NextToken"] = f"{_PAGE_TOKEN_PREFIX}{end}"
