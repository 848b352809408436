"""The query Lambda's entry: hands each HTTP API event to the query API's router.

Importing this module loads only the router, the policy and the compiler: the engine (and with
it DuckDB or boto3's Athena client) is built at the first query, so cold starts stay short.
"""

from __future__ import annotations

from typing import Any

from serving_layer.query_api import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
