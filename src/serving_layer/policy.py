"""A client's policy: who it is, which rows it sees, and what each endpoint and table grants.

A policy is a JSON document (the same in DynamoDB, in the local store, in `samples/clients/` and
in the authorizer's context for the handlers). Parsing checks every endpoint, field, mask and
table name against the endpoint specs and the data model and says exactly which one is unknown,
so a policy that loads is one the query path can trust.

    {
      "client": "andes-express",
      "status": "active",
      "expires_at": "2027-06-30T00:00:00Z",
      "scope": [101, 102],                       # or "all"
      "endpoints": {
        "all_orders_by_range": {
          "fields": ["trackcode_id", "creation", "drop_address"],   # or "all" (default)
          "masks": {"drop_address": "partial"},
          "max_range_days": 31,
          "max_rows": 1000
        }
      },
      "tables": {"trackcode": ["read", "insert", "upsert"]}
    }
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from serving_layer import model
from serving_layer.compiler import Scope, parse_instant
from serving_layer.endpoints import ENDPOINTS
from serving_layer.errors import InvalidPolicyError, InvalidRangeError, InvalidScopeError

DEFAULT_MAX_RANGE_DAYS = 31
DEFAULT_MAX_ROWS = 1000
LONGEST_RANGE_DAYS = 3660
MOST_ROWS = 10_000

E = TypeVar("E", bound=Enum)


class Mask(Enum):
    """How a granted field is disguised before it leaves the API."""

    REDACT = "redact"  # the value becomes null
    PARTIAL = "partial"  # text keeps only its last characters
    HASH = "hash"  # a stable keyed pseudonym: equal values stay equal, nothing is revealed


class Status(Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Operation(Enum):
    """What a table grant allows, and the route that does it."""

    READ = "read"  # GET a row by id, GET the table's snapshots
    INSERT = "insert"  # POST a batch of new rows
    UPSERT = "upsert"  # PUT a batch, matched by primary key
    UPDATE = "update"  # PATCH one row
    DELETE = "delete"  # DELETE one row


OPERATION_ROUTES: dict[Operation, tuple[tuple[str, str], ...]] = {
    Operation.READ: (("GET", "/v1/tables/{table}/rows/*"), ("GET", "/v1/tables/{table}/snapshots")),
    Operation.INSERT: (("POST", "/v1/tables/{table}/rows"),),
    Operation.UPSERT: (("PUT", "/v1/tables/{table}/rows"),),
    Operation.UPDATE: (("PATCH", "/v1/tables/{table}/rows/*"),),
    Operation.DELETE: (("DELETE", "/v1/tables/{table}/rows/*"),),
}


@dataclass(frozen=True)
class EndpointGrant:
    """What one endpoint grants: its fields (None for all), their masks, and the limits."""

    endpoint: str
    fields: frozenset[str] | None = None
    masks: dict[str, Mask] = field(default_factory=dict)
    max_range_days: int = DEFAULT_MAX_RANGE_DAYS
    max_rows: int = DEFAULT_MAX_ROWS

    @property
    def granted_fields(self) -> tuple[str, ...]:
        """The granted field names in the endpoint's own column order."""
        names = ENDPOINTS[self.endpoint].field_names
        return tuple(n for n in names if self.fields is None or n in self.fields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": "all" if self.fields is None else sorted(self.fields),
            "masks": {name: mask.value for name, mask in sorted(self.masks.items())},
            "max_range_days": self.max_range_days,
            "max_rows": self.max_rows,
        }


@dataclass(frozen=True)
class Policy:
    """Everything the API lets one client do. Parse with `Policy.from_dict`."""

    client: str
    scope: Scope
    endpoints: dict[str, EndpointGrant]
    tables: dict[str, frozenset[Operation]] = field(default_factory=dict)
    status: Status = Status.ACTIVE
    expires_at: datetime | None = None
    key_id: str | None = None

    def is_usable(self, now: datetime | None = None) -> tuple[bool, str]:
        """Whether the policy may be used now, with the reason when it may not."""
        if self.status is not Status.ACTIVE:
            return False, self.status.value
        now = now or datetime.now(UTC).replace(tzinfo=None)
        if self.expires_at is not None and now >= self.expires_at:
            return False, "expired"
        return True, "active"

    def grant(self, endpoint: str) -> EndpointGrant | None:
        return self.endpoints.get(endpoint)

    def may(self, table: str, operation: Operation) -> bool:
        return operation in self.tables.get(table, frozenset())

    def routes(self) -> list[tuple[str, str]]:
        """The (method, path) pairs this policy opens; `*` stands for one path segment."""
        routes = [("GET", "/v1/me")]
        routes += [("GET", f"/v1/queries/{name}") for name in sorted(self.endpoints)]
        for table, operations in sorted(self.tables.items()):
            for operation in sorted(operations, key=lambda op: op.value):
                for method, path in OPERATION_ROUTES[operation]:
                    routes.append((method, path.format(table=table)))
        return routes

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "client": self.client,
            "status": self.status.value,
            "expires_at": _format_instant(self.expires_at),
            "scope": "all" if self.scope.client_ids is None else sorted(self.scope.client_ids),
            "endpoints": {name: g.to_dict() for name, g in sorted(self.endpoints.items())},
            "tables": {
                table: sorted(op.value for op in ops) for table, ops in sorted(self.tables.items())
            },
        }
        if self.key_id is not None:
            body["key_id"] = self.key_id
        return body

    def to_json(self) -> str:
        """The compact JSON form the authorizer hands to the handlers in its context."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        try:
            document = json.loads(text)
        except ValueError:
            raise InvalidPolicyError("the policy is not valid JSON") from None
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: Any) -> Policy:
        """Parse and check a policy document; every unknown name is reported by name."""
        if not isinstance(document, dict):
            raise InvalidPolicyError("a policy is a JSON object")
        _only(
            document,
            "policy",
            {"client", "status", "expires_at", "scope", "endpoints", "tables", "key_id"},
        )

        client = document.get("client")
        if not isinstance(client, str) or not client.strip():
            raise InvalidPolicyError("`client` must be a non-empty name")

        endpoints_doc = document.get("endpoints", {})
        if not isinstance(endpoints_doc, dict):
            raise InvalidPolicyError("`endpoints` maps endpoint names to grants")
        endpoints = {name: _endpoint_grant(name, g) for name, g in endpoints_doc.items()}

        key_id = document.get("key_id")
        return cls(
            client=client.strip(),
            scope=_scope(document.get("scope")),
            endpoints=endpoints,
            tables=_table_grants(document.get("tables", {})),
            status=_enum(Status, document.get("status", "active"), "status"),
            expires_at=_expiry(document.get("expires_at")),
            key_id=key_id if isinstance(key_id, str) else None,
        )


def _scope(value: Any) -> Scope:
    if value == "all":
        return Scope.all()
    if not isinstance(value, list):
        raise InvalidPolicyError('`scope` must be a list of client ids or the word "all"')
    try:
        return Scope.of(value)
    except InvalidScopeError as error:
        raise InvalidPolicyError(error.detail) from None


def _endpoint_grant(name: str, document: Any) -> EndpointGrant:
    if name not in ENDPOINTS:
        known = ", ".join(ENDPOINTS)
        raise InvalidPolicyError(
            f"unknown endpoint {name!r} in the policy; the endpoints are: {known}"
        )
    if not isinstance(document, dict):
        raise InvalidPolicyError(f"the grant of {name!r} must be an object")
    _only(document, f"the grant of {name!r}", {"fields", "masks", "max_range_days", "max_rows"})
    spec = ENDPOINTS[name]

    fields_doc = document.get("fields", "all")
    fields: frozenset[str] | None = None
    if fields_doc != "all":
        if not isinstance(fields_doc, list) or not fields_doc:
            raise InvalidPolicyError(f'`fields` of {name!r} must be a non-empty list or "all"')
        for f in fields_doc:
            _known_field(name, f)
        fields = frozenset(fields_doc)

    masks_doc = document.get("masks", {})
    if not isinstance(masks_doc, dict):
        raise InvalidPolicyError(f"`masks` of {name!r} maps field names to a mask")
    masks = {}
    for f, mask_name in masks_doc.items():
        _known_field(name, f)
        if fields is not None and f not in fields:
            raise InvalidPolicyError(f"field {f!r} of {name!r} is masked but not granted")
        mask = _enum(Mask, mask_name, f"the mask of {name}.{f}")
        if mask is Mask.PARTIAL and spec.field(f).type != "varchar":
            raise InvalidPolicyError(
                f"the `partial` mask only applies to text; {name}.{f} is {spec.field(f).type}: "
                "use `redact` or `hash`"
            )
        masks[f] = mask

    return EndpointGrant(
        endpoint=name,
        fields=fields,
        masks=masks,
        max_range_days=_bounded(
            document, "max_range_days", DEFAULT_MAX_RANGE_DAYS, LONGEST_RANGE_DAYS, name
        ),
        max_rows=_bounded(document, "max_rows", DEFAULT_MAX_ROWS, MOST_ROWS, name),
    )


def _known_field(endpoint_name: str, name: Any) -> None:
    spec = ENDPOINTS[endpoint_name]
    if name not in spec.field_names:
        raise InvalidPolicyError(
            f"unknown field {name!r} of {endpoint_name!r} in the policy; "
            f"the fields are: {', '.join(spec.field_names)}"
        )


def _table_grants(document: Any) -> dict[str, frozenset[Operation]]:
    if not isinstance(document, dict):
        raise InvalidPolicyError("`tables` maps table names to lists of operations")
    grants = {}
    for table, operations in document.items():
        if table not in model.TABLES:
            known = ", ".join(model.TABLES)
            raise InvalidPolicyError(
                f"unknown table {table!r} in the policy; the tables are: {known}"
            )
        if not isinstance(operations, list):
            raise InvalidPolicyError(f"the operations of table {table!r} must be a list")
        grants[table] = frozenset(
            _enum(Operation, op, f"an operation on {table!r}") for op in operations
        )
    return grants


def _bounded(document: dict[str, Any], key: str, default: int, most: int, endpoint: str) -> int:
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise InvalidPolicyError(
            f"`{key}` of {endpoint!r} must be a whole number from 1 to {most}; got {value!r}"
        )
    return value


def _expiry(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPolicyError("`expires_at` must be an ISO 8601 date-time or null")
    try:
        return parse_instant("expires_at", value)
    except InvalidRangeError as error:
        raise InvalidPolicyError(error.detail) from None


def _enum(kind: type[E], value: Any, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise InvalidPolicyError(f"{what} is {value!r}; it must be one of: {known}") from None


def _only(document: dict[str, Any], what: str, allowed: set[str]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InvalidPolicyError(
            f"{what} has unknown keys {', '.join(map(repr, unknown))}; "
            f"the keys are: {', '.join(sorted(allowed))}"
        )


def _format_instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"
