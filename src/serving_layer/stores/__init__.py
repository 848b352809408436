"""Where client records live: one interface, a DynamoDB table in the cloud, SQLite on a laptop.

A client record is keyed by the hash of its API key (never the key): the authorizer hashes the
presented key and reads one record. Everything else (listing, finding a client by name or key
id) is for the operator's command line and may scan.

The backend is chosen by name (`SERVING_POLICY_STORE`) and imported only when chosen, so the
authorizer Lambda loads boto3 but never SQLite helpers, and a laptop never needs AWS.
"""

from __future__ import annotations

import builtins
import importlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from serving_layer import config, keys
from serving_layer.errors import InvalidPolicyError
from serving_layer.policy import Policy, Status

# name: (module, class, what to install when the import fails)
STORES: dict[str, tuple[str, str, str]] = {
    "dynamodb": ("serving_layer.stores.dynamodb", "DynamoDBPolicyStore", "boto3"),
    "local": ("serving_layer.stores.local", "LocalPolicyStore", "the standard library's sqlite3"),
}

_KEY_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ClientRecord:
    """One API key of one client: its hash, its public id, when it was made, and its policy.

    The policy's own `key_id` is set to the record's, so the policy handed to the handlers
    always names the key it came with.
    """

    key_hash: str = field(repr=False)
    key_id: str
    policy: Policy
    created_at: datetime
    rotated_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.policy.key_id != self.key_id:
            object.__setattr__(self, "policy", replace(self.policy, key_id=self.key_id))

    @property
    def client(self) -> str:
        return self.policy.client

    @property
    def status(self) -> Status:
        return self.policy.status

    @property
    def expires_at(self) -> datetime | None:
        return self.policy.expires_at

    def to_item(self) -> dict[str, str]:
        """The flat string attributes both stores keep: the policy as JSON, plus copies of the
        fields an operator lists by (client, status, expiry)."""
        item = {
            "key_hash": self.key_hash,
            "key_id": self.key_id,
            "client": self.client,
            "status": self.status.value,
            "created_at": format_instant(self.created_at),
            "policy": self.policy.to_json(),
        }
        if self.expires_at is not None:
            item["expires_at"] = format_instant(self.expires_at)
        if self.rotated_at is not None:
            item["rotated_at"] = format_instant(self.rotated_at)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, str]) -> ClientRecord:
        """Read a stored item back; the policy JSON is the truth, the copies are for listing."""
        key_id = item["key_id"]
        try:
            policy = Policy.from_json(item["policy"])
        except InvalidPolicyError as error:
            raise InvalidPolicyError(
                f"the stored policy of key {key_id} does not parse: {error.detail}"
            ) from None
        rotated_at = item.get("rotated_at")
        return cls(
            key_hash=item["key_hash"],
            key_id=key_id,
            policy=policy,
            created_at=parse_instant(item["created_at"]),
            rotated_at=parse_instant(rotated_at) if rotated_at else None,
        )


class PolicyStore(ABC):
    """Client records by key hash. Backends fill the protected methods; the public ones check
    their arguments first, so a malformed hash never reaches a database."""

    name: ClassVar[str]

    def get(self, key_hash: str) -> ClientRecord | None:
        """The record of this key hash, or None. Raises PolicyStoreError when unreachable."""
        if _KEY_HASH.fullmatch(key_hash) is None:
            return None
        return self._get(key_hash)

    def put(self, record: ClientRecord) -> None:
        """Create or replace the record of `record.key_hash`."""
        self._check(record)
        self._put(record)

    def delete(self, key_hash: str) -> bool:
        """Remove a record; whether there was one."""
        if _KEY_HASH.fullmatch(key_hash) is None:
            return False
        return self._delete(key_hash)

    def replace(self, old_key_hash: str, record: ClientRecord) -> None:
        """Put `record` and delete the record of `old_key_hash` in one step (key rotation).

        Raises ConflictError, changing nothing, when the old record is already gone.
        """
        self._check(record)
        self._replace(old_key_hash, record)

    def list(self) -> list[ClientRecord]:
        """Every record, ordered by client name then key id."""
        return sorted(self._list(), key=lambda r: (r.client, r.key_id))

    def find_by_key_id(self, key_id: str) -> ClientRecord | None:
        # NOTE: scans every record; fine for the operator's commands (thousands of clients),
        # never used by the authorizer. A key-id index would lift it if that ever changes.
        return next((r for r in self.list() if r.key_id == key_id), None)

    def find_by_client(self, name: str) -> builtins.list[ClientRecord]:
        return [r for r in self.list() if r.client == name]

    def find(self, key_id_or_name: str) -> ClientRecord | None:
        """The record named by a key id, else the one record of a client of that name."""
        if keys.is_key_id(key_id_or_name):
            record = self.find_by_key_id(key_id_or_name)
            if record is not None:
                return record
        matches = self.find_by_client(key_id_or_name)
        return matches[0] if len(matches) == 1 else None

    def close(self) -> None:  # noqa: B027 - optional for backends, not abstract
        """Release what the store holds open (connections); the default holds nothing."""

    @staticmethod
    def _check(record: ClientRecord) -> None:
        if _KEY_HASH.fullmatch(record.key_hash) is None:
            raise ValueError("a record's key_hash is the 64-character SHA-256 hex of its key")
        if not keys.is_key_id(record.key_id):
            raise ValueError(f"a key id is 8 lowercase hex characters; got {record.key_id!r}")

    @abstractmethod
    def _get(self, key_hash: str) -> ClientRecord | None: ...

    @abstractmethod
    def _put(self, record: ClientRecord) -> None: ...

    @abstractmethod
    def _delete(self, key_hash: str) -> bool: ...

    @abstractmethod
    def _replace(self, old_key_hash: str, record: ClientRecord) -> None: ...

    @abstractmethod
    def _list(self) -> builtins.list[ClientRecord]: ...


def get_store(name: str | None = None, **options: Any) -> PolicyStore:
    """The policy store called `name` (else `SERVING_POLICY_STORE`), built with `options`."""
    name = config.POLICY_STORE.get(name)
    if name not in STORES:
        raise ValueError(f"unknown policy store {name!r}; the stores are: {', '.join(STORES)}")
    module_name, class_name, needs = STORES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"the {name} policy store needs {needs}: {error}") from error
    store: PolicyStore = getattr(module, class_name)(**options)
    return store


def utc_now() -> datetime:
    """Now as a naive UTC datetime, the form the policy model uses."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def format_instant(value: datetime) -> str:
    return value.isoformat(timespec="seconds") + "Z"


def parse_instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
