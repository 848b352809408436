"""The authorizer's Lambda entry: one INFO line per decision, and never a key or key hash.

Everything any logger writes is captured: the Powertools logger's JSON on stdout (capsys),
standard logging records (caplog, at DEBUG) and stderr, and searched for every key, every
secret part and every hash used.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from serving_layer import keys
from serving_layer.authorizer import Authorizer
from serving_layer.handlers import authorizer as entry
from serving_layer.policy import Policy
from serving_layer.stores import ClientRecord, utc_now
from serving_layer.stores.local import LocalPolicyStore

EVENTS = Path(__file__).resolve().parents[2] / "events" / "authorizer"
POLICY = {"client": "pacific-cargo", "scope": [4], "endpoints": {"count_orders_by_range": {}}}


class LeakyFailingStore(LocalPolicyStore):
    """Emulates a store whose error message echoes the request (as a foreign library may)."""

    def _get(self, key_hash: str) -> ClientRecord | None:
        raise RuntimeError(f"lookup of {key_hash} failed")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalPolicyStore]:
    store = LocalPolicyStore(tmp_path)
    yield store
    store.close()


def fresh_logger() -> Logger:
    """A new Powertools logger (a fresh service name) writing to the current, captured stdout;
    made inside the test body, since the captured stream changes between test phases."""
    return Logger(service=f"authorizer-test-{uuid.uuid4().hex[:8]}", level="DEBUG")


def event(name: str, authorization: str | None) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / name).read_text())
    if authorization is not None:
        body["headers"]["authorization"] = authorization
        body["identitySource"] = [authorization]
    return body


def add(store: LocalPolicyStore, **changes: Any) -> keys.IssuedKey:
    issued = keys.new_key()
    policy = Policy.from_dict({**POLICY, **changes})
    store.put(ClientRecord(issued.key_hash, issued.key_id, policy, created_at=utc_now()))
    return issued


def secrets_of(issued: keys.IssuedKey) -> list[str]:
    return [issued.key, issued.key_hash, issued.key.split("_", 2)[2]]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_one_info_line_per_decision_and_no_key_or_hash_anywhere(
    store: LocalPolicyStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN an active, a suspended and an unknown key, a malformed one, and the Lambda entry
    # wired to the local store and a logger writing to the captured stdout
    caplog.set_level(logging.DEBUG)
    logger = fresh_logger()
    active, suspended, unknown = add(store), add(store, status="suspended"), keys.new_key()
    monkeypatch.setattr(entry, "logger", logger)
    monkeypatch.setattr(entry, "authorizer", Authorizer(store=store, logger=logger))
    calls = [
        ("query.json", f"Bearer {active.key}", "allow", "active"),
        ("table_insert.json", f"Bearer {active.key}", "allow", "active"),
        ("me.json", f"Bearer {suspended.key}", "deny", "suspended"),
        ("me.json", f"Bearer {unknown.key}", "deny", "unknown"),
        ("me.json", f"Bearer {active.key}x", "deny", "malformed"),
        ("me.json", f"Token {active.key}", "deny", "malformed"),
        ("no_authorization.json", None, "deny", "missing"),
    ]

    # WHEN each event reaches the Lambda entry, and then a key meets a store that fails
    for name, authorization, _, _ in calls:
        entry.handler(event(name, authorization), None)
    leaky = LeakyFailingStore(tmp_path / "leaky")
    monkeypatch.setattr(entry, "authorizer", Authorizer(store=leaky, logger=logger))
    entry.handler(event("me.json", f"Bearer {active.key}"), None)
    leaky.close()

    # THEN each decision is one INFO line with the key id, client, decision, reason and ms
    captured = capsys.readouterr()
    lines = json_lines(captured.out)
    decisions = [line for line in lines if "decision" in line]
    expected = [(d, r) for _, _, d, r in calls] + [("deny", "store-error")]
    assert [(line["decision"], line["reason"]) for line in decisions] == expected
    assert all(line["level"] == "INFO" for line in decisions)
    assert all(isinstance(line["ms"], int | float) for line in decisions)
    assert decisions[0]["key_id"] == active.key_id
    assert decisions[0]["client"] == "pacific-cargo"
    assert decisions[0]["request_id"] == "Gq3kUh2yoAMEbRB="
    assert decisions[0]["route"] == "GET /v1/queries/{endpoint}"
    assert [line["level"] for line in lines if "decision" not in line] == ["ERROR"]

    # and no key, secret or hash appears in anything written or recorded
    everything = "\n".join(
        [captured.out, captured.err, caplog.text]
        + [json.dumps(vars(record), default=str) for record in caplog.records]
    )
    for issued in (active, suspended, unknown):
        for secret in secrets_of(issued):
            assert secret not in everything


def test_the_lambda_entry_answers_the_sample_events(
    store: LocalPolicyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a client and the Lambda entry on the local store
    logger = fresh_logger()
    issued = add(store)
    monkeypatch.setattr(entry, "logger", logger)
    monkeypatch.setattr(entry, "authorizer", Authorizer(store=store, logger=logger))

    # WHEN the sample events arrive with its key, and without one
    allowed = entry.handler(event("query.json", f"Bearer {issued.key}"), None)
    denied = entry.handler(event("basic_scheme.json", None), None)

    # THEN the first is allowed for its key id, the second denied
    assert allowed["principalId"] == issued.key_id
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_the_lambda_entry_imports_no_local_engine() -> None:
    # GIVEN a fresh interpreter WHEN the entry is imported THEN no DuckDB, pyarrow or pyiceberg
    import subprocess
    import sys

    code = (
        "import sys, serving_layer.handlers.authorizer\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = sorted(roots & {'duckdb', 'pyarrow', 'pyiceberg'})\n"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
