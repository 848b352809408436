"""The deployed stack's outputs: the names every cloud script and the live tests start from.

`template.yaml` declares these outputs; a unit test holds the two lists equal, so a renamed
output fails offline instead of at the first deploy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import boto3

from serving_layer import config

# Identifiers that reach SQL text in the cloud scripts come from these outputs; each is checked
# against the shape AWS gives it before use, so none can carry quotes or spaces.
DATABASE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StackError(RuntimeError):
    """The stack is missing, not finished, or lacks an output the scripts need."""


@dataclass(frozen=True)
class StackOutputs:
    """One field per output of template.yaml, named as the output is."""

    ApiUrl: str
    ClientsTableName: str
    IdempotencyTableName: str
    AuditTableName: str
    LakeBucketName: str
    ResultsBucketName: str
    AccessLogBucketName: str
    AthenaWorkGroupName: str
    GlueDatabaseName: str

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_outputs(cls, stack_name: str, outputs: dict[str, str]) -> StackOutputs:
        missing = [name for name in cls.names() if name not in outputs]
        if missing:
            raise StackError(
                f"stack {stack_name!r} has no output {', '.join(missing)}; "
                "deploy the current template.yaml with `make deploy`"
            )
        found = cls(**{name: outputs[name] for name in cls.names()})
        found.check()
        return found

    def check(self) -> None:
        """Refuse names that could not have come from AWS (they will be quoted into SQL)."""
        if not DATABASE_NAME.match(self.GlueDatabaseName):
            raise StackError(f"unexpected Glue database name {self.GlueDatabaseName!r}")
        for bucket in (self.LakeBucketName, self.ResultsBucketName, self.AccessLogBucketName):
            if not BUCKET_NAME.match(bucket):
                raise StackError(f"unexpected S3 bucket name {bucket!r}")

    @property
    def warehouse(self) -> str:
        """The s3:// prefix under which every Iceberg table has its folder."""
        return f"s3://{self.LakeBucketName}/warehouse"


def stack_outputs(stack_name: str | None = None, cloudformation: Any = None) -> StackOutputs:
    """The outputs of the deployed stack `stack_name` (default: `SERVING_STACK_NAME`)."""
    stack_name = config.STACK_NAME.get(stack_name)
    cloudformation = cloudformation or boto3.client("cloudformation")

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        raise StackError(
            f"cannot read stack {stack_name!r} ({code}); deploy it with `make deploy` and check "
            "the AWS region and credentials"
        ) from None

    stack = stacks[0]
    status = stack.get("StackStatus", "")
    if not status.endswith("_COMPLETE") or status.startswith(("DELETE", "ROLLBACK")):
        raise StackError(f"stack {stack_name!r} is {status}; wait for a finished deploy")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return StackOutputs.from_outputs(stack_name, outputs)


def sam_local_environment(outputs: StackOutputs) -> dict[str, dict[str, str]]:
    """An env file for `sam local start-api --env-vars` that points the functions at the stack.

    The Lambda package has no DuckDB, so `sam local` runs the functions against the deployed
    stack's DynamoDB and Athena with the developer's credentials. The mask and cursor keys are
    made here, fresh: pseudonyms and cursors from such a run differ from the cloud's.
    """
    keys = {
        config.MASK_KEY.name: secrets.token_urlsafe(32),
        config.CURSOR_KEY.name: secrets.token_urlsafe(32),
    }
    athena = {
        config.ENGINE.name: "athena",
        config.ATHENA_WORKGROUP.name: outputs.AthenaWorkGroupName,
        config.NAMESPACE.name: outputs.GlueDatabaseName,
    }
    return {
        "AuthorizerFunction": {
            config.POLICY_STORE.name: "dynamodb",
            config.CLIENTS_TABLE.name: outputs.ClientsTableName,
        },
        "QueryFunction": {**athena, **keys},
        "ManageFunction": {
            **athena,
            **keys,
            config.IDEMPOTENCY_TABLE.name: outputs.IdempotencyTableName,
            config.AUDIT_TABLE.name: outputs.AuditTableName,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving_layer.cloud.stack",
        description="Print the deployed stack's outputs, or write an env file for sam local.",
    )
    parser.add_argument("--stack", help=f"stack name (default: ${config.STACK_NAME.name})")
    parser.add_argument(
        "--env-json", type=Path, help="write a `sam local --env-vars` file here (mode 0600)"
    )
    args = parser.parse_args(argv)

    try:
        outputs = stack_outputs(args.stack)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    if args.env_json is None:
        for name in StackOutputs.names():
            print(f"{name}={getattr(outputs, name)}")
        return 0

    # The file holds signing keys: created readable by its owner only.
    args.env_json.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(args.env_json, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(sam_local_environment(outputs), out, indent=2)
    print(f"wrote {args.env_json}; run: sam local start-api --env-vars {args.env_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
