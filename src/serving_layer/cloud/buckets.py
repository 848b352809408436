"""Empties the stack's lake and results buckets so that `sam delete` can remove them.

CloudFormation deletes only empty buckets, and the lake is versioned: every object version and
every delete marker must go, not just the current objects. The access-log bucket is kept by the
stack (DeletionPolicy: Retain), so it is left alone here.

`make destroy` runs this, then `sam delete`. It asks for the stack's name first unless `--yes`:

    python -m serving_layer.cloud.buckets --stack serving-layer-dev [--yes]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import boto3

from serving_layer import config
from serving_layer.cloud.stack import StackError, stack_outputs

logger = logging.getLogger(__name__)

# DeleteObjects takes at most 1,000 keys (S3 API reference); a listing page holds as many.
PAGE = 1000


class BucketNotEmptiedError(RuntimeError):
    """S3 refused to delete some object versions."""


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker of `bucket`; answer how many went.

    The listing restarts after each deleted page instead of following a continuation token,
    so versions written meanwhile (a late Athena result) are deleted too.
    """
    deleted = 0
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=PAGE)
        versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if not versions:
            return deleted

        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise BucketNotEmptiedError(
                f"S3 kept {len(errors)} object versions of {bucket}, e.g. {first.get('Key')}: "
                f"{first.get('Code')}; check the bucket's object lock and your permissions"
            )
        deleted += len(objects)
        logger.info("deleted %d object versions from %s", deleted, bucket)


def confirmed(stack_name: str, ask: Callable[[str], str] = input) -> bool:
    """Whether the operator typed the stack's name back (an empty or other answer is a no)."""
    try:
        answer = ask(
            f"This deletes every object of stack {stack_name!r}'s lake and results buckets.\n"
            f"Type the stack name to go on: "
        )
    except EOFError:
        return False
    return answer.strip() == stack_name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving_layer.cloud.buckets", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--stack", help=f"stack name (default: ${config.STACK_NAME.name})")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    logging.basicConfig(level=config.LOG_LEVEL.get(), format="%(levelname)s %(message)s")
    stack_name = config.STACK_NAME.get(args.stack)

    try:
        outputs = stack_outputs(stack_name)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.yes and not confirmed(stack_name):
        print("nothing deleted", file=sys.stderr)
        return 1

    s3 = boto3.client("s3")
    try:
        for bucket in (outputs.LakeBucketName, outputs.ResultsBucketName):
            print(f"{bucket}: {empty_bucket(s3, bucket)} object versions deleted")
    except BucketNotEmptiedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"kept the access-log bucket {outputs.AccessLogBucketName} (delete it by hand if unwanted)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
