"""Authorizer decision time, warm, with DynamoDB on moto's server over HTTP on 127.0.0.1.

Three cases, each over `decisions` decisions after a warm-up, timing `Authorizer.answer` (parse
the header, hash, look up, check status and expiry, build the IAM answer, log one line through
a Powertools logger writing to /dev/null):

- cache hit: a warm authorizer whose in-memory cache holds every key;
- cache miss: the cache off, so every decision is one `GetItem` over HTTP;
- unknown key: keys nobody holds, answered from the brief negative cache after the first miss.

Store calls are counted with a botocore event hook on the client (`before-call.dynamodb.GetItem`).
The policy is the `lake-operator` sample, the largest answer (every endpoint and table route).
moto's server runs in this same process, so a miss pays for the server's Python too: the miss
figures are an upper bound of the client's side, not DynamoDB's latency (single-digit ms).
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from moto.server import ThreadedMotoServer

from serving_layer import keys
from serving_layer.authorizer import Authorizer
from serving_layer.policy import Policy
from serving_layer.stores import ClientRecord, utc_now
from serving_layer.stores.dynamodb import DynamoDBPolicyStore, create_table, dynamodb_client

PROJECT = Path(__file__).resolve().parents[1]
POLICY_FILE = PROJECT / "samples" / "clients" / "lake-operator.json"
EVENT_FILE = PROJECT / "events" / "authorizer" / "query.json"
DECISIONS = 500
KEYS = 50
WARM_UP = 50

# Dummy credentials for moto only; the user's own AWS configuration is hidden meanwhile.
_MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def run(decisions: int = DECISIONS) -> dict[str, Any]:
    with _moto() as endpoint:
        client = dynamodb_client(endpoint)
        table = f"bench-clients-{uuid.uuid4().hex[:8]}"
        create_table(table, client=client)
        get_items = _count_get_items(client)
        store = DynamoDBPolicyStore(table, client=client)
        issued = _seed(store, KEYS)
        logger = Logger(service="bench-authorizer", stream=open(os.devnull, "w"))  # noqa: SIM115

        warm = Authorizer(store=store, cache_seconds=3600, logger=logger)
        cold = Authorizer(store=store, cache_seconds=0, logger=logger)
        strangers = [keys.new_key().key for _ in range(KEYS)]

        result = {
            "store": "DynamoDB API of moto's server, HTTP on 127.0.0.1, same process",
            "policy": "lake-operator sample: 57 routes in the answer",
            "decisions": decisions,
            "cache_hit": _measure(warm, [k.key for k in issued], decisions, get_items),
            "cache_miss": _measure(cold, [k.key for k in issued], decisions, get_items),
            "unknown_key": _measure(warm, strangers, decisions, get_items),
            "load_average": round(os.getloadavg()[0], 1),  # the tail depends on it
        }
        client.delete_table(TableName=table)
        client.close()
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Authorizer, warm, {result['decisions']} decisions each ({result['store']}; "
        f"{result['policy']}; load average {result['load_average']})",
        "",
        "| case | median ms | p95 ms | GetItem per decision | answer |",
        "|---|---:|---:|---:|---|",
    ]
    for case in ("cache_hit", "cache_miss", "unknown_key"):
        row = result[case]
        lines.append(
            f"| {case.replace('_', ' ')} | {row['median_ms']:.3f} | {row['p95_ms']:.3f} | "
            f"{row['get_items_per_decision']:.3f} | {row['effect']} |"
        )
    return "\n".join(lines)


def _measure(
    authorizer: Authorizer, api_keys: list[str], decisions: int, get_items: list[int]
) -> dict[str, Any]:
    """Warm up on every key, then time `decisions` answers cycling through the keys."""
    events = [_event(key) for key in api_keys]
    for event in events[:WARM_UP]:
        authorizer.answer(event)

    calls_before = get_items[0]
    times = []
    effects = set()
    for i in range(decisions):
        started = time.perf_counter()
        answer = authorizer.answer(events[i % len(events)])
        times.append((time.perf_counter() - started) * 1000)
        effects.add(answer["policyDocument"]["Statement"][0]["Effect"])

    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(_percentile(times, 95), 3),
        "get_items_per_decision": round((get_items[0] - calls_before) / decisions, 3),
        "effect": "/".join(sorted(effects)),
    }


def _seed(store: DynamoDBPolicyStore, count: int) -> list[keys.IssuedKey]:
    policy = Policy.from_json(POLICY_FILE.read_text())
    issued = [keys.new_key() for _ in range(count)]
    for each in issued:
        store.put(ClientRecord(each.key_hash, each.key_id, policy, created_at=utc_now()))
    return issued


def _event(key: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT_FILE.read_text())
    event["headers"]["authorization"] = f"Bearer {key}"
    event["identitySource"] = [f"Bearer {key}"]
    return event


def _count_get_items(client: Any) -> list[int]:
    """A one-element counter that botocore bumps on every GetItem the client sends."""
    counter = [0]

    def bump(**_: Any) -> None:
        counter[0] += 1

    client.meta.events.register("before-call.dynamodb.GetItem", bump)
    return counter


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


@contextmanager
def _moto() -> Iterator[str]:
    """moto's server on a free port of 127.0.0.1, with dummy credentials set meanwhile."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    saved = {name: os.environ.get(name) for name in _MOTO_ENV}
    os.environ.update(_MOTO_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    print(render(run()))
