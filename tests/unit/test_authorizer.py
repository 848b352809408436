"""The authorizer's decisions: who is let in, on which routes, for how long.

The store is the real SQLite store in a temporary folder; time is an injected clock. The
gateway's cache is simulated by evaluating one answer against other routes' ARNs with a small
matcher written here (IAM resource matching: `*` is any run of characters, `?` one character),
independent of the code under test.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from design import ENDPOINT_NAMES
from serving_layer import keys
from serving_layer.authorizer import Authorizer, policy_allows
from serving_layer.errors import PolicyStoreError
from serving_layer.policy import Policy
from serving_layer.stores import ClientRecord
from serving_layer.stores.local import LocalPolicyStore

PROJECT = Path(__file__).resolve().parents[2]
EVENTS = PROJECT / "events" / "authorizer"
STAGE = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/$default"
T0 = datetime(2026, 3, 1, 12, 0, 0)

# A client granted one endpoint and inserts into orders.
COUNTS = {
    "client": "andes-express",
    "scope": [1, 2],
    "endpoints": {"count_orders_by_range": {}},
    "tables": {"orders": ["insert"]},
}


class Clock:
    """Now, as the test says it is."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingStore(LocalPolicyStore):
    """The SQLite store, counting reads by key hash."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.reads = 0

    def _get(self, key_hash: str) -> ClientRecord | None:
        self.reads += 1
        return super()._get(key_hash)


def load_event(name: str, authorization: str | None = None) -> dict[str, Any]:
    """A real payload-2.0 REQUEST event from events/authorizer, carrying `authorization`."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    if authorization is not None:
        event["headers"]["authorization"] = authorization
        event["identitySource"] = [authorization]
    return event


def add_client(store: LocalPolicyStore, document: dict[str, Any], **changes: Any) -> str:
    """Store a client with `document` (+ `changes`) under a new key; the key."""
    issued = keys.new_key()
    policy = Policy.from_dict({**document, **changes})
    store.put(ClientRecord(issued.key_hash, issued.key_id, policy, created_at=T0))
    return issued.key


def set_status(store: LocalPolicyStore, key: str, status: str) -> None:
    record = store.get(keys.hash_key(key))
    assert record is not None
    document = {**record.policy.to_dict(), "status": status}
    store.put(ClientRecord(record.key_hash, record.key_id, Policy.from_dict(document), T0))


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching by dynamic programming: `*` any run (slashes too), `?` one."""
    literal = pattern.split("*", 1)[0].split("?", 1)[0]
    if not arn.startswith(literal):
        return False  # a shortcut only: the literal head must match as it is
    # reach[j]: the pattern read so far matches arn[:j]
    reach = [True] + [False] * len(arn)
    for symbol in pattern:
        if symbol == "*":
            for j in range(1, len(arn) + 1):
                reach[j] = reach[j] or reach[j - 1]
        else:
            reach = [False] + [
                reach[j - 1] and (symbol == "?" or symbol == arn[j - 1])
                for j in range(1, len(arn) + 1)
            ]
    return reach[len(arn)]


def gateway_allows(answer: dict[str, Any], arn: str) -> bool:
    """How API Gateway applies a (cached) IAM answer to a route: Deny wins, then any Allow."""
    verdict = False
    for statement in answer["policyDocument"]["Statement"]:
        assert statement["Action"] == "execute-api:Invoke"
        resources = statement["Resource"]
        if isinstance(resources, str):
            resources = [resources]
        if any(arn_matches(r, arn) for r in resources):
            if statement["Effect"] == "Deny":
                return False
            verdict = True
    return verdict


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    store = CountingStore(tmp_path)
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def authorizer(store: CountingStore, clock: Clock) -> Authorizer:
    return Authorizer(store=store, clock=clock, cache_seconds=30)


def effect(answer: dict[str, Any]) -> str:
    statements = answer["policyDocument"]["Statement"]
    assert len(statements) == 1
    effect: str = statements[0]["Effect"]
    return effect


# --- who is let in ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "allowed", "reason"),
    [
        ({}, True, "active"),
        ({"status": "active", "expires_at": "2026-03-01T12:00:01Z"}, True, "active"),
        ({"expires_at": "2026-03-01T12:00:00Z"}, False, "expired"),
        ({"expires_at": "2025-12-31"}, False, "expired"),
        ({"status": "suspended"}, False, "suspended"),
        ({"status": "revoked"}, False, "revoked"),
        ({"status": "suspended", "expires_at": "2025-01-01"}, False, "suspended"),
    ],
)
def test_status_and_expiry_decide(
    store: CountingStore,
    authorizer: Authorizer,
    changes: dict[str, Any],
    allowed: bool,
    reason: str,
) -> None:
    # GIVEN a client in that state, at 2026-03-01T12:00:00Z
    key = add_client(store, COUNTS, **changes)

    # WHEN it calls
    event = load_event("query.json", f"Bearer {key}")
    decision = authorizer.decide(event)
    answer = authorizer.answer(event)

    # THEN the decision and the answer's effect follow the state
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert effect(answer) == ("Allow" if allowed else "Deny")


def test_an_unknown_key_is_denied(authorizer: Authorizer) -> None:
    # GIVEN a well-formed key nobody holds
    key = keys.new_key()

    # WHEN it calls
    answer = authorizer.answer(load_event("query.json", f"Bearer {key.key}"))

    # THEN every route of the stage is denied, under its public key id
    assert answer == {
        "principalId": key.key_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [f"{STAGE}/*"]}
            ],
        },
    }
    assert authorizer.decide(load_event("query.json", f"Bearer {key.key}")).reason == "unknown"


def malformed_headers(key: str) -> list[tuple[str | None, str]]:
    return [
        (None, "missing"),
        (f"Basic {key}", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer ", "malformed"),
        (key, "malformed"),  # no scheme
        (f"Bearer {key} extra", "malformed"),
        (f"Bearer {key}x", "malformed"),
        (f"Bearer {key[:-1]}", "malformed"),
        (f"Bearer {key.upper()}", "malformed"),
        (f"Bearer {key},Bearer {key}", "malformed"),  # the gateway joins repeated headers
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "malformed"),
    ]


@pytest.mark.parametrize("case", range(len(malformed_headers("k"))))
def test_missing_and_malformed_headers_are_denied(
    store: CountingStore, authorizer: Authorizer, case: int
) -> None:
    # GIVEN a working key, presented wrongly
    key = add_client(store, COUNTS)
    header, reason = malformed_headers(key)[case]
    event = load_event("query.json")
    del event["headers"]["authorization"]
    event["identitySource"] = []
    if header is not None:
        event["headers"]["authorization"] = header

    # WHEN it calls
    decision = authorizer.decide(event)
    answer = authorizer.answer(event)

    # THEN it is denied without reading the store, and no key id is claimed
    assert (decision.allowed, decision.reason) == (False, reason)
    assert effect(answer) == "Deny"
    assert answer["principalId"] == "anonymous"
    assert "context" not in answer
    assert store.reads == 0


@pytest.mark.parametrize(
    ("name", "reason"), [("no_authorization.json", "missing"), ("basic_scheme.json", "malformed")]
)
def test_the_sample_events_without_a_bearer_key_are_denied(
    authorizer: Authorizer, name: str, reason: str
) -> None:
    decision = authorizer.decide(load_event(name))

    assert (decision.allowed, decision.reason) == (False, reason)


@pytest.mark.parametrize(
    "present",
    [
        lambda e, key: e["headers"].update(authorization=f"bearer {key}"),
        lambda e, key: e["headers"].update(authorization=f"BEARER  {key} "),
        lambda e, key: e["headers"].update(Authorization=f"Bearer {key}"),
        lambda e, key: e.update(identitySource=[f"Bearer {key}"]),  # headers without it
    ],
    ids=["lowercase-scheme", "uppercase-scheme-spaces", "capitalised-header", "identity-source"],
)
def test_the_header_is_read_however_it_is_spelled(
    store: CountingStore, authorizer: Authorizer, present: Callable[[dict[str, Any], str], None]
) -> None:
    # GIVEN an event whose key arrives in one of the accepted spellings
    key = add_client(store, COUNTS)
    event = load_event("query.json")
    del event["headers"]["authorization"]
    event["identitySource"] = []
    present(event, key)

    # WHEN / THEN it is allowed
    assert authorizer.decide(event).allowed


def test_a_record_filed_under_the_hash_with_another_key_id_is_refused(
    store: CountingStore, authorizer: Authorizer
) -> None:
    # GIVEN a record stored under the key's hash but naming another key id
    issued = keys.new_key()
    other_id = "ffffffff" if issued.key_id != "ffffffff" else "00000000"
    store.put(ClientRecord(issued.key_hash, other_id, Policy.from_dict(COUNTS), created_at=T0))

    # WHEN the key calls THEN it is refused as unknown
    decision = authorizer.decide(load_event("query.json", f"Bearer {issued.key}"))
    assert (decision.allowed, decision.reason) == (False, "unknown")


def test_an_event_without_a_route_arn_is_denied(
    store: CountingStore, authorizer: Authorizer
) -> None:
    key = add_client(store, COUNTS)
    event = load_event("query.json", f"Bearer {key}")
    event["routeArn"] = "not-an-arn"

    answer = authorizer.answer(event)

    assert answer["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": ["*"],
    }


# --- which routes ------------------------------------------------------------------------


def test_an_allow_answer_grants_exactly_the_policys_routes(
    store: CountingStore, authorizer: Authorizer
) -> None:
    # GIVEN a client with one endpoint and insert on orders
    key = add_client(store, COUNTS)
    key_id = key.split("_")[1]

    # WHEN it calls any route
    answer = authorizer.answer(load_event("query.json", f"Bearer {key}"))

    # THEN the answer allows /v1/me, its endpoint and its insert route, and carries its policy
    assert answer["principalId"] == key_id
    assert answer["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": [
                    f"{STAGE}/GET/v1/me",
                    f"{STAGE}/GET/v1/queries/count_orders_by_range",
                    f"{STAGE}/POST/v1/tables/orders/rows",
                ],
            }
        ],
    }
    context = answer["context"]
    assert set(context) == {"client", "key_id", "policy"}
    assert (context["client"], context["key_id"]) == ("andes-express", key_id)
    assert all(isinstance(value, str) for value in context.values())
    assert Policy.from_json(context["policy"]) == Policy.from_dict({**COUNTS, "key_id": key_id})


def test_the_answer_is_the_same_whichever_route_is_called(
    store: CountingStore, authorizer: Authorizer
) -> None:
    # GIVEN one key WHEN it calls four different routes
    key = add_client(store, COUNTS)
    names = ("query.json", "me.json", "table_insert.json", "table_delete.json")
    answers = [authorizer.answer(load_event(name, f"Bearer {key}")) for name in names]

    # THEN the four answers are identical, so caching one by key is safe
    assert all(answer == answers[0] for answer in answers)


@pytest.mark.parametrize(
    ("arn", "allowed"),
    [
        (f"{STAGE}/GET/v1/queries/count_orders_by_range", True),
        (f"{STAGE}/GET/v1/me", True),
        (f"{STAGE}/POST/v1/tables/orders/rows", True),
        (f"{STAGE}/GET/v1/queries/all_orders_by_range", False),
        (f"{STAGE}/GET/v1/queries/count_orders_by_range_x", False),
        (f"{STAGE}/POST/v1/tables/trackcode/rows", False),
        (f"{STAGE}/PUT/v1/tables/orders/rows", False),
        (f"{STAGE}/DELETE/v1/tables/orders/rows/7", False),
        (f"{STAGE}/GET/v1/tables/orders/rows/7", False),
        (f"{STAGE}/GET/v1/tables/orders/snapshots", False),
        (STAGE.replace("$default", "prod") + "/GET/v1/me", False),
        (STAGE.replace("a1b2c3d4e5", "zzzzzzzzzz") + "/GET/v1/me", False),
    ],
)
def test_a_cached_answer_for_one_route_never_opens_another(
    store: CountingStore, authorizer: Authorizer, arn: str, allowed: bool
) -> None:
    # GIVEN the answer the gateway cached when the key called GET /v1/queries/all_orders_by_range
    # (a route it may not call)
    key = add_client(store, COUNTS)
    cached = authorizer.answer(load_event("query.json", f"Bearer {key}"))

    # WHEN the gateway applies that cached answer to another route THEN only granted routes pass
    assert gateway_allows(cached, arn) is allowed
    # and the authorizer's own matcher, offered to the local gateway, agrees
    assert policy_allows(cached["policyDocument"], arn) is allowed


def concrete_routes() -> list[tuple[str, str, str, str | None]]:
    """(method, path, what, operation) for every route an API call can hit, written out."""
    routes: list[tuple[str, str, str, str | None]] = [("GET", "/v1/me", "me", None)]
    endpoints = list(ENDPOINT_NAMES)
    routes += [("GET", f"/v1/queries/{name}", name, None) for name in endpoints]
    tables = ["country", "city", "client", "service", "product_size", "route", "trackcode"]
    for table in [*tables, "orders"]:
        routes += [
            ("POST", f"/v1/tables/{table}/rows", table, "insert"),
            ("PUT", f"/v1/tables/{table}/rows", table, "upsert"),
            ("GET", f"/v1/tables/{table}/rows/12345", table, "read"),
            ("GET", f"/v1/tables/{table}/snapshots", table, "read"),
            ("PATCH", f"/v1/tables/{table}/rows/12345", table, "update"),
            ("DELETE", f"/v1/tables/{table}/rows/12345", table, "delete"),
        ]
    return routes


@pytest.mark.parametrize("sample", sorted((PROJECT / "samples" / "clients").glob("*.json")))
def test_every_sample_policy_opens_exactly_its_routes(
    store: CountingStore, clock: Clock, sample: Path
) -> None:
    # GIVEN a sample client, made active and unexpired for this test
    document = json.loads(sample.read_text())
    key = add_client(store, document, status="active", expires_at=None)
    authorizer = Authorizer(store=store, clock=clock, cache_seconds=30)
    cached = authorizer.answer(load_event("me.json", f"Bearer {key}"))

    # WHEN each concrete route is tried against the cached answer
    for method, path, what, operation in concrete_routes():
        verdict = gateway_allows(cached, f"{STAGE}/{method}{path}")

        # THEN it passes exactly when the policy document grants it
        if operation is None:
            expected = what == "me" or what in document["endpoints"]
        else:
            expected = operation in document["tables"].get(what, [])
        assert verdict is expected, (method, path)


# --- for how long ------------------------------------------------------------------------


def test_a_revocation_takes_effect_within_the_cache_ttl(
    store: CountingStore, authorizer: Authorizer, clock: Clock
) -> None:
    # GIVEN a key allowed at T0 (its record now cached)
    key = add_client(store, COUNTS)
    event = load_event("query.json", f"Bearer {key}")
    assert authorizer.decide(event).allowed

    # WHEN it is revoked in the store
    set_status(store, key, "revoked")

    # THEN the cached record may still answer until the TTL ends, and never after it
    clock.advance(29.9)
    assert authorizer.decide(event).allowed
    clock.advance(0.1)
    decision = authorizer.decide(event)
    assert (decision.allowed, decision.reason, decision.cached) == (False, "revoked", False)


def test_expiry_is_checked_at_each_decision_even_from_the_cache(
    store: CountingStore, authorizer: Authorizer, clock: Clock
) -> None:
    # GIVEN a key expiring 5 s after T0, allowed at T0
    key = add_client(store, COUNTS, expires_at="2026-03-01T12:00:05Z")
    event = load_event("query.json", f"Bearer {key}")
    assert authorizer.decide(event).allowed

    # WHEN 5 s pass (well inside the cache TTL)
    clock.advance(5)
    decision = authorizer.decide(event)

    # THEN the cached record is used, and refused as expired
    assert (decision.allowed, decision.reason, decision.cached) == (False, "expired", True)
    assert store.reads == 1


def test_an_unknown_key_is_remembered_only_briefly(
    store: CountingStore, authorizer: Authorizer, clock: Clock
) -> None:
    # GIVEN a key refused as unknown at T0
    issued = keys.new_key()
    event = load_event("query.json", f"Bearer {issued.key}")
    assert authorizer.decide(event).reason == "unknown"

    # WHEN its record appears in the store
    store.put(ClientRecord(issued.key_hash, issued.key_id, Policy.from_dict(COUNTS), T0))

    # THEN the refusal is reused for under 5 s, then the store is asked again
    clock.advance(4.9)
    assert authorizer.decide(event).reason == "unknown"
    assert store.reads == 1
    clock.advance(0.1)
    assert authorizer.decide(event).allowed
    assert store.reads == 2


def test_a_warm_authorizer_reads_the_store_once_per_key_per_ttl(
    store: CountingStore, authorizer: Authorizer, clock: Clock
) -> None:
    # GIVEN two keys
    first, second = add_client(store, COUNTS), add_client(store, COUNTS, client="pacific-cargo")

    # WHEN each calls ten times within 30 s, then once after
    for _ in range(10):
        for key in (first, second):
            authorizer.answer(load_event("query.json", f"Bearer {key}"))
        clock.advance(2)
    reads_within_ttl = store.reads
    clock.advance(30)
    authorizer.answer(load_event("query.json", f"Bearer {first}"))

    # THEN the store was read once per key, and again when the TTL had passed
    assert reads_within_ttl == 2
    assert store.reads == 3


def test_a_zero_ttl_reads_the_store_every_time(store: CountingStore, clock: Clock) -> None:
    key = add_client(store, COUNTS)
    authorizer = Authorizer(store=store, clock=clock, cache_seconds=0)

    for _ in range(3):
        authorizer.decide(load_event("query.json", f"Bearer {key}"))

    assert store.reads == 3


class FailingStore(CountingStore):
    """Emulates an unreachable store (DynamoDB throttling or down) while `failing` is set."""

    failing = True

    def _get(self, key_hash: str) -> ClientRecord | None:
        if self.failing:
            self.reads += 1
            raise PolicyStoreError("DynamoDB GetItem failed: ThrottlingException")
        return super()._get(key_hash)


def test_a_failing_store_denies_and_the_failure_is_not_cached(
    tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> None:
    # GIVEN a valid key and a store that fails
    store = FailingStore(tmp_path)
    request.addfinalizer(store.close)
    key = add_client(store, COUNTS)
    authorizer = Authorizer(store=store, clock=clock, cache_seconds=30)
    event = load_event("query.json", f"Bearer {key}")

    # WHEN it calls THEN it is denied (fail closed)
    decision = authorizer.decide(event)
    assert (decision.allowed, decision.reason) == (False, "store-error")
    assert effect(authorizer.answer(event)) == "Deny"

    # and as soon as the store answers again, the key is allowed
    store.failing = False
    assert authorizer.decide(event).allowed


def test_a_stored_policy_that_does_not_parse_denies(
    store: CountingStore, authorizer: Authorizer
) -> None:
    # GIVEN a record whose policy JSON was damaged in the store
    key = add_client(store, COUNTS)
    with store._connection() as connection:
        connection.execute("UPDATE clients SET policy = '{\"client\": 5}'")

    # WHEN / THEN the key is refused
    decision = authorizer.decide(load_event("query.json", f"Bearer {key}"))
    assert (decision.allowed, decision.reason) == (False, "store-error")


def test_the_authorizer_does_not_change_the_event(
    store: CountingStore, authorizer: Authorizer
) -> None:
    key = add_client(store, COUNTS)
    event = load_event("table_insert.json", f"Bearer {key}")
    before = copy.deepcopy(event)

    authorizer.answer(event)

    assert event == before
