"""Who is calling: the client, key id and policy the authorizer put in the request's context.

The authorizer answers API Gateway with `{"client", "key_id", "policy": <compact JSON>}`, which
reaches the handlers as `requestContext.authorizer.lambda`. The handlers parse the policy again
and check it is usable (defence in depth: locally they may be invoked without the gateway), so
a request without that context, or with one that does not parse, is refused with a 401 or 403
and never reaches an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serving_layer.errors import ForbiddenError, InvalidPolicyError, UnauthorizedError
from serving_layer.policy import Policy


@dataclass(frozen=True)
class Caller:
    """The authenticated client of one request and the policy that bounds it."""

    client: str
    key_id: str | None
    policy: Policy


def authorizer_context(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`requestContext.authorizer.lambda` of a payload-2.0 event, if the authorizer set one."""
    request_context = event.get("requestContext")
    if not isinstance(request_context, Mapping):
        return None
    authorizer = request_context.get("authorizer")
    if not isinstance(authorizer, Mapping):
        return None
    context = authorizer.get("lambda")
    return context if isinstance(context, Mapping) else None


def caller_from_event(event: Mapping[str, Any], now: datetime | None = None) -> Caller:
    """The caller of `event`, with a usable policy, or a 401/403 saying what is missing."""
    context = authorizer_context(event)
    if context is None or "policy" not in context:
        raise UnauthorizedError(
            "the request carries no authorized caller; send `Authorization: Bearer <api key>`"
        )

    try:
        policy = _parse(context["policy"])
    except InvalidPolicyError:
        raise ForbiddenError(
            "the policy attached to this API key cannot be read; ask the operator to check "
            "the client's policy"
        ) from None

    client = context.get("client")
    if isinstance(client, str) and client and client != policy.client:
        raise ForbiddenError(
            "the authorized client does not match its policy; ask the operator to check the key"
        )

    usable, reason = policy.is_usable(now)
    if not usable:
        raise ForbiddenError(
            f"this API key's client is {reason}; ask the operator for an active key",
            reason=reason,
        )

    key_id = context.get("key_id")
    return Caller(
        client=policy.client,
        key_id=key_id if isinstance(key_id, str) and key_id else policy.key_id,
        policy=policy,
    )


def _parse(document: Any) -> Policy:
    # The contract is a compact JSON string; a mapping is accepted for hand-made local events.
    if isinstance(document, str):
        return Policy.from_json(document)
    if isinstance(document, Mapping):
        return Policy.from_dict(dict(document))
    raise InvalidPolicyError("the policy in the authorizer context is neither JSON nor an object")
