"""Every environment variable the project reads, with its default, named once.

Precedence is always: an explicit argument, then the environment, then the default here.
Secrets (the mask and cursor keys) have no usable default in the cloud: the template sets them
from the stack, and local mode generates its own under the ignored data folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default and what it is for."""

    name: str
    default: str
    doc: str

    def get(self, explicit: str | None = None) -> str:
        if explicit is not None:
            return explicit
        return os.environ.get(self.name, self.default)


ENGINE = Setting("SERVING_ENGINE", "athena", "query engine: athena (cloud) or duckdb (local)")
POLICY_STORE = Setting("SERVING_POLICY_STORE", "dynamodb", "policy store: dynamodb or local")
CLIENTS_TABLE = Setting("SERVING_CLIENTS_TABLE", "serving-layer-clients", "DynamoDB table")
DATA_DIR = Setting(
    "SERVING_DATA_DIR", str(PROJECT_ROOT / ".local"), "local stores, keys and idempotency records"
)
WAREHOUSE_DIR = Setting(
    "SERVING_WAREHOUSE_DIR", str(PROJECT_ROOT / "samples" / "lake"), "local Iceberg warehouse"
)
NAMESPACE = Setting("SERVING_NAMESPACE", "lake", "Iceberg namespace, the Glue database in cloud")
ATHENA_WORKGROUP = Setting("SERVING_ATHENA_WORKGROUP", "serving-layer", "Athena workgroup")
ATHENA_CATALOG = Setting("SERVING_ATHENA_CATALOG", "AwsDataCatalog", "Athena data catalog")
RESULT_REUSE_MINUTES = Setting(
    "SERVING_RESULT_REUSE_MINUTES", "15", "Athena result reuse maximum age; 0 disables reuse"
)
QUERY_DEADLINE_SECONDS = Setting(
    "SERVING_QUERY_DEADLINE_SECONDS", "25", "overall query deadline, under the gateway's 30 s"
)
MASK_KEY = Setting("SERVING_MASK_KEY", "", "secret key of the `hash` mask's keyed pseudonym")
CURSOR_KEY = Setting("SERVING_CURSOR_KEY", "", "secret key that signs pagination cursors")
AUTH_CACHE_SECONDS = Setting(
    "SERVING_AUTH_CACHE_SECONDS", "30", "authorizer's in-memory policy cache TTL"
)
LOG_LEVEL = Setting("LOG_LEVEL", "INFO", "log level of every logger")
IDEMPOTENCY_TABLE = Setting(
    "SERVING_IDEMPOTENCY_TABLE",
    "serving-layer-idempotency",
    "DynamoDB table of the manage API's idempotency records",
)
WRITER = Setting(
    "SERVING_WRITER",
    "",
    "manage API writer: athena or local; empty follows SERVING_ENGINE (duckdb means local)",
)
MAX_BATCH_ROWS = Setting("SERVING_MAX_BATCH_ROWS", "10000", "most rows in one insert or upsert")
IDEMPOTENCY_SECONDS = Setting(
    "SERVING_IDEMPOTENCY_SECONDS", "86400", "how long an Idempotency-Key replays its first answer"
)
AUDIT_TABLE = Setting(
    "SERVING_AUDIT_TABLE", "serving-layer-audit", "DynamoDB table of the cloud writes' audit"
)
COMMIT_ATTEMPTS = Setting(
    "SERVING_COMMIT_ATTEMPTS",
    "20",
    "local writer's attempts at one commit when others commit first",
)
STACK_NAME = Setting(
    "SERVING_STACK_NAME", "serving-layer-dev", "deployed stack the cloud scripts and live tests use"
)

ALL = (
    ENGINE,
    POLICY_STORE,
    CLIENTS_TABLE,
    DATA_DIR,
    WAREHOUSE_DIR,
    NAMESPACE,
    ATHENA_WORKGROUP,
    ATHENA_CATALOG,
    RESULT_REUSE_MINUTES,
    QUERY_DEADLINE_SECONDS,
    MASK_KEY,
    CURSOR_KEY,
    AUTH_CACHE_SECONDS,
    LOG_LEVEL,
    IDEMPOTENCY_TABLE,
    WRITER,
    MAX_BATCH_ROWS,
    IDEMPOTENCY_SECONDS,
    AUDIT_TABLE,
    COMMIT_ATTEMPTS,
    STACK_NAME,
)
