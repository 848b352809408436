"""The part of IAM policy evaluation API Gateway applies to a Lambda authorizer's answer.

An authorizer that does not use simple responses answers an IAM policy; the gateway lets a
request through only when some statement allows `execute-api:Invoke` on the request's route ARN
and no statement denies it (an explicit deny wins; no match is a deny). Actions and resources
take `*` (any run of characters, `/` included) and `?` (one character); actions compare without
regard to case, resources exactly. See
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html and
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html.

A statement with a `Condition` cannot be judged without the request context IAM would use, so
it fails closed: its Allow never matches and its Deny always does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from local.template import ACCOUNT_ID, API_ID, REGION, STAGE

INVOKE = "execute-api:Invoke"


class InvalidPolicyDocumentError(ValueError):
    """The authorizer answered a policy API Gateway would refuse."""


def route_arn(
    method: str,
    path: str,
    *,
    region: str = REGION,
    account_id: str = ACCOUNT_ID,
    api_id: str = API_ID,
    stage: str = STAGE,
) -> str:
    """The ARN API Gateway authorizes a request against: the request's method and real path."""
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{method}{path}"


def is_allowed(policy_document: Any, resource: str, action: str = INVOKE) -> bool:
    """Whether `policy_document` allows `action` on `resource`."""
    allowed = False
    for statement in _statements(policy_document):
        if not _applies(statement, action, resource):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def _statements(policy_document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(policy_document, Mapping):
        raise InvalidPolicyDocumentError("`policyDocument` must be an object")
    statements = policy_document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise InvalidPolicyDocumentError("`policyDocument.Statement` must list statements")
    for statement in statements:
        if not isinstance(statement, Mapping):
            raise InvalidPolicyDocumentError("each statement must be an object")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise InvalidPolicyDocumentError("each statement's `Effect` is Allow or Deny")
        if ("Action" in statement) == ("NotAction" in statement):
            raise InvalidPolicyDocumentError("each statement has one of Action or NotAction")
        if ("Resource" in statement) == ("NotResource" in statement):
            raise InvalidPolicyDocumentError("each statement has one of Resource or NotResource")
    return statements


def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "Condition" in statement:
        return statement["Effect"] == "Deny"

    if "Action" in statement:
        action_matches = _any_match(statement["Action"], action, fold_case=True)
    else:
        action_matches = not _any_match(statement["NotAction"], action, fold_case=True)

    if "Resource" in statement:
        resource_matches = _any_match(statement["Resource"], resource, fold_case=False)
    else:
        resource_matches = not _any_match(statement["NotResource"], resource, fold_case=False)

    return action_matches and resource_matches


def _any_match(patterns: Any, value: str, *, fold_case: bool) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise InvalidPolicyDocumentError("actions and resources are strings or lists of strings")
    return any(_pattern(p, fold_case).fullmatch(value) for p in patterns)


@lru_cache(maxsize=4096)
def _pattern(pattern: str, fold_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if fold_case else re.DOTALL)
