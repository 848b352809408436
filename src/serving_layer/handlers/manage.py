"""The manage Lambda's entry: hands each HTTP API event to the manage API's router.

Importing this module loads only the router, the policy and the data model: the writer (with
pyiceberg locally, or boto3's Athena client in the cloud) is built at the first write.
"""

from __future__ import annotations

from typing import Any

from serving_layer.manage_api import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
