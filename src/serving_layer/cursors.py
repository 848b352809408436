"""Pagination cursors: the engine's page token, signed and bound to who asked what.

An engine's page token (an offset for DuckDB, Athena's `NextToken` with its execution id) must
not be forged or replayed elsewhere, so the API never hands it out bare. A cursor is

    base64url(JSON {"v", "holder", "endpoint", "query", "page"}) "." base64url(HMAC-SHA256)

signed with `SERVING_CURSOR_KEY`. `holder` is the API key id (or the client name when the key
has no id), `query` a digest of the compiled SQL, its parameters and the page size, so a cursor
only continues the very query that issued it, for the very key that asked: a changed byte,
another key, another endpoint or other parameters are each refused with a 400 saying so.

NOTE: the payload is signed, not encrypted: a client can read its own page token (an offset, or
an Athena execution id). Nothing in it is secret; encrypting it would lift this if that changes.
NOTE: cursors do not expire; an Athena token stops working when Athena forgets the execution,
and then the engine's error asks the client to start again.
NOTE: a cursor does not pin the Iceberg snapshot. On DuckDB a later page re-runs the query with
an offset, so a write between two pages can shift rows across the page boundary; Athena reads
on from one execution and is not affected. Binding the snapshot ids into the digest (and
reading at them) would lift this.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from serving_layer.compiler import CompiledQuery
from serving_layer.errors import BadRequestError

CURSOR_VERSION = 1
LONGEST_CURSOR = 4096


class InvalidCursorError(BadRequestError):
    slug = "invalid-cursor"
    title = "Invalid cursor"


@dataclass(frozen=True)
class CursorBinding:
    """What a cursor is valid for: the key holding it, the endpoint, and the query's digest."""

    holder: str
    endpoint: str
    query: str


def query_digest(query: CompiledQuery, page_size: int) -> str:
    """A digest of everything that decides which rows a page holds."""
    text = json.dumps([query.sql, [_param(p) for p in query.params], page_size])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def issue(binding: CursorBinding, page: str, key: bytes) -> str:
    """The signed cursor that continues `binding`'s query at the engine's `page` token."""
    payload = {
        "v": CURSOR_VERSION,
        "holder": binding.holder,
        "endpoint": binding.endpoint,
        "query": binding.query,
        "page": page,
    }
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(_sign(body, key))}"


def page_token(cursor: str, binding: CursorBinding, key: bytes) -> str:
    """The engine's page token inside `cursor`, once its signature and binding check out."""
    payload = _verified(cursor, key)

    if payload.get("holder") != binding.holder:
        raise InvalidCursorError(
            "the cursor was issued to another API key; page with the cursors your own key "
            "receives, or start again without `cursor`"
        )
    if payload.get("endpoint") != binding.endpoint:
        raise InvalidCursorError(
            f"the cursor pages endpoint {payload.get('endpoint')!r}, not {binding.endpoint!r}; "
            "send it to the endpoint that returned it"
        )
    if payload.get("query") != binding.query:
        raise InvalidCursorError(
            "the cursor was made for other parameters; send it with the same `start`, `end`, "
            "`fields` and `limit` as the request that returned it"
        )

    page = payload.get("page")
    if not isinstance(page, str):
        raise _unreadable()
    return page


def _verified(cursor: str, key: bytes) -> dict[str, Any]:
    if len(cursor) > LONGEST_CURSOR or cursor.count(".") != 1:
        raise _unreadable()
    body_text, signature_text = cursor.split(".")
    try:
        body, signature = _unb64(body_text), _unb64(signature_text)
    except (binascii.Error, ValueError):
        raise _unreadable() from None

    # Compare in constant time, and before reading anything the client wrote.
    if not hmac.compare_digest(signature, _sign(body, key)):
        raise _unreadable()
    payload = json.loads(body)
    if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION:
        raise _unreadable()
    return payload


def _unreadable() -> InvalidCursorError:
    return InvalidCursorError(
        "the cursor is not one this API issued, or it was changed or cut; send `cursor` exactly "
        "as `next_cursor` returned it, or start again without it"
    )


def _sign(body: bytes, key: bytes) -> bytes:
    return hmac.new(key, b"cursor\x1f" + body, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _param(value: Any) -> Any:
    # Parameters are ints and naive UTC datetimes; their text is stable across processes.
    return value if isinstance(value, int | str) else repr(value)
