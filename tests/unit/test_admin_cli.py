"""`serving-layer clients …`: in-process on the local store, and end to end as a subprocess
against DynamoDB on moto's server. Each change is checked through the authorizer itself."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving_layer import cli, keys
from serving_layer.admin import seed_samples
from serving_layer.authorizer import Authorizer, Decision
from serving_layer.stores import PolicyStore
from serving_layer.stores.dynamodb import DynamoDBPolicyStore
from serving_layer.stores.local import LocalPolicyStore

PROJECT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT / "samples" / "clients"
EVENT = PROJECT / "events" / "authorizer" / "me.json"
KEY = re.compile(r"sl_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


class Clients:
    """Runs `serving-layer clients --data-dir <tmp> …` in this process and keeps its output."""

    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data_dir = data_dir
        self.capsys = capsys
        self.outputs: list[str] = []
        self.opened: list[LocalPolicyStore] = []

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = cli.main(["clients", "--data-dir", str(self.data_dir), *args])
        captured = self.capsys.readouterr()
        self.outputs.append(captured.out + captured.err)
        return code, captured.out, captured.err

    def store(self) -> LocalPolicyStore:
        """The same local store, opened for the test (closed when the test ends)."""
        self.opened.append(LocalPolicyStore(self.data_dir))
        return self.opened[-1]


@pytest.fixture
def clients(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Clients]:
    clients = Clients(tmp_path, capsys)
    yield clients
    for store in clients.opened:
        store.close()


def decide(store: PolicyStore, key: str) -> Decision:
    """A fresh authorizer's decision (no cache) for `key` on GET /v1/me."""
    event = json.loads(EVENT.read_text())
    event["headers"]["authorization"] = f"Bearer {key}"
    event["identitySource"] = [f"Bearer {key}"]
    return Authorizer(store=store, cache_seconds=0).decide(event)


def only_key(text: str) -> str:
    found = KEY.findall(text)
    assert len(found) == 1, "the key is printed exactly once"
    return str(found[0])


def policy_of(clients: Clients, name: str) -> dict[str, Any]:
    code, out, _ = clients("show", name, "--json")
    assert code == 0
    policy: dict[str, Any] = json.loads(out)["policy"]
    return policy


@pytest.fixture
def acme(clients: Clients) -> str:
    """A client made from flags; its key."""
    code, out, _ = clients(
        "create", "acme", "--scope", "14,15", "--endpoint", "count_orders_by_range"
    )
    assert code == 0
    return only_key(out)


def test_create_prints_a_working_key_once_and_nothing_else_shows_it(
    clients: Clients, acme: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN acme, created with flags (its key printed once)
    caplog.set_level(logging.DEBUG)
    store = clients.store()

    # WHEN it is listed and shown, plain and as JSON
    for args in (("list",), ("list", "--json"), ("show", "acme"), ("show", "acme", "--json")):
        code, out, err = clients(*args)
        assert code == 0
        # THEN no output and no log line holds the key or its hash
        for secret in (acme, keys.hash_key(acme)):
            assert secret not in out + err
    for secret in (acme, keys.hash_key(acme)):
        assert secret not in caplog.text

    # and the key works, for exactly the policy the flags described
    decision = decide(store, acme)
    assert (decision.allowed, decision.reason) == (True, "active")
    assert policy_of(clients, "acme") == {
        "client": "acme",
        "status": "active",
        "expires_at": None,
        "scope": [14, 15],
        "endpoints": {
            "count_orders_by_range": {
                "fields": "all",
                "masks": {},
                "max_range_days": 31,
                "max_rows": 1000,
            }
        },
        "tables": {},
        "key_id": acme.split("_")[1],
    }


def test_create_from_a_sample_file_keeps_its_policy(clients: Clients) -> None:
    # GIVEN the andes-express sample WHEN it is created from its file
    code, out, _ = clients(
        "create", "andes-express", "--policy", str(SAMPLES / "andes-express.json")
    )

    # THEN the stored policy is the file's, plus its key id
    assert code == 0
    key = only_key(out)
    expected = json.loads((SAMPLES / "andes-express.json").read_text())
    stored = policy_of(clients, "andes-express")
    assert stored["scope"] == expected["scope"]
    assert stored["endpoints"]["all_orders_by_range"]["masks"] == {
        "business_name": "hash",
        "drop_address": "partial",
        "product_price": "redact",
    }
    assert stored["key_id"] == key.split("_")[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("create", "acme", "--scope", "1"),
            "error: a client named 'acme' exists; change it with `grant`, re-key it with "
            "`rotate`, or pick another name",
        ),
        (
            ("create", "beta"),
            "error: give the new client a policy: --policy FILE, or at least --scope",
        ),
        (
            ("create", "beta", "--scope", "1", "--endpoint", "count_order_by_range"),
            "error: unknown endpoint 'count_order_by_range' in the policy; the endpoints are: ",
        ),
        (
            ("create", "beta", "--scope", "one,two"),
            "error: --scope is \"all\" or client ids separated by commas; got 'one,two'",
        ),
        (
            ("create", "andes", "--policy", str(SAMPLES / "pacific-cargo.json")),
            f"error: {SAMPLES / 'pacific-cargo.json'} is the policy of 'pacific-cargo', "
            "not of 'andes'",
        ),
        (
            ("grant", "acme", "--endpoint", "all_orders_by_range", "--fields", "trackcode"),
            "error: unknown field 'trackcode' of 'all_orders_by_range' in the policy; the "
            "fields are: trackcode_id, ",
        ),
        (
            ("grant", "acme", "--endpoint", "count_orders_by_range", "--mask", "orders=blur"),
            "error: the mask of count_orders_by_range.orders is 'blur'; it must be one of: "
            "redact, partial, hash",
        ),
        (
            ("grant", "acme", "--table-grant", "order=read"),
            "error: unknown table 'order' in the policy; the tables are: ",
        ),
        (
            ("grant", "acme", "--max-rows", "5"),
            "error: --fields, --mask, --max-range-days and --max-rows need an --endpoint",
        ),
        (
            ("grant", "acme", "--remove-endpoint", "all_orders_by_range"),
            "error: 'acme' has no grant of 'all_orders_by_range' to remove",
        ),
        (
            ("show", "nobody"),
            "error: no client has the key id or name 'nobody'; `serving-layer clients list` "
            "shows them",
        ),
        (
            ("delete", "acme"),
            "error: deleting 'acme' (",
        ),
    ],
)
def test_mistakes_are_refused_saying_what_to_change(
    clients: Clients, acme: str, args: tuple[str, ...], message: str
) -> None:
    # GIVEN acme WHEN a wrong command runs
    before = policy_of(clients, "acme")
    code, _, err = clients(*args)

    # THEN it exits 2 with the message, and acme is unchanged
    assert code == 2
    assert err.startswith(message)
    assert policy_of(clients, "acme") == before
    assert decide(clients.store(), acme).allowed


def test_grant_changes_only_what_it_names(clients: Clients, acme: str) -> None:
    # GIVEN acme with count_orders_by_range
    # WHEN it is granted a masked endpoint, table operations and an expiry
    code, _, _ = clients(
        "grant",
        "acme",
        "--endpoint",
        "all_orders_by_range",
        "--fields",
        "trackcode_id,drop_address",
        "--mask",
        "drop_address=partial",
        "--max-rows",
        "50",
        "--table-grant",
        "orders=read,insert",
        "--expires-at",
        "2030-01-01",
    )
    assert code == 0
    # and one option of the new endpoint is changed again, alone
    assert (
        clients("grant", "acme", "--endpoint", "all_orders_by_range", "--max-range-days", "7")[0]
        == 0
    )

    # THEN the policy is the old one plus exactly those grants
    policy = policy_of(clients, "acme")
    assert policy["endpoints"] == {
        "count_orders_by_range": {
            "fields": "all",
            "masks": {},
            "max_range_days": 31,
            "max_rows": 1000,
        },
        "all_orders_by_range": {
            "fields": ["drop_address", "trackcode_id"],
            "masks": {"drop_address": "partial"},
            "max_range_days": 7,
            "max_rows": 50,
        },
    }
    assert policy["tables"] == {"orders": ["insert", "read"]}
    assert policy["expires_at"] == "2030-01-01T00:00:00Z"

    # and removing the endpoint, the table and the expiry takes them away
    code, _, _ = clients(
        "grant",
        "acme",
        "--remove-endpoint",
        "all_orders_by_range",
        "--table-grant",
        "orders=",
        "--expires-at",
        "never",
    )
    assert code == 0
    policy = policy_of(clients, "acme")
    assert list(policy["endpoints"]) == ["count_orders_by_range"]
    assert (policy["tables"], policy["expires_at"]) == ({}, None)


def test_suspend_resume_and_revoke(clients: Clients, acme: str) -> None:
    store = clients.store()

    # WHEN acme is suspended THEN its key is refused; resumed, it works again
    assert clients("grant", "acme", "--status", "suspended")[0] == 0
    assert decide(store, acme).reason == "suspended"
    assert clients("grant", "acme", "--status", "active")[0] == 0
    assert decide(store, acme).allowed

    # WHEN it is revoked THEN it is refused for good: no grant or rotation brings it back
    code, out, _ = clients("revoke", "acme")
    assert code == 0
    assert "revoked client acme" in out
    assert decide(store, acme).reason == "revoked"
    assert clients("grant", "acme", "--status", "active")[0] == 2
    assert clients("rotate", "acme")[0] == 2
    assert decide(store, acme).reason == "revoked"
    store.close()


def test_rotate_prints_a_new_key_and_the_old_one_stops(clients: Clients, acme: str) -> None:
    # GIVEN acme and its record
    store = clients.store()
    old = store.find("acme")
    assert old is not None

    # WHEN its key is rotated
    code, out, _ = clients("rotate", "acme")

    # THEN a new key is printed once, the old key is unknown and the new one works
    assert code == 0
    new_key = only_key(out)
    assert new_key != acme
    assert decide(store, acme).reason == "unknown"
    assert decide(store, new_key).allowed

    # and the record keeps its policy and creation time, with a rotation time and a new key id
    new = store.find("acme")
    assert new is not None
    assert new.key_id == new_key.split("_")[1] != old.key_id
    assert new.created_at == old.created_at
    assert new.rotated_at is not None
    assert new.policy.to_dict() | {"key_id": None} == old.policy.to_dict() | {"key_id": None}
    assert [r.key_id for r in store.list()] == [new.key_id]
    store.close()


def test_delete_needs_confirming(clients: Clients, acme: str) -> None:
    assert clients("delete", "acme")[0] == 2
    assert clients("delete", "acme", "--yes")[0] == 0
    assert clients("show", "acme")[0] == 2


def test_store_options_work_before_and_after_the_action(clients: Clients, acme: str) -> None:
    # GIVEN acme WHEN listed with --json after the action, and --data-dir after it too
    code = cli.main(["clients", "list", "--json", "--data-dir", str(clients.data_dir)])
    captured = clients.capsys.readouterr()

    # THEN the listing is JSON naming acme
    assert code == 0
    assert [row["client"] for row in json.loads(captured.out)] == ["acme"]


def test_seeding_stores_every_sample_with_a_key_that_decides_as_the_sample_says(
    tmp_path: Path,
) -> None:
    # GIVEN an empty local store
    store = LocalPolicyStore(tmp_path)

    # WHEN the samples are seeded twice
    first = dict(seed_samples(store))
    second = dict(seed_samples(store))

    # THEN each sample has one record, and only the second keys work, as each sample's
    # status and expiry say
    assert sorted(second) == [
        "andes-express",
        "dormant-logistics",
        "lake-operator",
        "legacy-freight",
        "pacific-cargo",
        "rapid-parcel",
    ]
    assert len(store.list()) == 6
    expected = {
        "andes-express": "active",
        "dormant-logistics": "suspended",
        "lake-operator": "active",
        "legacy-freight": "expired",
        "pacific-cargo": "active",
        "rapid-parcel": "active",
    }
    assert {client: decide(store, key).reason for client, key in second.items()} == expected
    assert {decide(store, key).reason for key in first.values()} == {"unknown"}
    store.close()


def test_the_seed_command_prints_every_sample_key(clients: Clients) -> None:
    code, out, _ = clients("seed", "--json")

    assert code == 0
    issued = json.loads(out)
    assert len(issued) == 6
    store = clients.store()
    assert all(decide(store, row["api_key"]).reason != "unknown" for row in issued)
    store.close()


# --- end to end: the installed command against DynamoDB on moto's server --------------------


@pytest.fixture
def dynamodb_cli(moto_server: str) -> Iterator[tuple[list[str], dict[str, str], str]]:
    """The command line for a fresh table on moto, and the environment pointing boto3 there."""
    table = f"clients-{uuid.uuid4().hex[:12]}"
    executable = Path(sys.executable).with_name("serving-layer")
    command = [str(executable), "clients", "--store", "dynamodb", "--table", table]
    environment = {**os.environ, "AWS_ENDPOINT_URL": moto_server, "LOG_LEVEL": "INFO"}
    environment.pop("SERVING_POLICY_STORE", None)
    yield command, environment, table


def run(
    command: list[str], environment: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], env=environment, capture_output=True, text=True, timeout=120
    )


def test_the_command_manages_clients_in_dynamodb(
    dynamodb_cli: tuple[list[str], dict[str, str], str], moto_server: str
) -> None:
    command, environment, table = dynamodb_cli

    # GIVEN a table made by the command
    made = run(command, environment, "create-table")
    assert (made.returncode, made.stdout) == (0, f"table {table} created\n")

    # WHEN a client is created from a sample file, then rotated
    created = run(
        command,
        environment,
        "create",
        "pacific-cargo",
        "--policy",
        str(SAMPLES / "pacific-cargo.json"),
        "--json",
    )
    assert created.returncode == 0, created.stderr
    first_key = json.loads(created.stdout)["api_key"]
    rotated = run(command, environment, "rotate", "pacific-cargo", "--json")
    assert rotated.returncode == 0, rotated.stderr
    second_key = json.loads(rotated.stdout)["api_key"]
    listed = run(command, environment, "list")

    # THEN the authorizer, reading the same table over HTTP, refuses the first key and
    # allows the second
    store = DynamoDBPolicyStore(table, endpoint_url=moto_server)
    assert decide(store, first_key).reason == "unknown"
    assert decide(store, second_key).allowed
    store.close()

    # and the listing names the client and its key id, and no log line or listing holds a key
    assert listed.returncode == 0
    assert "pacific-cargo" in listed.stdout
    assert second_key.split("_")[1] in listed.stdout
    logs = made.stderr + created.stderr + rotated.stderr + listed.stderr + listed.stdout
    assert "client key rotated" in rotated.stderr
    for key in (first_key, second_key):
        assert key not in logs
        assert keys.hash_key(key) not in logs
