"""The Lambda authorizer's entry: hand the REQUEST event to `serving_layer.authorizer`.

One `Authorizer` lives as long as the Lambda environment, so its record cache is shared by
every warm invocation; the store client is built on the first call, not at import.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from serving_layer import config
from serving_layer.authorizer import Authorizer

logger = Logger(service="serving-layer-authorizer", level=config.LOG_LEVEL.get())
authorizer = Authorizer(logger=logger)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The request id is the event's own, so a decision can be found from the gateway's log;
    # the event itself is never logged.
    request_context = event.get("requestContext") or {}
    logger.append_keys(request_id=request_context.get("requestId"))
    return authorizer.answer(event)
