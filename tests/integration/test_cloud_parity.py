"""Parity: the deployed stack and the local API answer the same requests with the same rows.

Needs a deployed, seeded stack (`make deploy seed-cloud`) and AWS credentials, and runs only
when `SERVING_STACK_NAME` names that stack; otherwise every test here is skipped with the
reason. The cloud's lake must hold the same sample as the local one (`make samples` with the
same TRACKCODES and SEED, then `make seed-cloud`).

The suite stores one client, with a fresh key and a policy that grants every endpoint without
masks, in both the stack's DynamoDB table and a local store of its own, sends each request to
both APIs with that key, and compares the answers: status, problem type, column names and
types, and every row (following cursors to the end). Engine statistics, request ids and cursor
texts differ by nature and are not compared; masks are left out of the policy because each
side signs pseudonyms with its own key. The record is deleted from the stack afterwards.

The local API is `python -m local --port 0`, started here over the sample lake with the
parity client's own store, exactly as `make local` serves it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from serving_layer import config
from serving_layer.endpoints import ENDPOINTS


def _skip_reason() -> str | None:
    if not os.environ.get(config.STACK_NAME.name):
        return f"set {config.STACK_NAME.name} to a deployed, seeded stack to compare with it"
    import boto3

    if boto3.Session().get_credentials() is None:
        return "no AWS credentials found to read the stack and store a test client"
    return None


SKIP_REASON = _skip_reason()
pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]

# A week of the sample lake (its trackcodes start on 2025-01-01); override as START/END.
START, END = os.environ.get("SERVING_PARITY_RANGE", "2025-03-01/2025-03-08").split("/")
TIMEOUT_SECONDS = 60
PARITY_CLIENT = "parity-check"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def call(base_url: str, path: str, key: str | None, query: dict[str, str] | None = None) -> Answer:
    url = base_url.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    request = urllib.request.Request(url)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return Answer(response.status, json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read() or b"{}"))


def comparable(value: Any) -> Any:
    """A value as both engines must agree on it: doubles to 9 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, dict):
        return {name: comparable(item) for name, item in value.items()}
    return value


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name != "request_id"}


def every_row(base_url: str, path: str, key: str, query: dict[str, str]) -> tuple[int, Any]:
    """The whole answer of a query endpoint: its columns and all rows, cursors followed."""
    answer = call(base_url, path, key, query)
    if answer.status != 200:
        return answer.status, answer.body.get("type")
    columns = answer.body.get("columns")
    rows = list(answer.body.get("rows", []))
    while answer.body.get("next_cursor"):
        answer = call(base_url, path, key, {**query, "cursor": answer.body["next_cursor"]})
        assert answer.status == 200, answer.body
        rows += answer.body.get("rows", [])
    return 200, {"columns": columns, "rows": comparable(rows)}


@pytest.fixture(scope="module")
def cloud_api_url() -> str:
    from serving_layer.cloud.stack import stack_outputs

    return stack_outputs().ApiUrl


@pytest.fixture(scope="module")
def parity_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A fresh key for one all-endpoints, unmasked policy, stored in the cloud and locally."""
    from serving_layer.cloud.stack import stack_outputs
    from serving_layer.keys import new_key
    from serving_layer.policy import Policy
    from serving_layer.stores import ClientRecord, get_store, utc_now

    issued = new_key()
    policy = Policy.from_dict(
        {
            "client": PARITY_CLIENT,
            "status": "active",
            "scope": "all",
            "endpoints": {name: {"max_range_days": 31} for name in ENDPOINTS},
        }
    )
    record = ClientRecord(issued.key_hash, issued.key_id, policy, created_at=utc_now())
    data_dir = tmp_path_factory.mktemp("parity-store")
    cloud = get_store("dynamodb", table_name=stack_outputs().ClientsTableName)
    local = get_store("local", data_dir=str(data_dir))
    cloud.put(record)
    local.put(record)
    try:
        yield issued.key, data_dir
    finally:
        cloud.delete(record.key_hash)


@pytest.fixture(scope="module")
def local_api_url(parity_key: tuple[str, Path]) -> Iterator[str]:
    """The local API over the sample lake, using the parity client's store."""
    _, data_dir = parity_key
    environment = {
        **os.environ,
        config.DATA_DIR.name: str(data_dir),
        config.ENGINE.name: "duckdb",
        config.POLICY_STORE.name: "local",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", "0"],
        cwd=config.PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Serving") and " on http://" in line:
                yield line.split(" on ", 1)[1].split()[0]
                break
        else:
            pytest.fail("the local API stopped before it was ready")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_each_query_endpoint_answers_the_same_rows(
    endpoint: str, cloud_api_url: str, local_api_url: str, parity_key: tuple[str, Path]
) -> None:
    key, _ = parity_key
    path, query = f"/v1/queries/{endpoint}", {"start": START, "end": END}

    assert every_row(cloud_api_url, path, key, query) == every_row(local_api_url, path, key, query)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/queries/count_orders_by_range", {"start": END, "end": START}),
        ("/v1/queries/count_orders_by_range", {"start": START}),
        ("/v1/queries/no_such_endpoint", {"start": START, "end": END}),
    ],
)
def test_client_mistakes_get_the_same_problem(
    path: str,
    query: dict[str, str],
    cloud_api_url: str,
    local_api_url: str,
    parity_key: tuple[str, Path],
) -> None:
    key, _ = parity_key
    cloud, local = call(cloud_api_url, path, key, query), call(local_api_url, path, key, query)

    assert 400 <= cloud.status < 500
    assert (cloud.status, cloud.body.get("type")) == (local.status, local.body.get("type"))


def test_a_request_without_a_key_is_refused_alike(cloud_api_url: str, local_api_url: str) -> None:
    path = "/v1/queries/count_orders_by_range"
    query = {"start": START, "end": END}

    cloud, local = call(cloud_api_url, path, None, query), call(local_api_url, path, None, query)

    assert cloud.status == local.status
    assert cloud.status in (401, 403)


def test_the_caller_sees_itself_alike(
    cloud_api_url: str, local_api_url: str, parity_key: tuple[str, Path]
) -> None:
    key, _ = parity_key

    cloud, local = call(cloud_api_url, "/v1/me", key), call(local_api_url, "/v1/me", key)

    assert cloud.status == local.status == 200
    assert without_request_id(cloud.body) == without_request_id(local.body)


def test_the_openapi_document_describes_the_same_paths(
    cloud_api_url: str, local_api_url: str
) -> None:
    cloud = call(cloud_api_url, "/v1/openapi.json", None)
    local = call(local_api_url, "/v1/openapi.json", None)

    assert cloud.status == local.status == 200
    assert sorted(cloud.body["paths"]) == sorted(local.body["paths"])
