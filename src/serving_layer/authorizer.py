"""The authorizer's decision: which API key is calling, and which routes its policy opens.

API Gateway (HTTP API, payload format 2.0, IAM-policy answers, see the API Gateway developer
guide's "Working with AWS Lambda authorizers for HTTP APIs") calls this with a REQUEST event and
may cache the answer *per key* for every route. So the answer never depends on the route being
called: an allowed key gets an Allow on exactly the routes its policy grants (`Policy.routes()`
turned into execute-api ARNs of this API and stage), and the gateway refuses every other route
itself with a 403. A denied key gets a Deny on every route of the stage.

Between the gateway's cache and the store sits a small in-memory cache of client records keyed
by key hash (`SERVING_AUTH_CACHE_SECONDS`; misses for `NEGATIVE_CACHE_SECONDS`), so a warm
Lambda reads the store about once per key per TTL. Status and expiry are checked on every
decision, cached or not. Any failure to read the store denies (fail closed).

NOTE: the two caches add up. The gateway may cache, for its full TTL, an answer built from a
record this cache had held for nearly its own TTL, so a revocation or suspension can take up to
the sum of both TTLs to reach every route. Expiry is exact: the handlers check it again from
the policy in the context. Lowering either TTL shortens the delay; warm Lambdas have no channel
through which to be told to drop a record.

What is logged: one INFO line per decision with the key id, client, decision, reason and
milliseconds. Never the key, its hash, the headers or the event.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from serving_layer import config, keys
from serving_layer.errors import ServingError
from serving_layer.stores import ClientRecord, PolicyStore, get_store

NEGATIVE_CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000
IAM_VERSION = "2012-10-17"
INVOKE = "execute-api:Invoke"

_ROUTE_ARN = re.compile(
    r"arn:(?P<partition>[\w-]+):execute-api:(?P<region>[\w-]+):(?P<account>\d{12}):"
    r"(?P<api>[A-Za-z0-9]+)/(?P<stage>[^/]+)/(?P<method>[A-Z]+)(?P<path>/.*)?"
)


@dataclass(frozen=True)
class RouteArn:
    """The execute-api ARN of the route being called, split so ARNs of sibling routes of the
    same API and stage can be built: `arn:aws:execute-api:{region}:{account}:{api}/{stage}/…`."""

    partition: str
    region: str
    account: str
    api: str
    stage: str

    @classmethod
    def parse(cls, text: Any) -> RouteArn | None:
        if not isinstance(text, str):
            return None
        match = _ROUTE_ARN.fullmatch(text)
        if match is None:
            return None
        return cls(
            match["partition"], match["region"], match["account"], match["api"], match["stage"]
        )

    @property
    def base(self) -> str:
        return (
            f"arn:{self.partition}:execute-api:{self.region}:{self.account}:{self.api}/{self.stage}"
        )

    def route(self, method: str, path: str) -> str:
        """The ARN of one route; `path` starts with `/` and may hold `*` for a segment."""
        return f"{self.base}/{method}{path}"

    @property
    def every_route(self) -> str:
        return f"{self.base}/*"


@dataclass(frozen=True)
class Decision:
    """Whether a key may use the API, why, and the record it was decided on."""

    allowed: bool
    reason: str  # active | missing | malformed | unknown | suspended | revoked | expired | …
    record: ClientRecord | None = None
    key_id: str | None = None
    cached: bool = False


class Authorizer:
    """Decides on payload-2.0 REQUEST events against a policy store.

    `store` defaults to the configured one, built on first use; `clock` returns now as a naive
    UTC datetime and drives both the cache's TTL and expiry checks, so tests can move time.
    """

    def __init__(
        self,
        store: PolicyStore | None = None,
        clock: Callable[[], datetime] | None = None,
        cache_seconds: float | None = None,
        logger: Any = None,
    ) -> None:
        self._store = store
        self._open_store = configured_store()
        self.clock = clock or _utc_now
        self.cache_seconds = float(
            config.AUTH_CACHE_SECONDS.get(None if cache_seconds is None else str(cache_seconds))
        )
        self.negative_seconds = min(self.cache_seconds, NEGATIVE_CACHE_SECONDS)
        self.logger = logger or logging.getLogger(__name__)
        self._cache: dict[str, tuple[datetime, ClientRecord | None]] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> PolicyStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def answer(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """API Gateway's answer to `event`: an IAM policy with, when allowed, the context."""
        started = time.perf_counter()
        decision = self.decide(event)
        route_arn = RouteArn.parse(event.get("routeArn"))

        if decision.allowed and route_arn is None:
            decision = Decision(False, "bad-route-arn", decision.record, decision.key_id)
        if decision.allowed and decision.record is not None and route_arn is not None:
            response = allow_answer(decision.record, route_arn)
        else:
            response = deny_answer(decision.key_id, route_arn)

        self._log(event, decision, (time.perf_counter() - started) * 1000)
        return response

    def decide(self, event: Mapping[str, Any]) -> Decision:
        """The decision for the key in `event`'s `Authorization: Bearer …` header."""
        header = authorization(event)
        if header is None:
            return Decision(False, "missing")
        parsed = keys.parse_key(bearer_token(header))
        if parsed is None:
            return Decision(False, "malformed")

        try:
            record, cached = self._record(parsed.key_hash)
        except Exception as error:  # fail closed on anything the store does
            self._log_store_failure(error, parsed.key_id)
            return Decision(False, "store-error", key_id=parsed.key_id)

        # The store found the record by this hash; checking it again in constant time guards
        # against a store that answers the wrong record.
        if (
            record is None
            or record.key_id != parsed.key_id
            or not keys.hashes_match(record.key_hash, parsed.key_hash)
        ):
            return Decision(False, "unknown", key_id=parsed.key_id, cached=cached)

        usable, reason = record.policy.is_usable(self.clock())
        return Decision(usable, reason, record, parsed.key_id, cached)

    def forget(self) -> None:
        """Drop every cached record (tests, and a local operator who wants changes now)."""
        with self._lock:
            self._cache.clear()

    def _record(self, key_hash: str) -> tuple[ClientRecord | None, bool]:
        """The record of `key_hash` from the cache while fresh, else from the store."""
        now = self.clock()
        with self._lock:
            entry = self._cache.get(key_hash)
        if entry is not None:
            stored_at, record = entry
            ttl = self.cache_seconds if record is not None else self.negative_seconds
            if 0 <= (now - stored_at).total_seconds() < ttl:
                return record, True

        record = self.store.get(key_hash)
        if self.cache_seconds > 0:
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    # NOTE: drops the oldest insertion, not the least used: simple, and a warm
                    # Lambda rarely sees 10,000 keys within one TTL. An LRU would suit more.
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key_hash] = (now, record)
        return record, False

    def _log(self, event: Mapping[str, Any], decision: Decision, ms: float) -> None:
        record = decision.record
        fields = {
            "decision": "allow" if decision.allowed else "deny",
            "reason": decision.reason,
            "key_id": decision.key_id,
            "client": record.client if record is not None else None,
            "route": event.get("routeKey"),
            "cached": decision.cached,
            "ms": round(ms, 2),
        }
        text = " ".join(f"{name}={value}" for name, value in fields.items())
        self.logger.info(f"authorizer {text}", extra=fields)

    def _log_store_failure(self, error: Exception, key_id: str) -> None:
        # Our own errors carry a message written without the key or hash; anything else is
        # named by its type only, since a foreign message might echo request values.
        what = error.detail if isinstance(error, ServingError) else type(error).__name__
        self.logger.error(
            f"authorizer store failure key_id={key_id}: {what}",
            extra={"key_id": key_id, "error": type(error).__name__},
        )


def configured_store() -> Callable[[], PolicyStore]:
    """The configured store, named now (a handler is imported with its own environment) and
    built on first use, so importing the handler needs neither AWS settings nor a database."""
    name = config.POLICY_STORE.get()
    if name == "dynamodb":
        return partial(get_store, name, table_name=config.CLIENTS_TABLE.get())
    return partial(get_store, name, data_dir=config.DATA_DIR.get())


def allow_answer(record: ClientRecord, route_arn: RouteArn) -> dict[str, Any]:
    """Allow exactly the routes the policy grants, whichever route is being called."""
    resources = [route_arn.route(method, path) for method, path in record.policy.routes()]
    return {
        "principalId": record.key_id,
        "policyDocument": _document("Allow", resources),
        "context": {
            "client": record.client,
            "key_id": record.key_id,
            "policy": record.policy.to_json(),
        },
    }


def deny_answer(key_id: str | None, route_arn: RouteArn | None) -> dict[str, Any]:
    """Deny every route of the stage (or everything when the event names no route)."""
    resource = route_arn.every_route if route_arn is not None else "*"
    return {"principalId": key_id or "anonymous", "policyDocument": _document("Deny", [resource])}


def authorization(event: Mapping[str, Any]) -> str | None:
    """The Authorization header's value (names are case-insensitive), else the identity
    source the gateway extracted, else None."""
    headers = event.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(name, str) and name.lower() == "authorization":
                return value if isinstance(value, str) else None
    sources = event.get("identitySource")
    if isinstance(sources, list) and sources and isinstance(sources[0], str):
        return sources[0]
    return None


def bearer_token(header: str) -> str | None:
    """The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110 §11.1)."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def policy_allows(document: Mapping[str, Any], arn: str) -> bool:
    """Whether an IAM policy document lets `arn` be invoked: an explicit Deny wins, then any
    Allow; `*` matches any run of characters and `?` one, as IAM resource matching does.

    For the local gateway, which must apply the authorizer's answer as API Gateway would.
    """
    allowed = False
    for statement in document.get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_resource_pattern(r).fullmatch(arn) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _resource_pattern(resource: str) -> re.Pattern[str]:
    parts = re.split(r"([*?])", resource)
    return re.compile("".join({"*": ".*", "?": "."}.get(p, re.escape(p)) for p in parts), re.DOTALL)


def _document(effect: str, resources: list[str]) -> dict[str, Any]:
    return {
        "Version": IAM_VERSION,
        "Statement": [{"Action": INVOKE, "Effect": effect, "Resource": resources}],
    }


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
