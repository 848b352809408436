"""The local API end to end: HTTP latency per endpoint against the raw SQL, and throughput.

`python -m local` serves the lake in a subprocess (the real template, authorizer, handlers and
local store); a client in this process calls it over HTTP on 127.0.0.1 with one key that may
call every endpoint:

- latency: for each endpoint over a 30-day range, the median of several calls on one keep-alive
  connection (after a warm-up call, so the authorizer's answer is cached as in the cloud), and
  the median time of the very SQL the engine runs for it (the compiled query with its page of
  `max_rows + 1` rows) on a DuckDB connection of this process; the ratio is what the gateway,
  authorizer cache, handler, JSON and HTTP add;
- throughput: 16 client threads, each with its own connection, cycling through the eight
  endpoints for a fixed time; requests per second, errors, and latency percentiles; then the
  same on `GET /v1/me`, which never reaches the engine, for the emulator's own ceiling.

Server and clients share the machine's cores, so the figures are those of one laptop running
both, not of the server alone.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from serving_layer import config, keys
from serving_layer.compiler import DateRange, Scope, compile_query
from serving_layer.endpoints import ENDPOINTS
from serving_layer.policy import Policy
from serving_layer.stores import ClientRecord, get_store, utc_now

RANGE = ("2025-03-01", "2025-03-31")
RUNS = 7
CLIENTS = 16
LOAD_SECONDS = 15.0
MAX_ROWS = 1000
START_SECONDS = 120


@dataclass
class LocalServer:
    url: str
    process: subprocess.Popen[bytes]


def run(
    lake_dir: str | Path,
    runs: int = RUNS,
    clients: int = CLIENTS,
    load_seconds: float = LOAD_SECONDS,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-local-") as folder:
        data = Path(folder) / "data"
        key = _bench_key(data)
        server = _start(Path(lake_dir), data, Path(folder) / "server.log")
        try:
            latency = _latency(server.url, key, Path(lake_dir), runs)
            queries = [f"/v1/queries/{name}" for name in ENDPOINTS]
            load = _load(server.url, key, queries, clients, load_seconds)
            # The same load on a route that never reaches the engine: the emulator's own ceiling.
            gateway = _load(server.url, key, ["/v1/me"], clients, load_seconds)
        finally:
            _stop(server)
    return {
        "range": list(RANGE),
        "runs": runs,
        "endpoints": latency,
        "load": load,
        "load_without_engine": gateway,
    }


def _bench_key(data: Path) -> str:
    """A key in a fresh local store whose policy may call every endpoint over every client."""
    grants = {name: {"max_range_days": 366, "max_rows": MAX_ROWS} for name in ENDPOINTS}
    policy = Policy.from_dict({"client": "bench", "scope": "all", "endpoints": grants})
    issued = keys.new_key()
    record = ClientRecord(issued.key_hash, issued.key_id, policy, created_at=utc_now())
    get_store("local", data_dir=data).put(record)
    return issued.key


def _start(lake: Path, data: Path, log: Path) -> LocalServer:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")}
    env.update({"SERVING_WAREHOUSE_DIR": str(lake), "SERVING_DATA_DIR": str(data)})
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", "0"],
            cwd=config.PROJECT_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if found:
            return LocalServer(found.group(1), process)
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the local server did not start:\n{log.read_text(errors='replace')}")


def _stop(server: LocalServer) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def _latency(url: str, key: str, lake: Path, runs: int) -> dict[str, Any]:
    """Per endpoint: median HTTP ms, median raw SQL ms, their ratio and difference."""
    from serving_layer.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine(warehouse_path=lake)
    date_range = DateRange(datetime.fromisoformat(RANGE[0]), datetime.fromisoformat(RANGE[1]))
    results: dict[str, Any] = {}
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {key}"
        for name in ENDPOINTS:
            target = f"{url}/v1/queries/{name}"
            params = {"start": RANGE[0], "end": RANGE[1]}
            paged = compile_query(name, date_range, Scope.all()).page(0, MAX_ROWS + 1)

            http_ms, sql_ms, rows = [], [], 0
            _call(session, target, params)  # warm: the authorizer's answer gets cached
            engine.raw(paged.sql, paged.params)
            for _ in range(runs):
                started = time.perf_counter()
                rows = len(_call(session, target, params)["rows"])
                http_ms.append((time.perf_counter() - started) * 1000)

                started = time.perf_counter()
                engine.raw(paged.sql, paged.params)
                sql_ms.append((time.perf_counter() - started) * 1000)

            http, sql = statistics.median(http_ms), statistics.median(sql_ms)
            results[name] = {
                "rows": rows,
                "http_ms": round(http, 2),
                "sql_ms": round(sql, 2),
                "ratio": round(http / sql, 2) if sql else None,
                "overhead_ms": round(http - sql, 2),
            }
    return results


def _call(session: requests.Session, target: str, params: dict[str, str]) -> dict[str, Any]:
    response = session.get(target, params=params, timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"{target} answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def _load(url: str, key: str, paths: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """`clients` threads cycling through `paths` for `seconds`; requests per second."""
    params = {"start": RANGE[0], "end": RANGE[1]}
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(number: int) -> None:
        mine, failed = [], []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {key}"
            barrier.wait()
            i = number
            while time.monotonic() < stop_at:
                target = f"{url}{paths[i % len(paths)]}"
                started = time.perf_counter()
                try:
                    response = session.get(target, params=params, timeout=120)
                    ok = response.status_code == 200
                except requests.RequestException as error:
                    ok, response = False, None
                    failed.append(type(error).__name__)
                mine.append((time.perf_counter() - started) * 1000)
                if not ok and response is not None:
                    failed.append(str(response.status_code))
                i += 1
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started

    ordered = sorted(latencies)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(_percentile(ordered, 0.50), 1),
        "p95_ms": round(_percentile(ordered, 0.95), 1),
        "max_ms": round(ordered[-1], 1) if ordered else None,
    }


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def render(results: dict[str, Any]) -> str:
    start, end = results["range"]
    lines = [
        f"Local API over HTTP, {start} to {end} (median of {results['runs']} calls)",
        "",
        "| endpoint | rows | HTTP ms | raw SQL ms | ratio | added ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["endpoints"].items():
        lines.append(
            f"| `{name}` | {r['rows']} | {r['http_ms']} | {r['sql_ms']} | {r['ratio']} "
            f"| {r['overhead_ms']} |"
        )
    lines.append("")
    for title, load in (
        ("the eight endpoints in turn", results["load"]),
        ("GET /v1/me (no engine)", results["load_without_engine"]),
    ):
        lines.append(
            f"{load['clients']} concurrent clients, {title}, {load['seconds']} s: "
            f"{load['requests_per_second']} requests/s ({load['requests']} requests, "
            f"{load['errors']} errors), p50 {load['p50_ms']} ms, p95 {load['p95_ms']} ms, "
            f"max {load['max_ms']} ms"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="warehouse folder of a sample lake")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seconds", type=float, default=LOAD_SECONDS)
    args = parser.parse_args()
    print(render(run(args.lake, args.runs, args.clients, args.seconds)))


if __name__ == "__main__":
    main()
