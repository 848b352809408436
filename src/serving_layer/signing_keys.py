"""The API's signing secrets (the mask key, the cursor key), read from configuration.

Both keys fail closed: when one is missing or too short, the request that needs it is refused
with a 503 instead of masking with a guessable key or handing out unsigned cursors. The cloud
stack sets them from its own secrets; the local runtime generates its own and passes them in the
environment.
"""

from __future__ import annotations

from serving_layer import config
from serving_layer.errors import ServingError

SHORTEST_SECRET = 16


class SecretMissingError(ServingError):
    """A signing secret the request needs is not configured."""

    status = 503
    slug = "not-configured"
    title = "The service is not configured"


def secret(setting: config.Setting, explicit: str | None = None) -> bytes:
    """The secret of `setting` as bytes, or a `SecretMissingError` when unusable."""
    value = setting.get(explicit)
    if len(value) < SHORTEST_SECRET:
        raise SecretMissingError(
            f"{setting.name} must be set to a secret of at least {SHORTEST_SECRET} characters"
        )
    return value.encode()
