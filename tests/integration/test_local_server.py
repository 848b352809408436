"""The local API end to end: `python -m local` in a subprocess, driven over real HTTP.

Nothing is emulated but API Gateway itself (which is what the server under test is): the real
template.yaml, the real authorizer, query handler and local policy store, DuckDB over the
hand-made fixture lake (tests/fixture_lake.py), whose answers were worked out by hand. The
authorizer cache TTL is cut to a few seconds with the template's own parameter, so expiry is
tested in real time.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

import fixture_lake
from design import ENDPOINT_NAMES
from serving_layer import config, keys
from serving_layer.policy import Policy, Status
from serving_layer.stores import ClientRecord, get_store, utc_now

CACHE_TTL = 3
START_SECONDS = 60
START, END = fixture_lake.RANGE
RANGE = {"start": START, "end": END}

EVERY_ENDPOINT = list(ENDPOINT_NAMES)
POLICIES = {
    # Clients 101 and 102 only, and one endpoint.
    "counter": {
        "client": "counter",
        "scope": [101, 102],
        "endpoints": {"count_trackcode_by_range": {}},
    },
    "operator": {
        "client": "operator",
        "scope": "all",
        "endpoints": {e: {} for e in EVERY_ENDPOINT},
    },
    "revocable": {
        "client": "revocable",
        "scope": "all",
        "endpoints": {"count_orders_by_range": {}},
    },
    # May read and insert cities, nothing else.
    "writer": {"client": "writer", "scope": "all", "tables": {"city": ["read", "insert"]}},
}


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def start_server(tmp: Path, lake: Path, data: Path, name: str) -> Server:
    """`python -m local --port 0` with the lake and data folders of this test; wait for ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")}
    env.update(
        {
            "SERVING_WAREHOUSE_DIR": str(lake),
            "SERVING_DATA_DIR": str(data),
            "PYTHONUNBUFFERED": "1",
        }
    )
    output = tmp / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "local",
        "--port",
        "0",
        "--parameter-overrides",
        f"AuthorizerCacheTtl={CACHE_TTL}",
    ]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=config.PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        found = re.search(r"on (http://127\.0\.0\.1:(\d+))", output.read_text(errors="replace"))
        if found:
            return Server(found.group(1), int(found.group(2)), process, output)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise AssertionError(f"the server did not start:\n{output.read_text(errors='replace')}")


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
    return server.process.wait(timeout=20)


def add_client(data: Path, document: dict) -> tuple[str, ClientRecord]:
    issued = keys.new_key()
    record = ClientRecord(issued.key_hash, issued.key_id, Policy.from_dict(document), utc_now())
    get_store("local", data_dir=data).put(record)
    return issued.key, record


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("local-server")
    lake = fixture_lake.build(tmp / "lake")
    return tmp, lake, tmp / "data"


@pytest.fixture(scope="module")
def clients(folders) -> dict[str, tuple[str, ClientRecord]]:
    _, _, data = folders
    return {name: add_client(data, document) for name, document in POLICIES.items()}


@pytest.fixture(scope="module")
def server(folders, clients) -> Iterator[Server]:
    tmp, lake, data = folders
    running = start_server(tmp, lake, data, "server")
    yield running
    stop_server(running)


def get(server: Server, path: str, key: str | None = None, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(f"{server.url}{path}", headers=headers, params=params, timeout=30)


def key_of(clients, name: str) -> str:
    return clients[name][0]


def test_no_key_is_a_401_problem(server):
    response = get(server, "/v1/queries/count_orders_by_range", **RANGE)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["message"] == "Unauthorized"


def test_an_unknown_key_is_a_403(server):
    unknown = keys.new_key().key  # well formed, never stored

    response = get(server, "/v1/queries/count_orders_by_range", unknown, **RANGE)

    assert response.status_code == 403
    assert response.json()["message"] == "Forbidden"


def test_an_endpoint_not_granted_is_a_403(server, clients):
    response = get(server, "/v1/queries/count_orders_by_range", key_of(clients, "counter"), **RANGE)

    assert response.status_code == 403


def test_a_granted_call_answers_the_rows_of_the_callers_scope(server, clients):
    # GIVEN the counter client, which sees clients 101 and 102 only
    key = key_of(clients, "counter")

    # WHEN it counts trackcodes per day over the fixture's range
    response = get(server, "/v1/queries/count_trackcode_by_range", key, **RANGE)

    # THEN the counts leave out client 103's trackcode 1005 (worked out in fixture_lake.py:
    # 03-01: 1001, 1002, 1003; 03-02: 1004, 1006; 03-03: 1007, 1008)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["name"] for c in body["columns"]] == ["date", "trackcodes"]
    assert body["rows"] == [["2025-03-01", 3], ["2025-03-02", 2], ["2025-03-03", 2]]
    assert body["stats"]["engine"] == "duckdb"


def test_a_call_with_every_client_in_scope_matches_the_hand_made_answers(server, clients):
    key = key_of(clients, "operator")

    orders = get(server, "/v1/queries/count_orders_by_range", key, **RANGE)
    services = get(server, "/v1/queries/most_required_service_by_range", key, **RANGE)

    assert orders.json()["rows"] == [[10]]
    assert services.json()["rows"] == [[1, "standard", 4], [2, "express", 3], [9, None, 1]]


def test_the_openapi_document_needs_no_key_and_the_docs_page_is_served(server):
    document = get(server, "/v1/openapi.json")
    page = get(server, "/docs")
    script = get(server, "/docs/assets/swagger-ui-bundle.js")

    assert document.status_code == 200
    assert "/v1/queries/count_orders_by_range" in document.json()["paths"]
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")


def test_a_route_missing_from_the_template_is_a_404_problem(server, clients):
    response = get(server, "/v2/anything", key_of(clients, "operator"))

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_json_body_reaches_the_manage_function_and_the_row_reads_back(server, clients):
    # GIVEN a key that may read and insert cities, and a city the fixture lake lacks
    key = key_of(clients, "writer")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "local-server-city-30"}
    city = {"id": 30, "name": "Cali", "country_id": 1, "timezone": "America/Bogota", "point": None}

    # WHEN it posts the row as JSON, then reads it by id
    posted = requests.post(
        f"{server.url}/v1/tables/city/rows", json={"rows": [city]}, headers=headers, timeout=60
    )
    read = get(server, "/v1/tables/city/rows/30", key)

    # THEN the insert is created and the row reads back as sent
    assert posted.status_code == 201, posted.text
    assert posted.json()["inserted"] == 1
    assert read.status_code == 200
    assert read.json()["row"] == city


def test_a_table_operation_not_granted_is_refused_by_the_gateway(server, clients):
    # The writer may not delete: its policy's routes leave DELETE out, so the gateway says 403.
    key = key_of(clients, "writer")

    response = requests.delete(
        f"{server.url}/v1/tables/city/rows/10",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )

    assert response.status_code == 403
    assert response.json()["message"] == "Forbidden"


def test_the_authorizer_answer_is_cached_for_its_ttl(server, clients, folders):
    # GIVEN a key whose answer the gateway has just cached
    key, record = clients["revocable"]
    assert get(server, "/v1/queries/count_orders_by_range", key, **RANGE).status_code == 200
    cached_at = time.monotonic()

    # WHEN the operator revokes it in the local store
    revoked = replace(record, policy=replace(record.policy, status=Status.REVOKED))
    get_store("local", data_dir=folders[2]).put(revoked)

    # THEN a call within the TTL still passes (the cached answer), as in the cloud
    within = get(server, "/v1/queries/count_orders_by_range", key, **RANGE)
    assert time.monotonic() - cached_at < CACHE_TTL, "the machine was too slow to test the TTL"
    assert within.status_code == 200

    # AND once the TTL has passed, the authorizer is asked again and refuses the key
    time.sleep(CACHE_TTL + 0.5 - (time.monotonic() - cached_at))
    after = get(server, "/v1/queries/count_orders_by_range", key, **RANGE)
    assert after.status_code == 403


def test_sixteen_concurrent_clients_get_no_errors(server, clients):
    key = key_of(clients, "operator")
    calls = [
        ("/v1/queries/count_orders_by_range", [[10]]),
        ("/v1/queries/count_trackcode_lost_by_range", [[3]]),
        ("/v1/queries/count_delivered_trackcode_before_promise_time_by_range", [[10, 4, 3]]),
        ("/v1/queries/count_trackcode_by_range", fixture_lake.TRACKCODES_PER_DAY),
    ]

    def client(number: int) -> list[str]:
        failures = []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {key}"
            for i in range(8):
                path, rows = calls[(number + i) % len(calls)]
                response = session.get(f"{server.url}{path}", params=RANGE, timeout=60)
                if response.status_code != 200 or response.json()["rows"] != rows:
                    failures.append(f"{path}: {response.status_code} {response.text[:200]}")
        return failures

    with ThreadPoolExecutor(max_workers=16) as pool:
        failures = [f for result in pool.map(client, range(16)) for f in result]

    assert failures == []


def test_the_access_log_names_the_key_id_and_never_the_key(server, clients):
    key, record = clients["operator"]
    get(server, "/v1/queries/count_orders_by_range", key, **RANGE)

    log = server.log()
    lines = [line for line in log.splitlines() if "local.access" in line]
    assert any(
        "GET /v1/queries/count_orders_by_range 200" in line and f"key_id={record.key_id}" in line
        for line in lines
    )
    assert key not in log
    assert keys.hash_key(key) not in log


def test_sigint_stops_the_server_cleanly_and_releases_the_port(folders):
    # GIVEN a second server with an idle keep-alive connection and an answered request
    tmp, lake, data = folders
    server = start_server(tmp, lake, data, "stopping")
    session = requests.Session()
    assert session.get(f"{server.url}/v1/openapi.json", timeout=30).status_code == 200

    # WHEN it gets SIGINT (Ctrl-C)
    started = time.monotonic()
    status = stop_server(server)

    # THEN it exits 0 promptly, without a traceback, and the port can be bound again
    assert status == 0
    assert time.monotonic() - started < 10
    log = server.log()
    assert "Traceback" not in log
    assert "stopped" in log
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    with socket.socket() as probe:
        # As a restarted server does: closed connections may linger in TIME_WAIT, a listener not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", server.port))
    session.close()


def test_the_server_refuses_a_template_it_cannot_read(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "local", "--template", str(tmp_path / "none.yaml"), "--port", "0"],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "no template at" in result.stderr
